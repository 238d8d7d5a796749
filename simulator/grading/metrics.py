"""Measured evaluation: numbers taken from a saved session, without a model.

:func:`measure` reads a :class:`~simulator.practice.sessions.SessionRecord` alone (its turns and
its persona and rubric snapshots) and returns :class:`Measurements`. The same record
always gives the same result. Hint turns are ignored everywhere: they are neither
learner nor customer turns. "Turn" in the results means :attr:`Turn.index`.

What the snapshots are read for (every key is optional): persona ``name``, ``jargon``,
``hidden[].fact`` and ``frustration.start``; rubric ``jargon`` and ``criteria[].id``.

Measures, and the rubric criterion each one informs (:data:`INFORMS`; when the rubric
snapshot lists criteria, ``Measurements.informs`` keeps only the ids it has):

* time-management — ``response_times_s`` (each learner turn's ``response_time_s``, in
  order, ``None`` where it was not recorded), ``median_response_time_s``,
  ``slowest_response_time_s``, ``turns_to_resolution`` (learner turns up to and including
  the one the customer answered with outcome ``resolved``; ``None`` when the session was
  not resolved), ``duration_s`` (``started_at`` to ``ended_at``, or to the last turn's
  time while the session is open), ``learner_turns``.
* active-listening — ``talk_ratio`` = ``learner_words`` / ``customer_words`` (``None``
  when the customer said nothing). A word is a run of letters/digits, apostrophes inside
  (``don't`` is one word, ``$65`` is one).
* questioning — ``questions``, ``open_questions``, ``closed_questions`` (counts) and
  ``question_log`` (turn, sentence, kind); rules below.
* questioning and active-listening — ``repeated_questions``; rules below.
* clear-communication — ``reading_ease``: Flesch reading ease of all the learner's
  messages (:func:`simulator.core.text.reading_ease`; None under ten words), and
  ``hardest_to_read``: the learner message of ten words or more with the lowest.
* empathy and positive-attitude — ``apologies`` (total), ``apology_turns`` (per learner
  turn that apologised) and ``over_apologising`` (``apologies > max(2, 0.3 x
  learner_turns)``). An apology is each match of *sorry*, *apologise/apologize* (any
  ending), *apology/apologies* (so *my apologies* is one) or *I/we regret*. A "Sorry?"
  asking the customer to repeat counts too: the count is of the words, not the intent.
* clear-communication — ``jargon_used``: each learner turn's words from the rubric's
  and the persona's jargon lists, matched as whole words, case-insensitively, by
  :func:`simulator.core.text.jargon_in` (the same rule that raises the customer's
  frustration).
* empathy — ``customer_name_used`` (bool) and ``customer_name_turns``: the learner
  wrote the customer's first or last name (any part of ``persona.name`` except titles
  such as *Mrs*), case-insensitive, as a whole word: "Dana" and "Dana's" count,
  "Danae" and "Adana" do not. Using the name is a personal acknowledgement, so it is
  counted for empathy.
* empathy and positive-attitude — ``frustration_path``: the start level (the opening
  customer turn's state, else ``persona.frustration.start``), then the level after each
  customer reply that carries a state.
* questioning and empathy — ``hidden_revealed``: each hidden fact revealed (persona
  index, fact text from the snapshot, the customer turn whose state first listed it);
  personas reveal them when the agent asks the right thing or acknowledges a feeling.
* problem-solving — ``outcome`` (the record's, else the last customer state's).
* no criterion — ``grader_manipulation_flags``: learner text addressed to the grader or
  the model rather than the customer (turn and matched text). It is an integrity flag
  for whoever reads the evaluation, not a skill.

Sentences (:func:`split_sentences`): each line is split after ``.``, ``!``, ``?`` or
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

A try-again from a turn of an earlier session (``branched_from``) is measured from that turn
on: the turns before it are the earlier attempt's, kept as context (what the customer had
already given, questions already asked, hidden facts already earned, the frustration the
new part starts from).

Repeated questions (``repeated_questions``): each learner question — and each request
for information such as "I'll need your account number" or "Please confirm your
email" — is checked against a small vocabulary of information types: account number,
order/reference number, email, phone, address, name, date and amount (:data:`INFO_TYPES`:
a pattern for asking for it, a pattern for its value). It is flagged ``already_given``
when an earlier customer turn contains a value of that type: an email address, a money
amount ($, £, €, or "... dollars"), a date (a month name with a day or year, 3/14/2026,
2026-03-14, "the 3rd"), a street address ("12 Oak Street"), the customer's own name (a
part of ``persona.name`` or "my name is ..."), and — for account, order and phone
numbers, which look alike — a number of at least 5 (order: 4, phone: 7) digits in a
sentence that names the type ("my account number is 44-1029") or in the answer to a
learner turn that asked for it ("It's 44-1029."). A question that itself contains such
a value is a read-back for confirmation ("Is your account number 44-1029?") and is
flagged neither for that type nor as asked before. "When did it start?" is not treated
as asking for a date, and "Did you get the email?" is not asking for an email address.
A question is flagged ``asked_before`` when an earlier learner question is the same
after lowercasing and dropping punctuation and leading fillers, or when both have at
least two content-word stems (:func:`simulator.core.text.stems` after dropping
contractions, minus fillers and generic asking verbs such as *give, tell, confirm,
need*) and their Jaccard overlap is at least 0.75. One entry per flagged
sentence, with all its reasons.

Grader manipulation (:data:`MANIPULATION_PATTERNS`): learner text meant for the grader
or the model, not the customer: "ignore/disregard/forget (all/previous/prior/your ...)
instructions"; "give me/this 5/5, full marks, a perfect score, an A+"; "rate/score/grade
me/this 5 (not "5 minutes"), full marks, highly"; "score/grade/evaluate this
conversation" (and "rate this chat 5", not a bare "rate this chat"); "as the
evaluator/grader/AI"; "system prompt"; "you are now an AI/the
grader/in ... mode/playing ..." (not "you are now on the loyalty price"); "new
instructions:"; "note to the AI/grader"; the words *grader*, *evaluator*, *rubric*;
"pass me" (not "pass me your ..." or "I'll pass you to billing"); "the agent
deserves ..."; "stop the role-play", "break character"; prompt tags such as
``</transcript>``, in ASCII or in look-alike brackets (``＜/transcript＞``, ``‹…›``,
``⟨…⟩``, ``〈…〉``, ``﹤…﹥``); a forged transcript label: ``[4] CUSTOMER:`` (any word)
anywhere in the turn, or a speaker's label (customer, system, assistant, user, grader, ...;
*agent* too after a line break) starting a line of it; "developer mode", "jailbreak". The
patterns are matched on the turn as a reader sees it (:func:`simulator.core.text.fold_lookalikes`:
full-width, mathematical and hidden characters folded to ASCII). Each flag is one learner turn
and the matched text as written (overlapping matches merged).
"""

