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
  ``question_log`` (turn, sentence, kind); rules in :mod:`.questions`.
* questioning and active-listening — ``repeated_questions``; rules in :mod:`.repeats`.
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
* clear-communication, time-management and active-listening — ``speech``: how the learner's
  spoken turns sounded (words per minute, long pauses before answering, filler words,
  talk-over; :mod:`.speech`). Only a session with spoken turns has it: a typed session's
  figures (and ``to_dict``) are exactly as they were before voice.
* no criterion — ``grader_manipulation_flags``: learner text addressed to the grader or
  the model rather than the customer (turn and matched text; patterns in
  :mod:`.manipulation`). It is an integrity flag for whoever reads the evaluation, not a skill.

A try-again from a turn of an earlier session (``branched_from``) is measured from that turn
on: the turns before it are the earlier attempt's, kept as context (what the customer had
already given, questions already asked, hidden facts already earned, the frustration the
new part starts from).

The display lines are made by :func:`.summary.summary_lines`.
"""

from __future__ import annotations

import copy
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.text import jargon_in, reading_ease, split_sentences
from ..practice.sessions import SessionRecord, Turn, TurnState
from .manipulation import MANIPULATION_PATTERNS, manipulation_in
from .questions import classify_question
from .repeats import INFO_TYPES, REQUEST, asks_for, given_in, name_parts, name_pattern, normalised, question_stems
from .speech import SpeechFigures
from .summary import summary_lines

__all__ = [
    "INFORMS", "INFO_TYPES", "MANIPULATION_PATTERNS", "Measurements", "classify_question",
    "measure", "split_sentences", "summary_lines",
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
# added to ``informs`` only when the session has spoken turns (a typed session's figures stay as they were)
SPEECH_INFORMS: dict[str, list[str]] = {"speech": ["clear-communication", "time-management", "active-listening"]}


_APOLOGY = re.compile(r"\bsorry\b|\bapologi[sz](?:e|es|ed|ing)\b|\bapolog(?:y|ies)\b|\b(?:i|we)\s+(?:really\s+|"
                      r"deeply\s+|sincerely\s+)?regret\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z0-9]+)*")


def _word_count(text: str) -> int:
    return len(_WORD.findall(text or ""))


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
    speech: SpeechFigures | None = None  # spoken turns only (:mod:`.speech`)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (lists and dicts copied); ``speech`` only when there is some."""
        data = {name: copy.deepcopy(getattr(self, name)) for name in self.__dataclass_fields__ if name != "speech"}
        if self.speech is not None:
            data["speech"] = copy.deepcopy(vars(self.speech))
        return data


States = list[tuple[Turn, TurnState]]  # each customer turn that carries a state, with it


def measure(record: SessionRecord) -> Measurements:
    """Measure one session from its record alone (rules in the module docstring)."""
    persona = _as_dict(record.persona)
    rubric = _as_dict(record.rubric)
    turns = [t for t in record.turns if t.speaker in ("learner", "customer")]
    graded_from = getattr(record, "graded_from", 0)  # a try-again is measured from the turn it branched at
    learner = [t for t in turns if t.speaker == "learner" and t.index >= graded_from]
    customer = [t for t in turns if t.speaker == "customer" and t.index >= graded_from]
    states = [(t, t.state) for t in turns if t.speaker == "customer" and t.state is not None]
    names = name_parts(persona.get("name"))
    m = Measurements()
    _time(m, record, learner)
    _outcome(m, record, learner, states)
    _talk(m, learner, customer)
    _questions(m, turns, names, graded_from)
    _learner_turns(m, learner, names, rubric, persona)
    _frustration_and_facts(m, persona, learner, states, graded_from)
    # the criteria this rubric has
    ids = {c["id"] for c in _as_list(rubric.get("criteria")) if isinstance(c, dict) and isinstance(c.get("id"), str)}
    _speech(m, record, persona)
    if ids:
        m.informs = {k: [c for c in v if c in ids] for k, v in m.informs.items()}
    return m


def _speech(m: Measurements, record: SessionRecord, persona: dict[str, Any]) -> None:
    """How the spoken turns sounded, and what to do about it (none typed: nothing added)."""
    from .speech import spoken_turns

    if not spoken_turns(record):
        return
    from .advice import speech_advice
    from .evidence import workspace_of
    from .speech import speech_figures, speech_rules

    rules, note = speech_rules(workspace_of(record))
    m.speech = speech_figures(record, rules)
    if m.speech is not None:
        m.speech.rules_note = note
        m.speech.advice = speech_advice(m.speech, rules, str(persona.get("name") or "the customer"))
        m.informs |= {k: list(v) for k, v in SPEECH_INFORMS.items()}


