"""Question grammar: whether a learner's sentence is a question, and whether it is open or
closed, from its form alone.

Sentences (:func:`simulator.core.text.split_sentences`): each line is split after ``.``, ``!``, ``?`` or
``…`` (closing quotes and brackets stay with the sentence) followed by white space,
except after an abbreviation such as *Mr.* or *e.g.*; "$65.00" is never split.

Questions (:func:`classify_question`): a sentence is looked at clause by clause
(clauses split at ``,`` ``;`` ``:`` and dashes); leading fillers (*so, okay, right,
well, and, but, now, also, just, please, sorry, thanks, first* ...) are skipped in each
clause. A clause's *lead* is decided by its first words:

1. an open prompt, bare or after "can/could/would/will you (please)": *tell me
   about/more/a bit/everything*, *describe*, *explain*, *walk/talk/take me through*,
   *help me understand* → open;
2. a softener frame — "can/could/would/will you (please) tell me / let me know",
   "do/did you know/remember/recall", "would/do you mind telling me", "may/can I ask",
   "I'd like to know", "I was wondering", "any idea" — followed by a wh-word → open
   ("Can you tell me what happened?"), followed by *if/whether* → closed; otherwise the
   clause is judged from its first word as below ("Can you tell me your account
   number?" → closed);
3. *how about / what about / what if* (a proposal) → closed;
4. a wh-word (*what, how, why, which, where, when, who, whom, whose*, and *what's* ...)
   → open (form, not intent: "What's your account number?" is open);
5. an auxiliary (*is, are, am, was, were, do, does, did, can, could, would, will, have,
   has, had, should, shall, may, might, must* and their *n't* forms) → closed.

A sentence ending in ``?`` is a question. Its kind is decided by the last clause that
has a lead ("When the promotion ended, did you get an email?" → closed; "I can see the
bill went up, so what happened?" → open), except that an either-or choice (a last clause
with no lead that contains *or*: "Which would you prefer, the credit or the new
plan?") and a tag ("..., right?", "..., didn't you?") are closed. A question with no
lead at all ("So it went from $65 to $110?", "Anything else?") is closed.

A sentence not ending in ``?`` is a question only when a clause has a strict lead: an
open prompt (rule 1) or a softener frame followed by a wh-word or *if/whether*; a
wh-word followed by an auxiliary or *happened* ("What is your email", not "What I can
do is ..."); *what's/how's/...*; or an auxiliary followed by a subject (*you, I, we, it,
that, this, there, he, she, they, your, my, our, the, anyone, anything ...*: "Can you
confirm your email", not "Will do" or "Have a good day"). "Can/may I (just) say" is
not a question.
"""

from __future__ import annotations

import re

_WH = {"what", "how", "why", "which", "where", "when", "who", "whom", "whose"}
_WH_CONTRACTED = {"what's", "how's", "where's", "who's", "when's", "why's", "whats", "hows", "wheres",
                  "whos", "what're", "who're", "how're", "where're", "what'd", "how'd", "where'd", "who'd",
                  "why'd", "what'll", "who'll", "how'll"}
_AUX = {"is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "would", "will", "have", "has",
        "had", "should", "shall", "may", "might", "must", "isn't", "aren't", "wasn't", "weren't", "don't",
        "doesn't", "didn't", "can't", "cannot", "couldn't", "wouldn't", "won't", "haven't", "hasn't", "hadn't",
        "shouldn't", "mightn't", "mustn't", "shan't", "ain't"}
_SUBJECTS = {"you", "i", "we", "it", "that", "this", "there", "he", "she", "they", "your", "my", "our", "the",
             "these", "those", "anyone", "anything", "anybody", "everything", "everyone", "someone",
             "something", "somebody", "any", "u", "ya", "y'all"}
_FILLERS = {"so", "ok", "okay", "alright", "right", "well", "and", "but", "now", "also", "great", "sure",
            "thanks", "please", "just", "then", "oh", "hmm", "um", "uh", "ah", "perfect", "lastly", "finally",
            "actually", "first", "firstly", "next", "yes", "yeah", "no", "hi", "hello", "hey", "sorry", "cool",
            "understood", "gotcha", "quickly", "briefly", "honestly", "besides", "anyway"}
_FILLER_PHRASES = [("thank", "you"), ("all", "right"), ("first", "of", "all"), ("i", "see"), ("got", "it"),
                   ("in", "that", "case"), ("to", "start"), ("one", "more", "thing"), ("just", "to", "check"),
                   ("just", "so", "i", "understand")]
_MODAL_YOU = {"can", "could", "would", "will"}
_OPEN_AFTER_TELL = {"about", "more", "everything", "all", "a"}  # "a bit", "a little"
_OPEN_VERBS = {"describe", "explain"}
_THROUGH_VERBS = {"walk", "talk", "take", "run"}
_CLAUSE_SPLIT = re.compile(r"\s*(?:[,;:]|\s[-–—]+\s|[–—])\s*")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


def tokenise(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("’", "'").replace("‘", "'"))


def strip_fillers(tokens: list[str]) -> list[str]:
    i = 0
    while i < len(tokens):
        for phrase in _FILLER_PHRASES:
            if tuple(tokens[i:i + len(phrase)]) == phrase:
                i += len(phrase)
                break
        else:
            if tokens[i] in _FILLERS:
                i += 1
            else:
                break
    return tokens[i:]