from __future__ import annotations

import copy
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ..core.text import SPEAKER_WORDS, fold_lookalikes, jargon_in, reading_ease, split_sentences, stems
from ..practice.sessions import SessionRecord, Turn

__all__ = [
    "INFORMS", "INFO_TYPES", "MANIPULATION_PATTERNS", "Measurements", "classify_question",
    "is_question", "measure", "split_sentences", "summary_lines",
]

INFORMS: dict[str, list[str]] = {
    "response_times_s": ["time-management"],
    "median_response_time_s": ["time-management"],
    "slowest_response_time_s": ["time-management"],
    "turns_to_resolution": ["time-management"],
    "duration_s": ["time-management"],
    "learner_turns": ["time-management"],
    "talk_ratio": ["active-listening"],
    "learner_words": ["active-listening"],
    "customer_words": ["active-listening"],
    "questions": ["questioning"],
    "open_questions": ["questioning"],
    "closed_questions": ["questioning"],
    "question_log": ["questioning"],
    "repeated_questions": ["questioning", "active-listening"],
    "apologies": ["empathy", "positive-attitude"],
    "apology_turns": ["empathy", "positive-attitude"],
    "over_apologising": ["empathy", "positive-attitude"],
    "jargon_used": ["clear-communication"],
    "reading_ease": ["clear-communication"],
    "hardest_to_read": ["clear-communication"],
    "customer_name_used": ["empathy"],
    "customer_name_turns": ["empathy"],
    "frustration_path": ["empathy", "positive-attitude"],
    "hidden_revealed": ["questioning", "empathy"],
    "outcome": ["problem-solving"],
    "grader_manipulation_flags": [],
}

