"""Scores from evidence: each rubric criterion scored from what the transcript shows, without a model.

Used when the evaluator model cannot judge (the built-in 135M one gave every criterion
1/5 with placeholder reasons): the grade is then ready the moment the session ends. Every
score says which rule fired, on which turns, with the learner's own words as evidence: a
quote is always a sentence of the turn it cites, exactly as written (the one closest to the
act's example lines), and a tip's example is made from this call, never another persona's.

Signals, each read from what the learner's messages *do*: the acts of the meaning layer
(:func:`simulator.practice.meaning.readings_of`, ``rubrics/acts/*.yaml``), read once per
session and shared with the advice (:func:`session_readings`). A message is never graded by
the words it happens to use:

* **acknowledged** — ``acknowledge-feeling``, ``own-mistake`` or ``reassure``; an apology or
  thanks alone (``apologise``, ``thank``) counts less (**warm**); it **names the cause** with
  ``name-cause``, or when an acknowledgement or apology uses two content words of what the
  customer has said so far;
* **reflected** — ``summarise``, or ``check-understanding`` that restates: two content words of
  what the customer has said so far or of the brief, at least one of them the customer's;
* **brush-off** — ``brush-off`` or ``blame``, unless the same message engages more strongly
  (an acknowledgement, an offer, a check or a summary is read ahead of it:
  :func:`dismissive_acts`);
* **negative framing** — ``refuse`` or ``quote-policy``; **positive framing** — ``offer-fix``,
  ``commit``, ``give-step`` or ``set-expectation``;
* **an offer** — ``offer-fix`` or ``commit`` (one definition for the grade, the coach and the
  advice: :func:`simulator.practice.coach.is_offer`); **options** — ``offer-fix`` in a message
  that gives a choice (*or, either, options, would you prefer*);
* **proactive** — ``warn``, or an offer or ``set-expectation`` the customer did not ask for: it
  adds something (*also, as well, in the meantime, so it doesn't happen again*), or it comes
  after the first offer (which answers the request) and shares no content word with what the
  customer asked for (their opening and their questions);
* **checks understanding** — ``check-understanding``, ``explain-why`` or ``explain-term`` (clear
  communication); ``check-understanding`` (proactive service);
* **questions** — ``open-question`` and ``specific-question`` (the measured question grammar
  when no reading found a question);
* from the measured figures: questions asking again for what was given, jargon used,
  apologies, the customer's name used, hidden facts revealed, the outcome, the median
  response time; **upset, unheard**: the customer reached 7/10 and no message acknowledged
  it (the coach's and the advice's threshold).

A message with no reading (the meaning layer could not read at all) is read by the word
rules of before (:func:`simulator.core.text.acknowledges`, ``dismisses`` and the patterns
here), as a fallback only.

**Not observed.** A criterion is *not observed* when nothing in the session bears on it: no
learner message does an act that counts for or against it (its signals below, or an act
whose file lists the criterion under ``criteria:``) and none of its measured signals fired.
Its reason says "not observed: no evidence either way in this session", it carries
``observed: False``, and it is left out of the weighted mean that decides pass or not yet
(:func:`.evaluator.overall_score`; the evaluation's ``overall.not_observed`` names them). Its
number is the rule's, at most the scale's middle (so never listed as a strength), shown for
reference only. Problem-solving (the outcome), questioning
(asking no questions is evidence too), time-management (the response times) and clear
communication (every message is evidence of plain words) are always observed; so is a
criterion the persona trains (its ``skills:``: the call was written to give the chance to show
it, so missing the chance is evidence), and every criterion in a session that tried to
instruct the grader.

Per criterion (1–5 before mapping to the rubric's scale; points added to a base, then kept
within 1–5):

==================== ============================================================================
criterion            rule
==================== ============================================================================
empathy              1 + acknowledged + (acknowledged or warm) + names the cause + name used
                     + acknowledged before the first offer; − brush-offs (up to 2);
                     − over-apologising; − upset, unheard
active-listening     1 + reflected + reflected twice + a hidden fact earned + never asked the same
                     thing twice; − 1 per question asking again for what was given; − 1 for
                     other questions asked again
clear-communication  5 − jargon words (up to 2) − long sentences (over 25 words on average)
                     − never checked understanding − a message hard to read (Flesch reading
                     ease under 50, a message of ten words or more)
patience             4 + acknowledged while the customer was at 7/10 or more − 2 per brush-off
                     − upset, unheard
flexibility          1 + options + options twice + positive framing + resolved
positive-attitude    3 + positive framing + positive outweighs negative − negative framing used
                     twice or more − brush-offs
problem-solving      resolved: 4 + every hidden fact earned; gave up: 1; else 2 + an offer made
questioning          no questions: 1; else 1 + 3 × open share (rounded) + a hidden fact earned
                     − questions asking again
time-management      median response ≤ 30 s: 4, ≤ 60 s: 3, else 2; + resolved in half the turn
                     limit or less
negotiation          1 + options + an offer + resolved + acknowledged
proactive-service    1 + 2 × proactive (up to 2 messages) + checks understanding
(any other id)       3, "no evidence rule for this criterion"
(every criterion)    − 1 when a learner turn tried to instruct the grader (the session then
                     does not pass, whatever its mean: :func:`.evaluator.overall_score`)
==================== ============================================================================
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..core.text import acknowledges, dismisses, second_person, split_sentences, stems
from ..practice.coach import OFFER_ACTS, is_offer, reading_for
from ..practice.evaluation import CriterionGrade

if TYPE_CHECKING:
    from ..content.rubric import Rubric
    from ..practice.meaning import Reading
    from ..practice.sessions import SessionRecord
    from .metrics import Measurements

# -- acts to signals (the readings of the meaning layer) ---------------------------------------

ACKNOWLEDGED = frozenset({"acknowledge-feeling", "own-mistake", "reassure"})
WARM = frozenset({"apologise", "thank"})  # count less than an acknowledgement
BRUSH_OFF = frozenset({"brush-off", "blame"})
NEGATIVE_ACTS = frozenset({"refuse", "quote-policy"})
POSITIVE_ACTS = frozenset({"offer-fix", "commit", "give-step", "set-expectation"})
CHECK_ACTS = frozenset({"check-understanding", "explain-why", "explain-term"})
UPSET = 7  # frustration (of 10) from which the customer is upset: the coach's and the advice's threshold

ENGAGING = ACKNOWLEDGED | OFFER_ACTS | {"name-cause", "check-understanding", "summarise"}


def dismissive_acts(reading: "Reading") -> set[str]:
    """The brush-off and blame acts a message does that count: each unless an act that engages
    with the customer (:data:`ENGAGING`) is read more strongly in the same message (a brush-off
    dismisses *without engaging*; a message that mostly engages is not one)."""
    acts = list(reading.acts)  # highest score first
    return {a for a in BRUSH_OFF & set(acts) if not ENGAGING & set(acts[:acts.index(a)])}


# inside a message that makes an offer: choices, or something added beyond the request
_CHOICES = re.compile(r"\b(or|either|options?|alternatively|would you prefer|would you rather|which (would|do) you|"
                      r"(two|three) ways)\b", re.IGNORECASE)
_ADDED = re.compile(r"\b(also|as well|in the meantime|going forward|(doesn'?t|won'?t) happen again|while i'?m at it|"
                    r"one more thing)\b", re.IGNORECASE)
_GENERIC = {"like", "pleas", "today", "need", "want", "sure", "okay", "help", "thank", "sorry", "possi", "littl",
            "good", "morni", "after", "eveni", "hello", "hi", "mean"}  # stems that ask for nothing


def _content(text: str) -> set[str]:
    """The content stems of ``text`` that can name something asked for or offered."""
    return {w for w in stems(text) if "'" not in w and w not in _GENERIC}

# -- the word rules: only for a message with no reading ----------------------------------------

_REFLECT = re.compile(r"^\s*(so\b|just to (check|confirm)|to confirm|if i understand|you mentioned|you said|"
                      r"you('?re| are) saying|it sounds like)", re.IGNORECASE)
NEGATIVE = re.compile(r"\b(can'?t|cannot|unable to|not possible|unfortunately|policy)\b", re.IGNORECASE)
POSITIVE = re.compile(r"\b(what i can do|i'?ll|i will|i can\b(?!'|’| not| see| hear| imagine| understand| tell)|here'?s what|"
                       r"let me)\b", re.IGNORECASE)
_OPTIONS = re.compile(r"\b(options?|either|or would you|would you prefer|alternatively|another way|"
                      r"(two|three) ways)\b", re.IGNORECASE)
_PROACTIVE = re.compile(r"\b(also|as well|in the meantime|going forward|(doesn'?t|won'?t) happen again|reminder|"
                        r"alert|i'?ll make sure|while i'?m)\b", re.IGNORECASE)
_CHECKS = re.compile(r"\b(does (that|this) (make sense|work|help|sound)|is (that|this) clear|any questions|"
                     r"what will you do)\b", re.IGNORECASE)


def workspace_of(record: "SessionRecord") -> Path | None:
    """The workspace a saved session belongs to (its acts are read with that workspace's act
    files); None for a session not saved in one (the bundled acts)."""
    folder = record.folder
    if folder is not None and folder.parent.name == "sessions":
        return folder.parent.parent
    return None


_READINGS: dict[tuple, dict[int, "Reading"]] = {}  # the last sessions' readings, by act files and text
_STAMPS: dict[str, tuple[float, tuple]] = {}


def _acts_stamp(workspace: Path | None) -> tuple:
    """The act files as they are now (paths and modification times; looked at once a second at
    most): an edited file is read anew."""
    import time

    from ..content.acts import act_folders

    now, key = time.monotonic(), str(workspace)
    if key in _STAMPS and now - _STAMPS[key][0] < 1.0:
        return _STAMPS[key][1]
    try:
        stamp = tuple((str(p), p.stat().st_mtime_ns) for folder in act_folders(workspace)
                      for p in sorted(folder.glob("*.yaml")))
    except OSError:
        stamp = ()
    _STAMPS[key] = (now, stamp)
    return stamp


def session_readings(record: "SessionRecord") -> dict[int, "Reading"] | None:
    """Every learner turn's reading (:func:`simulator.practice.meaning.readings_of`), read once
    per session text and shared by the grade and the advice; None when the meaning layer
    cannot read at all (then the word rules grade). Blocking: the first reading of a message
    on the built-in model takes tens of milliseconds."""
    workspace = workspace_of(record)
    key = (_acts_stamp(workspace), tuple((t.index, t.text, t.read_by, tuple(t.acts)) for t in record.turns
                                         if t.speaker == "learner"))
    if key in _READINGS:
        return _READINGS[key]
    try:
        from ..practice.meaning import readings_of

        found = readings_of(record.turns, workspace)
    except Exception:  # noqa: BLE001 - a broken act file or runtime: grade by the word rules, never fail
        return None
    while len(_READINGS) >= 32:
        _READINGS.pop(next(iter(_READINGS)))
    _READINGS[key] = found
    return found


@dataclass(frozen=True)
class _ActFacts:
    """What the grade and the advice take from the act files."""

    words: dict[str, Counter[str]]  # each act's example words (five-letter stems, stop words kept)
    criteria: dict[str, frozenset[str]]  # the criteria each act file says it is evidence for
    say_instead: dict[str, str]  # a fault's "say instead" line


@lru_cache(maxsize=8)
def _act_facts_at(workspace: str | None, stamp: tuple) -> _ActFacts:
    from ..content.acts import load_acts

    acts = load_acts(Path(workspace) if workspace else None).acts.values()
    return _ActFacts(
        words={a.id: Counter(w[:5] for line in a.examples.positive for w in re.findall(r"[a-z0-9$']+", line.lower()))
               for a in acts},
        criteria={a.id: frozenset(a.criteria) for a in acts},
        say_instead={a.id: a.say_instead for a in acts if a.say_instead})


def act_facts(workspace: str | None) -> _ActFacts:
    """What the act files say (read again once one is edited); empty when they cannot be read."""
    try:
        return _act_facts_at(workspace, _acts_stamp(Path(workspace) if workspace else None))
    except Exception:  # noqa: BLE001 - a broken act folder: quotes fall back to a message's first sentence
        return _ActFacts({}, {}, {})


def _sentence_doing(text: str, acts: frozenset[str] | set[str], workspace: str | None) -> str:
    """The sentence of ``text`` (exact transcript text) closest to the example lines of ``acts``:
    the most of their words (each weighted by how often the act's lines use it)."""
    sentences = split_sentences(text)
    if len(sentences) <= 1:
        return sentences[0] if sentences else text
    words = act_facts(workspace).words
    weights: Counter[str] = Counter()
    for act in acts:
        found = words.get(act)
        if found:
            total = sum(found.values()) ** 0.5
            weights.update({w: n / total for w, n in found.items()})

    def closeness(sentence: str) -> float:
        said = {w[:5] for w in re.findall(r"[a-z0-9$']+", sentence.lower())}
        return sum(weights.get(w, 0.0) for w in said) / (len(said) ** 0.5 or 1)

    return max(sentences, key=closeness)


@dataclass
class _Signals:
    """What the learner's messages show, with the turn and sentence of each instance."""

    hits: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    criteria_seen: set[str] = field(default_factory=set)  # criteria some act of a learner turn is evidence for
    read: int = 0  # learner turns read by the meaning layer (the others by the word rules)
    upset_unheard: bool = False  # the customer reached UPSET and no message acknowledged it

    def add(self, name: str, turn: int, text: str) -> None:
        self.hits.setdefault(name, []).append((turn, text))

    def count(self, name: str) -> int:
        return len(self.hits.get(name, []))

    def first(self, name: str) -> int | None:
        return self.hits[name][0][0] if self.hits.get(name) else None


def _sentence_with(text: str, pattern: re.Pattern[str] | None = None, test=None) -> str:
    for sentence in split_sentences(text):
        if (pattern and pattern.search(sentence)) or (test and test(sentence)):
            return sentence
    return split_sentences(text)[0] if text.strip() else text


def _by_words(signals: _Signals, i: int, text: str, said: set[str], brief: set[str], peak: int) -> None:
    """One message with no reading, by the word rules of before the meaning layer."""
    if acknowledges(text) and not dismisses(text):
        signals.add("acknowledged", i, _sentence_with(text, test=acknowledges))
        if len(stems(text) & said) >= 2:
            signals.add("names_cause", i, _sentence_with(text, test=acknowledges))
        if peak >= UPSET:
            signals.add("acknowledged_upset", i, _sentence_with(text, test=acknowledges))
    for sentence in split_sentences(text):
        if _REFLECT.search(sentence) and len(stems(sentence) & (said | brief)) >= 2 and stems(sentence) & said:
            signals.add("reflected", i, sentence)
            break
    for name, pattern in (("negative", NEGATIVE), ("positive", POSITIVE), ("options", _OPTIONS),
                          ("proactive", _PROACTIVE), ("checks", _CHECKS)):
        if pattern.search(text):
            signals.add(name, i, _sentence_with(text, pattern))
    if is_offer(text):
        signals.add("offer", i, _sentence_with(text, POSITIVE))
    if dismisses(text):
        signals.add("brush_off", i, _sentence_with(text, test=dismisses))


def _by_acts(signals: _Signals, i: int, text: str, reading: "Reading", said: set[str], brief: set[str],
             asked: set[str], peak: int, workspace: str | None) -> None:
    """One message by its reading: the acts it does, mapped to the signals (module docstring)."""
    acts = set(reading.acts)
    criteria = act_facts(workspace).criteria
    for act in acts:
        signals.criteria_seen |= criteria.get(act, frozenset())

    def quote(*names: str) -> str:
        return _sentence_doing(text, acts & set(names) or acts, workspace)

    content = stems(text)
    dismissive = dismissive_acts(reading)
    strong, warm = (set(), set()) if dismissive else (acts & ACKNOWLEDGED, acts & WARM)  # "sorry, calm down"
    if strong:
        signals.add("acknowledged", i, quote(*strong))
    elif warm:
        signals.add("warm", i, quote(*warm))
    if not dismissive and ("name-cause" in acts or ((strong or "apologise" in acts) and len(content & said) >= 2)):
        signals.add("names_cause", i, quote("name-cause", *strong, "apologise"))
    if peak >= UPSET and not dismissive and (strong or "apologise" in acts or "name-cause" in acts):
        signals.add("acknowledged_upset", i, quote(*strong, "apologise", "name-cause"))
    restates = len(content & (said | brief)) >= 2 and content & said
    if restates and ("summarise" in acts or "check-understanding" in acts):
        signals.add("reflected", i, quote("summarise", "check-understanding"))
    if dismissive:
        signals.add("brush_off", i, quote(*dismissive))
    if acts & NEGATIVE_ACTS:
        signals.add("negative", i, quote(*NEGATIVE_ACTS))
    if acts & POSITIVE_ACTS:
        signals.add("positive", i, quote(*POSITIVE_ACTS))
    offer = is_offer(text, reading)
    if offer:
        signals.add("offer", i, quote(*OFFER_ACTS))
    if "offer-fix" in acts and _CHOICES.search(text):
        signals.add("options", i, _sentence_with(text, _CHOICES))
    answered = signals.count("answer") > 0  # the first offer or expectation answers the request
    if offer or "set-expectation" in acts:
        signals.add("answer", i, text)
    unasked = (offer or "set-expectation" in acts) and (
        _ADDED.search(text) or (answered and not _content(text) & asked))
    if "warn" in acts or unasked:
        signals.add("proactive", i, quote("warn", *OFFER_ACTS, "set-expectation"))
    if acts & CHECK_ACTS:
        signals.add("checks", i, quote(*CHECK_ACTS))
    if "check-understanding" in acts:
        signals.add("checked", i, quote("check-understanding"))
    if "open-question" in acts:
        signals.add("open_question", i, quote("open-question"))
    if "specific-question" in acts:
        signals.add("specific_question", i, quote("specific-question"))


def _signals(record: "SessionRecord", readings: Mapping[int, "Reading"] | None = None) -> _Signals:
    signals = _Signals()
    workspace = workspace_of(record)
    ws = str(workspace) if workspace else None
    before = ""  # everything the customer has said so far
    asked: set[str] = set()  # what the customer asked for: their opening and their questions
    brief = stems(str(record.persona.get("brief") or ""))  # what the learner was told before the call
    peak = 0
    upset = False  # the customer reached UPSET while the learner was being graded
    for turn in record.turns:
        if turn.speaker == "customer":
            before += "\n" + turn.text
            if not asked:
                asked = _content(turn.text)
            asked |= {w for s in split_sentences(turn.text) if s.rstrip().endswith("?") for w in _content(s)}
            if turn.state and turn.state.frustration is not None:
                peak = turn.state.frustration
            upset = upset or (peak >= UPSET and turn.index >= record.graded_from)
            continue
        if turn.speaker != "learner" or turn.index < record.graded_from:  # a try-again: its new part only
            continue
        text, i = turn.text, turn.index
        reading = reading_for(turn, readings)
        if reading is None:
            _by_words(signals, i, text, stems(before), brief, peak)
        else:
            signals.read += 1
            _by_acts(signals, i, text, reading, stems(before), brief, asked, peak, ws)
    signals.upset_unheard = upset and not signals.count("acknowledged_upset")
    return signals


def _clamp(value: float) -> int:
    return int(max(1, min(5, round(value))))


def _quotes(signals: _Signals, *names: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for name in names:
        for turn, text in signals.hits.get(name, []):
            if len(seen) < 3 and not any(q["turn"] == turn for q in seen):
                seen.append({"turn": turn, "quote": text})
    return seen


def _turns(signals: _Signals, name: str) -> str:
    return ", ".join(str(t) for t, _ in signals.hits.get(name, [])[:4])


_COURTESY = re.compile(r"\b(sorry|thank|thanks|hello|hi|good (morning|afternoon|evening)|bye|goodbye)\b", re.I)
_LOWER_FIRST = {"the", "it", "this", "that", "there", "a", "an", "it's", "that's", "there's", "you", "your",
                "you're", "you've", "you'd", "you'll", "yours"}


def reflect_tip(record: "SessionRecord") -> str:
    """The active-listening tip, with its example made from this call: the first thing the
    customer stated (not asked), with a figure if one was given, said back to them."""
    said = [x for t in record.turns if t.speaker == "customer"
            for x in split_sentences(t.text)
            if not x.rstrip().endswith("?") and len(x.split()) >= 5 and not _COURTESY.search(x)]
    if not said:
        return "Sum up what the customer said in their words, then check it: \"So … — is that right?\""
    sentence = second_person(next((x for x in said if any(c.isdigit() for c in x)), max(said[:3], key=len)))
    first, _, rest = sentence.partition(" ")
    if first.lower() in _LOWER_FIRST:
        sentence = f"{first.lower()} {rest}"
    return f"Sum up what the customer said and check it: \"So {sentence}?\""


NOT_OBSERVED = ("not observed: no evidence either way in this session (no message did anything for or against "
                "it), so it is not counted in the overall score")


def evidence_criteria(record: "SessionRecord", rubric: "Rubric", measured: "Measurements",
                      readings: Mapping[int, "Reading"] | None = None) -> list[CriterionGrade]:
    """Every criterion of ``rubric`` scored from the transcript, as the evaluation's criterion
    grade (id, name, weight, score, reason, evidence, improvement), with ``rule`` and
    ``observed`` (False: no evidence either way, not counted in the overall score).
    ``readings``: the learner turns' readings by turn index (default: read now, once per session)."""
    if readings is None:
        readings = session_readings(record)
    s = _signals(record, readings)
    m = measured
    low, high = rubric.scale
    revealed = len(m.hidden_revealed)
    hidden = len(record.persona.get("hidden") or [])
    resolved = m.outcome == "resolved"
    repeats = sum(1 for q in m.repeated_questions if "already_given" in q.get("reasons", []))
    asked_again = len(m.repeated_questions)
    again_turns = ", ".join(str(q["turn"]) for q in m.repeated_questions[:4])
    jargon = len(m.jargon_used)
    learner_text = [t.text for t in record.turns if t.speaker == "learner" and t.index >= record.graded_from]
    sentences = [len(x.split()) for text in learner_text for x in split_sentences(text)]
    long_sentences = bool(sentences) and statistics.mean(sentences) > 25
    hard_to_read = bool(m.hardest_to_read) and m.hardest_to_read["ease"] < 50
    first_offer = s.first("offer")
    acked = s.count("acknowledged") > 0
    warm = acked or s.count("warm") > 0
    ack_first = acked and (first_offer is None or s.first("acknowledged") <= first_offer)
    if s.read and (s.count("open_question") or s.count("specific_question")):  # questions by their acts
        opened, closed = s.count("open_question"), s.count("specific_question")
    else:  # by the measured question grammar
        opened, closed = m.open_questions, m.closed_questions
    questions = opened + closed
    open_share = opened / questions if questions else 0.0
    max_turns = (record.persona.get("end") or {}).get("max_turns") or 20
    seen = s.criteria_seen

    def fired(*pairs: tuple[bool, str]) -> list[str]:
        return [text for ok, text in pairs if ok]

    # criterion -> (raw 1-5, why, quote from, tip, observed: any evidence for or against it)
    rules: dict[str, tuple[float, list[str], list[str], str, bool]] = {}
    rules["empathy"] = (
        1 + acked + warm + (s.count("names_cause") > 0) + bool(m.customer_name_used) + ack_first
        - min(2, s.count("brush_off")) - bool(m.over_apologising) - s.upset_unheard,
        fired((acked, f"acknowledged the customer (turn {_turns(s, 'acknowledged')})"),
              (not acked and warm, f"apologised or thanked, without naming a feeling (turn {_turns(s, 'warm')})"),
              (s.count("names_cause") > 0, "named the cause in the customer's words"),
              (bool(m.customer_name_used), "used the customer's name"),
              (ack_first, "acknowledged before offering a fix"),
              (s.count("brush_off") > 0, f"brushed the customer off or blamed (turn {_turns(s, 'brush_off')})"),
              (bool(m.over_apologising), f"apologised {m.apologies} times"),
              (s.upset_unheard, f"the customer was upset ({UPSET}/10 or more) and no message acknowledged it")),
        ["acknowledged", "names_cause", "warm", "brush_off"],
        "Name the feeling and its cause in the customer's words before you solve anything."
        if not s.count("names_cause") else "Keep acknowledging as the customer's mood changes.",
        warm or bool(s.count("names_cause") or s.count("brush_off")) or bool(m.over_apologising)
        or s.upset_unheard or "empathy" in seen)
    rules["active-listening"] = (
        1 + (s.count("reflected") > 0) + (s.count("reflected") > 1) + (revealed > 0) + (asked_again == 0) - repeats
        - (asked_again > repeats),
        fired((s.count("reflected") > 0, f"reflected back what the customer said (turn {_turns(s, 'reflected')})"),
              (revealed > 0, f"earned {revealed} of {hidden} hidden facts"),
              (asked_again == 0, "never asked the same thing twice"),
              (repeats > 0, f"asked {repeats} time(s) for something the customer had already given"),
              (asked_again > repeats, f"asked the same question again (turn {again_turns})")),
        ["reflected"],
        reflect_tip(record) if not s.count("reflected") else "Use the details the customer gave later in the call.",
        bool(s.count("reflected") or revealed or asked_again) or "active-listening" in seen)
    rules["clear-communication"] = (
        5 - min(2, jargon) - long_sentences - (s.count("checks") == 0) - hard_to_read,
        fired((jargon > 0, f"used {jargon} jargon word(s) the customer would not know"),
              (long_sentences, "long sentences (over 25 words on average)"),
              (hard_to_read, f"turn {(m.hardest_to_read or {}).get('turn')} is hard to read (reading ease "
                             f"{(m.hardest_to_read or {}).get('ease', 0):.0f}; plain English is 60 or more)"),
              (s.count("checks") > 0, f"checked understanding or explained why (turn {_turns(s, 'checks')})"),
              (s.count("checks") == 0, "never checked understanding or explained why")),
        ["checks"],
        "Say one step at a time in plain words, then check: \"Does that make sense?\"",
        bool(learner_text))  # every message is evidence of how plainly the learner speaks
    rules["patience"] = (
        4 + (s.count("acknowledged_upset") > 0) - 2 * s.count("brush_off") - s.upset_unheard,
        fired((s.count("acknowledged_upset") > 0, "stayed warm while the customer was upset"),
              (s.upset_unheard, "moved on while the customer was upset"),
              (s.count("brush_off") > 0, f"brushed the customer off (turn {_turns(s, 'brush_off')})"),
              (s.count("brush_off") == 0, "no brush-offs")),
        ["acknowledged_upset", "brush_off"],
        "When the customer is upset, slow down and acknowledge before explaining.",
        bool(s.count("acknowledged_upset") or s.count("brush_off")) or s.upset_unheard or "patience" in seen)
    rules["flexibility"] = (
        1 + (s.count("options") > 0) + (s.count("options") > 1) + (s.count("positive") > 0) + resolved,
        fired((s.count("options") > 0, f"offered options (turn {_turns(s, 'options')})"),
              (s.count("positive") > 0, "said what can be done"), (resolved, "the problem was resolved"),
              (s.count("negative") > 0, f"said what cannot be done (turn {_turns(s, 'negative')})")),
        ["options", "positive", "negative"],
        "When the usual route does not fit, offer two options within policy and let the customer choose.",
        bool(s.count("options") or s.count("positive") or s.count("negative")) or resolved or "flexibility" in seen)
    rules["positive-attitude"] = (
        3 + (s.count("positive") > 0) + (s.count("positive") > s.count("negative"))
        - (s.count("negative") >= 2) - min(2, s.count("brush_off")),
        fired((s.count("positive") > 0, f"framed things as what can be done (turn {_turns(s, 'positive')})"),
              (s.count("negative") >= 2, f"leaned on can't/policy (turn {_turns(s, 'negative')})"),
              (s.count("brush_off") > 0, "brushed the customer off")),
        ["positive", "negative"],
        _reframe_tip(s),
        bool(s.count("positive") or s.count("negative") or s.count("brush_off")) or "positive-attitude" in seen)
    rules["problem-solving"] = (
        (4 + (hidden > 0 and revealed == hidden)) if resolved else 1 if m.outcome == "gave_up"
        else 2 + (s.count("offer") > 0),
        fired((resolved, "the customer's problem was resolved"), (m.outcome == "gave_up", "the customer gave up"),
              (not resolved and m.outcome != "gave_up", f"not resolved ({m.outcome or 'open'})"),
              (hidden > 0, f"earned {revealed} of {hidden} hidden facts"),
              (s.count("offer") > 0, f"made an offer (turn {_turns(s, 'offer')})")),
        ["offer", "options"],
        "Find out what is really behind the request, then offer a concrete fix with a time.",
        True)  # the outcome is always evidence
    rules["questioning"] = (
        1 if not questions else 1 + round(3 * open_share) + (revealed > 0) - min(2, asked_again),
        fired((questions == 0, "asked no questions"),
              (questions > 0, f"{opened} open and {closed} closed questions"),
              (revealed > 0, f"questions earned {revealed} hidden fact(s)"),
              (asked_again > 0, f"{asked_again} question(s) asked again")),
        ["open_question", "specific_question"],
        "Ask one open question (\"What happened when…?\") before closed ones.",
        True)  # every call needs questions: asking none is evidence too
    median = m.median_response_time_s
    rules["time-management"] = (
        (4 if median is not None and median <= 30 else 3 if median is not None and median <= 60 else 2)
        + (resolved and (m.turns_to_resolution or max_turns) <= max_turns / 2),
        fired((median is not None, f"median response {median or 0:.0f} s"),
              (resolved and (m.turns_to_resolution or max_turns) <= max_turns / 2,
               f"resolved in {m.turns_to_resolution} turns")),
        [],
        "Keep replies brisk and move toward a fix; say what happens next and by when.",
        True)  # the response times are always evidence
    rules["negotiation"] = (
        1 + (s.count("options") > 0) + (s.count("offer") > 0) + resolved + acked,
        fired((s.count("options") > 0, "offered options or trade-offs"), (s.count("offer") > 0, "made an offer"),
              (resolved, "reached an agreement"), (acked, "acknowledged the customer's position"),
              (s.count("negative") > 0, f"said what cannot be done (turn {_turns(s, 'negative')})")),
        ["options", "offer", "negative"],
        "Offer a trade-off (\"I can do X today, or Y if you can wait\") and ask which works.",
        bool(s.count("options") or s.count("offer") or s.count("negative")) or resolved or "negotiation" in seen)
    rules["proactive-service"] = (
        1 + 2 * min(2, s.count("proactive")) + (s.count("checked" if s.read else "checks") > 0),
        fired((s.count("proactive") > 0, f"warned or offered something not asked for (turn {_turns(s, 'proactive')})"),
              (s.count("checked" if s.read else "checks") > 0, "checked the customer understood")),
        ["proactive"],
        "Offer one thing the customer did not ask for that stops this happening again.",
        bool(s.count("proactive")) or "proactive-service" in seen)

    flagged = [f["turn"] for f in m.grader_manipulation_flags]
    trained = set(record.persona.get("skills") or [])  # the call was written to give the chance to show these
    criteria = []
    for criterion in rubric.criteria:
        if criterion.id in rules:
            raw, why, evidence_from, tip, observed = rules[criterion.id]
            reason = "; ".join(why) or "no signal either way"
            evidence = _quotes(s, *evidence_from)
        else:
            raw, reason, evidence, tip, observed = 3, "no evidence rule for this criterion", [], "", True
        if flagged:  # talking to the grader counts against every criterion
            raw -= 1
            observed = True
            reason += f"; tried to instruct the grader (turn {', '.join(map(str, flagged[:4]))})"
        if not observed and criterion.id in trained:
            observed = True
            reason = "no message showed it, in a call written to practise it"
        if not observed:  # shown for reference, never as a strength: at most the scale's middle
            reason, raw = NOT_OBSERVED, min(raw, 3)
        score5 = _clamp(raw)
        score = _clamp_scale(low + (score5 - 1) * (high - low) / 4, low, high)
        criteria.append(CriterionGrade(id=criterion.id, name=criterion.name, weight=criterion.weight, score=score,
                                       reason=f"From the transcript: {reason}.", evidence=evidence, improvement=tip,
                                       rule="simulator/grading/evidence.py", observed=observed))
    return criteria


def _reframe_tip(s: _Signals) -> str:
    """The positive-attitude tip, with the learner's own "can't" sentence when there is one."""
    said = s.hits.get("negative") or []
    if said:
        return f"Where you said \"{said[0][1]}\", lead with what you can do: \"What I can do is…\", then the limit."
    return "Swap \"I can't…\" and \"policy says…\" for \"What I can do is…\"."


def _clamp_scale(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, int(value + 0.5))))  # halves round up: 2.5 is 3, not 2