def _after_modal_you(t: list[str]) -> list[str]:
    """Drop a leading "can/could/would/will you (please)" or "please"."""
    if len(t) >= 2 and t[0] in _MODAL_YOU and t[1] == "you":
        t = t[2:]
    if t[:1] == ["please"]:
        t = t[1:]
    return t


def _open_prompt(t: list[str]) -> bool:
    """Rule 1: tell me about / describe / walk me through / help me understand ..."""
    t = _after_modal_you(t)
    if len(t) >= 3 and t[0] == "tell" and t[1] in ("me", "us") and t[2] in _OPEN_AFTER_TELL:
        return t[2] != "a" or t[3:4] in (["bit"], ["little"])
    if t[:1] and t[0] in _OPEN_VERBS:
        return True
    if len(t) >= 3 and t[0] in _THROUGH_VERBS and t[1] in ("me", "us") and t[2] == "through":
        return True
    return t[:3] == ["help", "me", "understand"]


def _frame_rest(t: list[str]) -> list[str] | None:
    """Rule 2: what follows a softener frame, or None when the clause has no frame."""
    frames = [
        ("can", "you", "please", "tell", "me"), ("could", "you", "please", "tell", "me"),
        ("would", "you", "please", "tell", "me"), ("can", "you", "tell", "me"), ("could", "you", "tell", "me"),
        ("would", "you", "tell", "me"), ("will", "you", "tell", "me"),
        ("can", "you", "let", "me", "know"), ("could", "you", "let", "me", "know"),
        ("would", "you", "let", "me", "know"), ("can", "you", "please", "let", "me", "know"),
        ("could", "you", "please", "let", "me", "know"), ("please", "tell", "me"), ("tell", "me"),
        ("do", "you", "happen", "to", "know"), ("do", "you", "know"), ("do", "you", "remember"),
        ("do", "you", "recall"), ("did", "you", "know"), ("can", "you", "remember"),
        ("would", "you", "mind", "telling", "me"), ("do", "you", "mind", "telling", "me"),
        ("would", "you", "mind", "sharing"), ("would", "you", "mind", "explaining"),
        ("may", "i", "ask"), ("can", "i", "ask"), ("could", "i", "ask"), ("might", "i", "ask"),
        ("i'd", "like", "to", "know"), ("i", "would", "like", "to", "know"), ("i'd", "like", "to", "understand"),
        ("i", "want", "to", "know"), ("i'd", "love", "to", "know"), ("i", "was", "wondering"),
        ("i'm", "wondering"), ("i", "wonder"), ("wondering",), ("any", "idea"),
        ("do", "you", "have", "any", "idea"), ("have", "you", "any", "idea"), ("have", "you", "got", "any", "idea"),
    ]
    for frame in frames:
        if tuple(t[:len(frame)]) == frame:
            rest = t[len(frame):]
            if rest[:1] == ["you"] and frame[-1] == "ask":  # "may I ask you ..."
                rest = rest[1:]
            return rest
    return None


def _lead(clause: str, strict: bool) -> str | None:
    """The kind a clause's first words give it ("open"/"closed"), or None (rules in the docstring)."""
    t = strip_fillers(tokenise(clause))
    if not t:
        return None
    if _open_prompt(t):
        return "open"
    rest = _frame_rest(t)
    if rest is not None and rest:
        if rest[0] in _WH or rest[0] in _WH_CONTRACTED:
            return "open"
        if rest[0] in ("if", "whether"):
            return "closed"
    first, second = t[0], (t[1] if len(t) > 1 else "")
    if (first, second) in (("how", "about"), ("what", "about"), ("what", "if")):
        return "closed"
    if first in _WH_CONTRACTED:
        return None if (first == "what's" and second == "more") else "open"
    if first in _WH:
        if (first, second) == ("which", "is") and t[2:3] == ["why"]:
            return None
        if not strict:
            return "open"
        return "open" if second in _AUX or second in ("happened", "happens") else None
    if first in _AUX:
        if not strict:
            return "closed"
        if first in ("can", "may", "could") and second == "i" and "say" in t[2:4]:
            return None  # "Can I just say ..."
        return "closed" if second in _SUBJECTS else None
    return None


def _clauses(sentence: str) -> list[str]:
    return [c for c in _CLAUSE_SPLIT.split(sentence) if c.strip()]


def classify_question(sentence: str) -> str | None:
    """"open", "closed", or None when ``sentence`` is not a question (rules in the module docstring)."""
    text = (sentence or "").strip()
    ending = text.rstrip("\"'”’)] ")
    run = re.search(r"[.!?…]+$", ending)
    asks = bool(run and "?" in run.group(0))
    clauses = _clauses(ending.rstrip(".!?… "))
    if not clauses:
        return "closed" if asks else None
    if not asks:
        for clause in reversed(clauses):
            kind = _lead(clause, strict=True)
            if kind:
                return kind
        return None
    last = clauses[-1]
    last_lead = _lead(last, strict=False)
    if last_lead is None and len(clauses) > 1 and "or" in tokenise(last):
        return "closed"  # either-or: "Which would you prefer, the credit or the new plan?"
    if len(clauses) > 1 and re.fullmatch(r"\s*(right|correct|yes|no|yeah|ok|okay|true|is that (right|correct)|"
                                         r"am i right|isn't it|aren't you|didn't you|don't you|wasn't it)\s*",
                                         last.lower()):
        return "closed"  # tag question
    for clause in reversed(clauses):
        kind = _lead(clause, strict=False)
        if kind:
            return kind
    return "closed"