# -- questions -------------------------------------------------------------------------------

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


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("’", "'").replace("‘", "'"))


def _strip_fillers(tokens: list[str]) -> list[str]:
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
    t = _strip_fillers(_tokens(clause))
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


def is_question(sentence: str) -> bool:
    return classify_question(sentence) is not None


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
    if last_lead is None and len(clauses) > 1 and "or" in _tokens(last):
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


# -- repeated questions ---------------------------------------------------------------------

def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _id_values(min_digits: int) -> Callable[[str], bool]:
    pattern = re.compile(r"(?<![$£€\d.,])#?\b[A-Za-z]{0,4}[-#]?\d(?:[- ]?\d)*[A-Za-z0-9]*\b(?![.,]\d)")

    def found(text: str) -> bool:
        return any(_digits(m.group(0)) >= min_digits for m in pattern.finditer(text))
    return found


_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE = re.compile(
    rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\b|"
    rf"\b{_MONTHS}\s+\d{{4}}\b|\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b|"
    r"\bthe\s+\d{1,2}(?:st|nd|rd|th)\b", re.IGNORECASE)
_AMOUNT = re.compile(r"[$£€]\s?\d[\d,]*(?:\.\d+)?|"
                     r"\b\d[\d,]*(?:\.\d+)?\s?(?:dollars|bucks|pounds|euros|usd|gbp|eur)\b", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_STREET = re.compile(r"\b\d{1,5}\s+(?:[A-Za-z]+\s+){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|way|close|"
                     r"court|ct|boulevard|blvd|place|pl|terrace|crescent)\b", re.IGNORECASE)
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")


@dataclass(frozen=True)
class InfoType:
    """A kind of information a customer gives once: how it is asked for, how its value looks."""

    name: str
    ask: re.Pattern[str]
    value: Callable[[str, list[str]], bool]  # (sentence, customer name parts) -> contains a value
    keyword: re.Pattern[str] | None = None  # the value counts only near this word, or after being asked


def _name_value(text: str, names: list[str]) -> bool:
    return bool(re.search(r"\bmy name(?:'s| is)\s+\w", text, re.IGNORECASE)) or any(
        _name_pattern(n).search(text) for n in names)


INFO_TYPES: list[InfoType] = [
    InfoType("account_number",
             re.compile(r"\b(?:account|acct|customer|membership|member)\s*(?:number|no\.?|num|#|id)\b", re.I),
             lambda s, _n: _id_values(5)(s),
             re.compile(r"\b(?:account|acct|a/c|customer (?:number|id)|member(?:ship)? (?:number|id))\b", re.I)),
    InfoType("order_number",
             re.compile(r"\b(?:order|reference|ref|tracking|confirmation|booking|case|ticket|invoice|parcel)\s*"
                        r"(?:number|no\.?|num|#|id|code)\b", re.I),
             lambda s, _n: _id_values(4)(s),
             re.compile(r"\b(?:order|reference|ref|tracking|confirmation|booking|case|ticket|invoice|parcel|"
                        r"package)\b", re.I)),
    InfoType("email",
             re.compile(r"\be-?mail address\b|\b(?:what|which)(?:'s| is)?\s+(?:your|the)\s+(?:best\s+|current\s+|"
                        r"new\s+)?e-?mail\b|\b(?:give|tell|confirm|provide|share|spell|read)\s+(?:me\s+|us\s+)?"
                        r"(?:your|the)\s+(?:best\s+|current\s+|new\s+)?e-?mail\b|\byour e-?mail\s*\?", re.I),
             lambda s, _n: bool(_EMAIL.search(s))),
    InfoType("phone",
             re.compile(r"\b(?:phone|mobile|cell|telephone|contact|landline)\s*(?:number|no\.?|#)\b|"
                        r"\bnumber (?:to|we can|i can) (?:call|reach|text)\b|\bbest number\b", re.I),
             lambda s, _n: any(_digits(m.group(0)) >= 7 for m in _PHONE.finditer(s)),
             re.compile(r"\b(?:phone|mobile|cell|landline|telephone|call|text|reach)\b", re.I)),
    InfoType("address",
             re.compile(r"\b(?:your|the|postal|home|billing|shipping|delivery|mailing|street)\s+address\b|"
                        r"\bwhere do you live\b", re.I),
             lambda s, _n: bool(_STREET.search(s))),
    InfoType("name",
             re.compile(r"\byour (?:full |first |last |sur)?name\b|\bname on the account\b|"
                        r"\baccount holder'?s? name\b|\b(?:full|first|last) name\b|\bsurname\b|"
                        r"\bwho am i (?:speaking|talking) (?:to|with)\b", re.I),
             _name_value),
    InfoType("date",
             re.compile(r"\b(?:what|which)\s+(?:date|day)\b|\b(?:the|a|that)\s+date\b|\bdate (?:of|when|on which)\b",
                        re.I),
             lambda s, _n: bool(_DATE.search(s))),
    InfoType("amount",
             re.compile(r"\bhow much\b(?!\s+(?:data|time|longer|speed|storage|usage|bandwidth|space|notice|"
                        r"more time)\b)|\b(?:the|what|which|that)\s+(?:amount|total|figure)\b|"
                        r"\bwhat (?:were|was) you (?:charged|billed)\b|\bwhat did you (?:use to )?pay\b|"
                        r"\bwhat (?:was|is) (?:your|the) (?:bill|charge|price)\b", re.I),
             lambda s, _n: bool(_AMOUNT.search(s))),
]

_REQUEST = re.compile(r"\bi(?:'ll| will|'d| would)?\s+(?:just\s+)?need\b|\b(?:give|provide|confirm|tell|share|spell|"
                      r"read out)\s+(?:me\s+|us\s+)?(?:your|the)\b|\blet me have\b|\bcan i (?:take|get|have)\b",
                      re.IGNORECASE)
_GENERIC_STEMS = {"give", "tell", "confi", "let", "pleas", "need", "get", "check", "just", "mind", "like", "want",
                  "know", "quick", "also", "again", "sure", "provi", "share", "ask", "okay", "sorry", "thank",
                  "great", "perfe", "alrig", "right", "well", "now", "then"}


def _questionstems(text: str) -> set[str]:
    text = re.sub(r"n['’]t\b", "", text.lower())  # "don't" -> "do", a stop word
    text = re.sub(r"['’](?:s|re|ve|ll|d|m)\b", "", text)  # "what's" -> "what"
    return stems(text) - _GENERIC_STEMS


def _normalised(text: str) -> str:
    return " ".join(_strip_fillers(_tokens(text)))


def _asked(info: InfoType, sentence: str) -> bool:
    return bool(info.ask.search(sentence))


def _given_in(info: InfoType, text: str, names: list[str], asked_just_before: bool) -> bool:
    for sentence in split_sentences(text):
        if info.value(sentence, names) and (info.keyword is None or asked_just_before
                                            or info.keyword.search(sentence)):
            return True
    return False


# -- grader manipulation ----------------------------------------------------------------------

_SCORE = (r"(?:\d+(?:\.\d+)?\s*(?:/|out\s+of)\s*\d+|full\s+marks|top\s+marks|(?:a\s+)?perfect\s+score|"
          r"(?:the\s+)?max(?:imum)?\s+(?:score|marks|points)|the\s+highest\s+(?:score|mark|grade)|a\s+pass(?:ing)?\b|"
          r"an?\s+a\+?(?!\w))")
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what starts a new line of a turn
MANIPULATION_PATTERNS: list[re.Pattern[str]] = [re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:ignore|disregard|forget|override)\s+(?:the\s+)?(?:all|any|previous|prior|above|earlier|preceding|your|"
    r"system|original|my)\s+(?:\w+\s+){0,2}?(?:instructions?|rules|prompts?|guidelines)\b",
    rf"\b(?:give|award|grant|assign)\s+(?:me|this|us|the\s+(?:agent|learner|trainee)|this\s+"
    rf"(?:conversation|session|chat|transcript|agent))\s+{_SCORE}",
    rf"\b(?:rate|score|grade|mark)\s+(?:me|this|us|the\s+(?:agent|learner|trainee)|my\s+(?:performance|answers?|"
    rf"responses?|replies))\s+(?:as\s+|at\s+|with\s+|a\s+)?(?:{_SCORE}|\d+(?:\.\d+)?(?!\s*(?:minutes?|mins?|"
    rf"seconds?|secs?|hours?|days?))\b|highly|excellent|perfect)",
    r"\b(?:score|grade|evaluate)\s+(?:this|the)\s+(?:conversation|transcript|session|chat)\b",
    rf"\brate\s+(?:this|the)\s+(?:conversation|transcript|session|chat)\s+(?:as\s+|a\s+)?(?:{_SCORE}|\d+\b|"
    rf"highly|excellent|perfect)",
    r"\bas\s+(?:the|an|a|my)\s+(?:evaluator|grader|judge|ai|language\s+model|llm)\b",
    r"\bsystem\s+prompt\b",
    r"\byou\s+are\s+now\s+(?:an?\s+|the\s+|my\s+)?(?:ai|assistant|chatbot|grader|evaluator|judge|dan|"
    r"unrestricted|jailbroken|in\s+\w+\s+mode|playing|acting|going\s+to\s+(?:act|play|grade|rate|score))\b",
    r"\b(?:your|these|the\s+following)\s+new\s+instructions\b|\bnew\s+instructions\s*:",
    r"\bnote\s+to\s+(?:the\s+)?(?:ai|grader|evaluator|model|reviewer|llm)\b",
    r"\b(?:grader|evaluator|rubric)s?\b",
    r"\bpass\s+me\b(?!\s+(?:your|the|a|an|that|those|these|some|any|over|along|through|to|back|on)\b)",
    r"\b(?:this|the)\s+(?:agent|learner|trainee)\s+(?:deserves|should\s+(?:get|receive|be\s+given|pass)|passed|"
    r"passes)\b",
    r"\b(?:stop|quit|end|exit)\s+(?:the\s+)?role-?play(?:ing)?\b|\bbreak\s+character\b|\bout\s+of\s+character\b",
    r"</?\s*(?:system|transcript|conversation|latest_agent_message|instructions?|assistant|user)\s*>",
    r"\b(?:developer|debug|god)\s+mode\b|\bjailbreak\b",
    # a forged transcript line: "[4] CUSTOMER:" anywhere; another speaker's label starting the turn
    # or any line of it (the agent's own label only after a line break)
    rf"\[\s*\d+\s*\]\s*(?:{'|'.join(SPEAKER_WORDS)})\s*:",
    rf"(?:^|(?<=[{_BREAKS}]))[ \t]*(?:{'|'.join(w for w in SPEAKER_WORDS if w != 'agent')})\s*:",
    rf"(?<=[{_BREAKS}])[ \t]*agent\s*:",
)]