def _time(m: Measurements, record: SessionRecord, learner: list[Turn]) -> None:
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


def _outcome(m: Measurements, record: SessionRecord, learner: list[Turn], states: States) -> None:
    m.outcome = record.outcome or next((s.outcome for _t, s in reversed(states) if s.outcome), None)
    if m.outcome == "resolved":
        resolved_at = next((t.index for t, s in states if s.outcome == "resolved"), None)
        m.turns_to_resolution = (len([t for t in learner if t.index < resolved_at]) if resolved_at is not None
                                 else len(learner))


def _talk(m: Measurements, learner: list[Turn], customer: list[Turn]) -> None:
    m.learner_words = sum(_word_count(t.text) for t in learner)
    m.customer_words = sum(_word_count(t.text) for t in customer)
    m.talk_ratio = round(m.learner_words / m.customer_words, 2) if m.customer_words else None


def _questions(m: Measurements, turns: list[Turn], names: list[str], graded_from: int) -> None:
    """Questions and their kinds; repeated questions (rules in :mod:`.repeats`)."""
    asked_before: list[tuple[int, str, set[str]]] = []  # (turn, normalised text, stems)
    previous: Turn | None = None
    given: dict[str, int] = {}  # info type -> first customer turn that gave it
    for turn in turns:
        if turn.speaker == "customer":
            for info in INFO_TYPES:
                if info.name in given:
                    continue
                just_asked = bool(previous and previous.speaker == "learner"
                                  and any(asks_for(info, s) for s in split_sentences(previous.text)))
                if given_in(info, turn.text, names, just_asked):
                    given[info.name] = turn.index
            previous = turn
            continue
        for sentence in split_sentences(turn.text):
            kind = classify_question(sentence)
            if turn.index < graded_from:  # the earlier attempt's question: context for what is asked again
                if kind:
                    asked_before.append((turn.index, normalised(sentence), question_stems(sentence)))
                continue
            if kind:
                m.question_log.append({"turn": turn.index, "text": sentence, "kind": kind})
            if not kind and not REQUEST.search(sentence):
                continue
            reasons: list[str] = []
            info_names: list[str] = []
            earlier: list[int] = []
            read_back = False
            for info in INFO_TYPES:
                if not asks_for(info, sentence):
                    continue
                if info.value(sentence, names):
                    read_back = True
                elif info.name in given:
                    info_names.append(info.name)
                    earlier.append(given[info.name])
            if info_names:
                reasons.append("already_given")
            if kind:
                norm, stems = normalised(sentence), question_stems(sentence)
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


def _learner_turns(m: Measurements, learner: list[Turn], names: list[str], rubric: dict[str, Any],
                   persona: dict[str, Any]) -> None:
    """Apologies, jargon, reading ease, the customer's name and grader manipulation, turn by turn."""
    jargon_words: list[str] = []
    for word in [*_as_list(rubric.get("jargon")), *_as_list(persona.get("jargon"))]:
        if isinstance(word, str) and word.strip() and word.lower() not in {w.lower() for w in jargon_words}:
            jargon_words.append(word.strip())
    name_patterns = [name_pattern(n) for n in names]
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
        for text in manipulation_in(turn.text):
            m.grader_manipulation_flags.append({"turn": turn.index, "text": text})
    m.over_apologising = m.apologies > max(2, 0.3 * m.learner_turns)
    m.reading_ease = reading_ease("\n".join(t.text for t in learner))
    m.customer_name_used = bool(m.customer_name_turns)


def _frustration_and_facts(m: Measurements, persona: dict[str, Any], learner: list[Turn], states: States,
                           graded_from: int) -> None:
    first_learner = learner[0].index if learner else None
    opening = next((s for t, s in reversed(states) if first_learner is None or t.index < first_learner), None)
    start_level = opening.frustration if opening else None
    if not isinstance(start_level, int):
        start_level = _as_dict(persona.get("frustration")).get("start")
    if isinstance(start_level, int):
        m.frustration_path.append(start_level)
    for t, s in states:
        if (first_learner is not None and t.index > first_learner) and isinstance(s.frustration, int):
            m.frustration_path.append(s.frustration)
    hidden = _as_list(persona.get("hidden"))
    seen: set[int] = {i for t, s in states if t.index < graded_from for i in s.revealed}
    for t, s in states:
        for i in s.revealed:
            if isinstance(i, int) and i not in seen:
                seen.add(i)
                fact = _as_dict(hidden[i]).get("fact") if 0 <= i < len(hidden) else None
                m.hidden_revealed.append({"index": i, "fact": fact, "turn": t.index})