def _manipulation(text: str) -> list[str]:
    seen, where = fold_lookalikes(text)  # matched as a reader sees it, quoted as written
    spans: list[tuple[int, int]] = []
    for pattern in MANIPULATION_PATTERNS:
        for m in pattern.finditer(seen):
            if m.end() > m.start():
                spans.append((where[m.start()], where[m.end() - 1] + 1))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [text[s:e] for s, e in merged]


# -- other helpers ------------------------------------------------------------------------------

_APOLOGY = re.compile(r"\bsorry\b|\bapologi[sz](?:e|es|ed|ing)\b|\bapolog(?:y|ies)\b|\b(?:i|we)\s+(?:really\s+|"
                      r"deeply\s+|sincerely\s+)?regret\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z0-9]+)*")
_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam"}


def _word_count(text: str) -> int:
    return len(_WORD.findall(text or ""))


def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", re.IGNORECASE)


def _name_parts(full_name: Any) -> list[str]:
    if not isinstance(full_name, str):
        return []
    parts = [p.strip(".,'\"()") for p in full_name.split()]
    return [p for p in parts if len(p) >= 2 and p.lower().rstrip(".") not in _TITLES]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _round(value: float | None, places: int = 3) -> float | None:
    return None if value is None else round(float(value), places)


# -- the measurements -----------------------------------------------------------------------------

@dataclass
class Measurements:
    """The measured part of an evaluation (field meanings in the module docstring)."""

    response_times_s: list[float | None] = field(default_factory=list)
    median_response_time_s: float | None = None
    slowest_response_time_s: float | None = None
    turns_to_resolution: int | None = None
    duration_s: float | None = None
    learner_turns: int = 0
    talk_ratio: float | None = None
    learner_words: int = 0
    customer_words: int = 0
    questions: int = 0
    open_questions: int = 0
    closed_questions: int = 0
    question_log: list[dict[str, Any]] = field(default_factory=list)  # {turn, text, kind}
    repeated_questions: list[dict[str, Any]] = field(default_factory=list)  # {turn, text, reasons, info, earlier_turns}
    apologies: int = 0
    apology_turns: list[dict[str, Any]] = field(default_factory=list)  # {turn, count}
    over_apologising: bool = False
    jargon_used: list[dict[str, Any]] = field(default_factory=list)  # {turn, word}
    reading_ease: float | None = None  # Flesch, all the learner's messages; None under ten words
    hardest_to_read: dict[str, Any] | None = None  # {turn, ease}: the learner message of ten words or more
    customer_name_used: bool = False
    customer_name_turns: list[int] = field(default_factory=list)
    frustration_path: list[int] = field(default_factory=list)
    hidden_revealed: list[dict[str, Any]] = field(default_factory=list)  # {index, fact, turn}
    outcome: str | None = None
    grader_manipulation_flags: list[dict[str, Any]] = field(default_factory=list)  # {turn, text}
    informs: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in INFORMS.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (lists and dicts copied)."""
        return {name: copy.deepcopy(getattr(self, name)) for name in self.__dataclass_fields__}


def measure(record: SessionRecord) -> Measurements:
    """Measure one session from its record alone (rules in the module docstring)."""
    persona = _as_dict(record.persona)
    rubric = _as_dict(record.rubric)
    turns = [t for t in record.turns if t.speaker in ("learner", "customer")]
    graded_from = getattr(record, "graded_from", 0)  # a try-again is measured from the turn it branched at
    learner = [t for t in turns if t.speaker == "learner" and t.index >= graded_from]
    customer = [t for t in turns if t.speaker == "customer" and t.index >= graded_from]
    m = Measurements()

    # time
    m.learner_turns = len(learner)
    m.response_times_s = [_round(t.response_time_s) if isinstance(t.response_time_s, (int, float)) else None
                          for t in learner]
    known = [r for r in m.response_times_s if r is not None]
    if known:
        m.median_response_time_s = _round(statistics.median(known))
        m.slowest_response_time_s = max(known)
    start = _parse_time(record.started_at)
    end = _parse_time(record.ended_at) or (_parse_time(record.turns[-1].at) if record.turns else None)
    if start and end:
        try:
            m.duration_s = _round(max(0.0, (end - start).total_seconds()))
        except TypeError:  # naive and aware times mixed
            m.duration_s = None

    # outcome and resolution
    states = [(t, t.state) for t in turns if t.speaker == "customer" and isinstance(t.state, dict)]
    m.outcome = record.outcome or next((s.get("outcome") for _t, s in reversed(states) if s.get("outcome")), None)
    if m.outcome == "resolved":
        resolved_at = next((t.index for t, s in states if s.get("outcome") == "resolved"), None)
        m.turns_to_resolution = (len([t for t in learner if t.index < resolved_at]) if resolved_at is not None
                                 else len(learner))

    # talk ratio
    m.learner_words = sum(_word_count(t.text) for t in learner)
    m.customer_words = sum(_word_count(t.text) for t in customer)
    m.talk_ratio = round(m.learner_words / m.customer_words, 2) if m.customer_words else None

    # questions and repeats
    names = _name_parts(persona.get("name"))
    asked_before: list[tuple[int, str, set[str]]] = []  # (turn, normalised text, stems)
    previous: Turn | None = None
    given: dict[str, int] = {}  # info type -> first customer turn that gave it
    for turn in turns:
        if turn.speaker == "customer":
            for info in INFO_TYPES:
                if info.name in given:
                    continue
                just_asked = bool(previous and previous.speaker == "learner"
                                  and any(_asked(info, s) for s in split_sentences(previous.text)))
                if _given_in(info, turn.text, names, just_asked):
                    given[info.name] = turn.index
            previous = turn
            continue
        for sentence in split_sentences(turn.text):
            kind = classify_question(sentence)
            if turn.index < graded_from:  # the earlier attempt's question: context for what is asked again
                if kind:
                    asked_before.append((turn.index, _normalised(sentence), _questionstems(sentence)))
                continue
            if kind:
                m.question_log.append({"turn": turn.index, "text": sentence, "kind": kind})
            if not kind and not _REQUEST.search(sentence):
                continue
            reasons: list[str] = []
            info_names: list[str] = []
            earlier: list[int] = []
            read_back = False
            for info in INFO_TYPES:
                if not _asked(info, sentence):
                    continue
                if info.value(sentence, names):
                    read_back = True
                elif info.name in given:
                    info_names.append(info.name)
                    earlier.append(given[info.name])
            if info_names:
                reasons.append("already_given")
            if kind:
                norm, stems = _normalised(sentence), _questionstems(sentence)
                for before_turn, before_norm, before_stems in ([] if read_back else asked_before):
                    same = norm and norm == before_norm
                    similar = (len(stems) >= 2 and len(before_stems) >= 2
                               and len(stems & before_stems) / len(stems | before_stems) >= 0.75)
                    if same or similar:
                        reasons.append("asked_before")
                        earlier.append(before_turn)
                        break
                asked_before.append((turn.index, norm, stems))
            if reasons:
                m.repeated_questions.append({"turn": turn.index, "text": sentence, "reasons": reasons,
                                             "info": info_names, "earlier_turns": sorted(set(earlier))})
        previous = turn
    m.questions = len(m.question_log)
    m.open_questions = sum(q["kind"] == "open" for q in m.question_log)
    m.closed_questions = m.questions - m.open_questions

    # apologies, jargon, name, manipulation
    jargon_words: list[str] = []
    for word in [*_as_list(rubric.get("jargon")), *_as_list(persona.get("jargon"))]:
        if isinstance(word, str) and word.strip() and word.lower() not in {w.lower() for w in jargon_words}:
            jargon_words.append(word.strip())
    name_patterns = [_name_pattern(n) for n in names]
    for turn in learner:
        count = len(_APOLOGY.findall(turn.text))
        if count:
            m.apologies += count
            m.apology_turns.append({"turn": turn.index, "count": count})
        for word in jargon_in(turn.text, jargon_words):
            m.jargon_used.append({"turn": turn.index, "word": word})
        ease = reading_ease(turn.text)
        if ease is not None and (m.hardest_to_read is None or ease < m.hardest_to_read["ease"]):
            m.hardest_to_read = {"turn": turn.index, "ease": ease}
        if any(p.search(turn.text) for p in name_patterns):
            m.customer_name_turns.append(turn.index)
        for text in _manipulation(turn.text):
            m.grader_manipulation_flags.append({"turn": turn.index, "text": text})
    m.over_apologising = m.apologies > max(2, 0.3 * m.learner_turns)
    m.reading_ease = reading_ease("\n".join(t.text for t in learner))
    m.customer_name_used = bool(m.customer_name_turns)

    # frustration and hidden facts
    first_learner = learner[0].index if learner else None
    opening = next((s for t, s in reversed(states) if first_learner is None or t.index < first_learner), None)
    start_level = opening.get("frustration") if opening else None
    if not isinstance(start_level, int):
        start_level = _as_dict(persona.get("frustration")).get("start")
    if isinstance(start_level, int):
        m.frustration_path.append(start_level)
    for t, s in states:
        if (first_learner is not None and t.index > first_learner) and isinstance(s.get("frustration"), int):
            m.frustration_path.append(s["frustration"])
    hidden = _as_list(persona.get("hidden"))
    seen: set[int] = {i for t, s in states if t.index < graded_from for i in _as_list(s.get("revealed"))}
    for t, s in states:
        for i in _as_list(s.get("revealed")):
            if isinstance(i, int) and i not in seen:
                seen.add(i)
                fact = _as_dict(hidden[i]).get("fact") if 0 <= i < len(hidden) else None
                m.hidden_revealed.append({"index": i, "fact": fact, "turn": t.index})

    # criteria this rubric has
    ids = {c["id"] for c in _as_list(rubric.get("criteria")) if isinstance(c, dict) and isinstance(c.get("id"), str)}
    if ids:
        m.informs = {k: [c for c in v if c in ids] for k, v in INFORMS.items()}
    return m


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s"


def summary_lines(m: Measurements) -> list[str]:
    """Short human-readable lines, one per group of measures."""
    lines = []
    duration = f", {_seconds(m.duration_s)} in all" if m.duration_s is not None else ""
    lines.append(f"Learner turns: {m.learner_turns}{duration}")
    if m.median_response_time_s is not None:
        lines.append(f"Median response time {m.median_response_time_s:.1f} s "
                     f"(slowest {m.slowest_response_time_s:.1f} s)")
    if m.turns_to_resolution is not None:
        lines.append(f"Resolved after {m.turns_to_resolution} learner turn{'s' if m.turns_to_resolution != 1 else ''}")
    else:
        lines.append(f"Not resolved (outcome: {(m.outcome or 'still open').replace('_', ' ')})")
    if m.talk_ratio is not None:
        lines.append(f"Talk ratio {m.talk_ratio:.2f} (learner {m.learner_words} words, "
                     f"customer {m.customer_words})")
    repeated = len(m.repeated_questions)
    lines.append(f"Questions: {m.questions} ({m.open_questions} open, {m.closed_questions} closed), "
                 f"{repeated} repeated")
    lines.append(f"Apologies: {m.apologies}" + (" — over-apologising" if m.over_apologising else ""))
    if m.jargon_used:
        lines.append("Jargon: " + ", ".join(f"{j['word']} (turn {j['turn']})" for j in m.jargon_used))
    else:
        lines.append("Jargon: none")
    if m.reading_ease is not None:
        hardest = m.hardest_to_read
        lines.append(f"Reading ease {m.reading_ease:.0f} of 100 (60+ is plain English)"
                     + (f"; hardest: turn {hardest['turn']} at {hardest['ease']:.0f}" if hardest else ""))
    if m.customer_name_used:
        lines.append("Customer's name used in turn" + ("s " if len(m.customer_name_turns) > 1 else " ")
                     + ", ".join(map(str, m.customer_name_turns)))
    else:
        lines.append("Customer's name not used")
    if m.frustration_path:
        lines.append("Frustration " + " → ".join(map(str, m.frustration_path)))
    lines.append(f"Hidden facts revealed: {len(m.hidden_revealed)}")
    for flag in m.grader_manipulation_flags:
        lines.append(f"Possible grader manipulation in turn {flag['turn']}: \"{flag['text']}\"")
    return lines
