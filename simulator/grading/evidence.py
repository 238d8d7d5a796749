"""Scores from evidence: each rubric criterion scored from what the transcript shows, without a model.

Used when the evaluator model cannot judge (the built-in 135M one gave every criterion
1/5 with placeholder reasons): the grade is then ready the moment the session ends. Every
score says which rule fired, on which turns, with the learner's own words as evidence.

Signals, each read from the learner's messages (rules in :mod:`simulator.core.text` and
:mod:`.metrics` where they are shared):

* **acknowledged** — a message that acknowledges the customer (``acknowledges``: "I can see
  why…", "that must be…", "I'm sorry", "my mistake"); it **names the cause** when it shares
  two content words with what the customer has said so far;
* **reflected** — "so…", "just to check", "you mentioned", "if I understand" with two content
  words of what the customer has said so far or of the brief, at least one of them the
  customer's (the bill's figures are often on the agent's screen before she says them);
* **brush-off** — ``dismisses``: "calm down", "policy is policy", "you should have";
* **negative framing** — *can't, cannot, unable, not possible, unfortunately, policy*;
  **positive framing** — *what I can do, I'll, I can (do), here's what, let me*;
* **options** — *option(s), either, or would you, would you prefer, alternatively, another way*;
* **proactive** — *also, as well, in the meantime, going forward, so it doesn't happen again,
  a reminder or alert, I'll make sure*;
* **checks understanding** — *does that make sense / work / help, is that clear, any questions*;
* from the measured figures: open and closed questions, questions asking again for what was
  given, jargon used, apologies, the customer's name used, hidden facts revealed, the
  outcome, the median response time.

Per criterion (1–5 before mapping to the rubric's scale; points added to a base, then kept
within 1–5):

==================== ============================================================================
criterion            rule
==================== ============================================================================
empathy              1 + acknowledged + names the cause + name used + acknowledged before the
                     first offer; − brush-offs; − over-apologising
active-listening     1 + reflected + reflected twice + a hidden fact earned + never asked the same
                     thing twice; − 1 per question asking again for what was given; − 1 for
                     other questions asked again
clear-communication  5 − jargon words (up to 2) − long sentences (over 25 words on average)
                     − never checked understanding − a message hard to read (Flesch reading
                     ease under 50, a message of ten words or more)
patience             4 + acknowledged while the customer was at 7/10 or more − 2 per brush-off
flexibility          1 + options + options twice + positive framing + resolved
positive-attitude    3 + positive framing + positive outweighs negative − negative framing used
                     twice or more − brush-offs
problem-solving      resolved: 4 + every hidden fact earned; gave up: 1; else 2 + an offer made
questioning          no questions: 1; else 1 + 3 × open share (rounded) + a hidden fact earned
                     − questions asking again
time-management      median response ≤ 30 s: 4, ≤ 60 s: 3, else 2; + resolved in half the turn
                     limit or less
negotiation          1 + options + positive framing + resolved + acknowledged
proactive-service    1 + 2 × proactive (up to 2 messages) + checks understanding
(any other id)       3, "no evidence rule for this criterion"
(every criterion)    − 1 when a learner turn tried to instruct the grader (the session then
                     does not pass, whatever its mean: :func:`.evaluator.overall_score`)
==================== ============================================================================
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.text import acknowledges, dismisses, second_person, split_sentences, stems

if TYPE_CHECKING:
    from ..content.rubric import Rubric
    from ..practice.sessions import SessionRecord
    from .metrics import Measurements

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


@dataclass
class _Signals:
    """What the learner's messages show, with the turn and sentence of each instance."""

    hits: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

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


def _signals(record: "SessionRecord") -> _Signals:
    signals = _Signals()
    before = ""  # everything the customer has said so far
    brief = stems(str(record.persona.get("brief") or ""))  # what the learner was told before the call
    peak = 0
    for turn in record.turns:
        if turn.speaker == "customer":
            before += "\n" + turn.text
            peak = (turn.state or {}).get("frustration", peak) or 0
            continue
        if turn.speaker != "learner" or turn.index < record.graded_from:  # a try-again: its new part only
            continue
        text, i = turn.text, turn.index
        said = stems(before)
        if acknowledges(text) and not dismisses(text):
            signals.add("acknowledged", i, _sentence_with(text, test=acknowledges))
            if len(stems(text) & said) >= 2:
                signals.add("names_cause", i, _sentence_with(text, test=acknowledges))
            if peak >= 7:
                signals.add("acknowledged_upset", i, _sentence_with(text, test=acknowledges))
        for sentence in split_sentences(text):
            if _REFLECT.search(sentence) and len(stems(sentence) & (said | brief)) >= 2 and stems(sentence) & said:
                signals.add("reflected", i, sentence)
                break
        for name, pattern in (("negative", NEGATIVE), ("positive", POSITIVE), ("options", _OPTIONS),
                              ("proactive", _PROACTIVE), ("checks", _CHECKS)):
            if pattern.search(text):
                signals.add(name, i, _sentence_with(text, pattern))
        if dismisses(text):
            signals.add("brush_off", i, _sentence_with(text, test=dismisses))
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


def evidence_criteria(record: "SessionRecord", rubric: "Rubric", measured: "Measurements") -> list[dict[str, Any]]:
    """Every criterion of ``rubric`` scored from the transcript, in the evaluation's criterion
    shape (id, name, weight, score, reason, evidence, improvement), plus ``rule``."""
    s = _signals(record)
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
    first_offer = s.first("positive")
    ack_first = s.first("acknowledged") is not None and (first_offer is None or s.first("acknowledged") <= first_offer)
    open_share = (m.open_questions / m.questions) if m.questions else 0.0
    max_turns = (record.persona.get("end") or {}).get("max_turns") or 20

    def fired(*pairs: tuple[bool, str]) -> list[str]:
        return [text for ok, text in pairs if ok]

    rules: dict[str, tuple[float, list[str], list[str], str]] = {}
    rules["empathy"] = (
        1 + (s.count("acknowledged") > 0) + (s.count("names_cause") > 0) + bool(m.customer_name_used) + ack_first
        - min(2, s.count("brush_off")) - bool(m.over_apologising),
        fired((s.count("acknowledged") > 0, f"acknowledged the customer (turn {_turns(s, 'acknowledged')})"),
              (s.count("names_cause") > 0, "named the cause in the customer's words"),
              (bool(m.customer_name_used), "used the customer's name"),
              (ack_first, "acknowledged before offering a fix"),
              (s.count("brush_off") > 0, f"brushed the customer off (turn {_turns(s, 'brush_off')})"),
              (bool(m.over_apologising), f"apologised {m.apologies} times")),
        ["acknowledged", "names_cause", "brush_off"],
        "Name the feeling and its cause in the customer's words before you solve anything."
        if not s.count("names_cause") else "Keep acknowledging as the customer's mood changes.")
    rules["active-listening"] = (
        1 + (s.count("reflected") > 0) + (s.count("reflected") > 1) + (revealed > 0) + (asked_again == 0) - repeats
        - (asked_again > repeats),
        fired((s.count("reflected") > 0, f"reflected back what the customer said (turn {_turns(s, 'reflected')})"),
              (revealed > 0, f"earned {revealed} of {hidden} hidden facts"),
              (asked_again == 0, "never asked the same thing twice"),
              (repeats > 0, f"asked {repeats} time(s) for something the customer had already given"),
              (asked_again > repeats, f"asked the same question again (turn {again_turns})")),
        ["reflected"],
        reflect_tip(record) if not s.count("reflected") else "Use the details the customer gave later in the call.")
    rules["clear-communication"] = (
        5 - min(2, jargon) - long_sentences - (s.count("checks") == 0) - hard_to_read,
        fired((jargon > 0, f"used {jargon} jargon word(s) the customer would not know"),
              (long_sentences, "long sentences (over 25 words on average)"),
              (hard_to_read, f"turn {(m.hardest_to_read or {}).get('turn')} is hard to read (reading ease "
                             f"{(m.hardest_to_read or {}).get('ease', 0):.0f}; plain English is 60 or more)"),
              (s.count("checks") > 0, "checked the customer understood"),
              (s.count("checks") == 0, "never checked understanding")),
        ["checks"],
        "Say one step at a time in plain words, then check: \"Does that make sense?\"")
    rules["patience"] = (
        4 + (s.count("acknowledged_upset") > 0) - 2 * s.count("brush_off"),
        fired((s.count("acknowledged_upset") > 0, "stayed warm while the customer was upset"),
              (s.count("brush_off") > 0, f"brushed the customer off (turn {_turns(s, 'brush_off')})"),
              (s.count("brush_off") == 0, "no brush-offs")),
        ["acknowledged_upset", "brush_off"],
        "When the customer is upset, slow down and acknowledge before explaining.")
    rules["flexibility"] = (
        1 + (s.count("options") > 0) + (s.count("options") > 1) + (s.count("positive") > 0) + resolved,
        fired((s.count("options") > 0, f"offered options (turn {_turns(s, 'options')})"),
              (s.count("positive") > 0, "said what can be done"), (resolved, "the problem was resolved")),
        ["options", "positive"],
        "When the usual route does not fit, offer two options within policy and let the customer choose.")
    rules["positive-attitude"] = (
        3 + (s.count("positive") > 0) + (s.count("positive") > s.count("negative"))
        - (s.count("negative") >= 2) - min(2, s.count("brush_off")),
        fired((s.count("positive") > 0, f"framed things as what can be done (turn {_turns(s, 'positive')})"),
              (s.count("negative") >= 2, f"leaned on can't/policy/unfortunately (turn {_turns(s, 'negative')})"),
              (s.count("brush_off") > 0, "brushed the customer off")),
        ["positive", "negative"],
        "Swap \"I can't…\" and \"policy says…\" for \"What I can do is…\".")
    rules["problem-solving"] = (
        (4 + (hidden > 0 and revealed == hidden)) if resolved else 1 if m.outcome == "gave_up"
        else 2 + (s.count("positive") > 0),
        fired((resolved, "the customer's problem was resolved"), (m.outcome == "gave_up", "the customer gave up"),
              (not resolved and m.outcome != "gave_up", f"not resolved ({m.outcome or 'open'})"),
              (hidden > 0, f"earned {revealed} of {hidden} hidden facts"),
              (s.count("positive") > 0, "made an offer")),
        ["positive", "options"],
        "Find out what is really behind the request, then offer a concrete fix with a time.")
    rules["questioning"] = (
        1 if not m.questions else 1 + round(3 * open_share) + (revealed > 0) - min(2, asked_again),
        fired((m.questions == 0, "asked no questions"),
              (m.questions > 0, f"{m.open_questions} open and {m.closed_questions} closed questions"),
              (revealed > 0, f"questions earned {revealed} hidden fact(s)"),
              (asked_again > 0, f"{asked_again} question(s) asked again")),
        [],
        "Ask one open question (\"What happened when…?\") before closed ones.")
    median = m.median_response_time_s
    rules["time-management"] = (
        (4 if median is not None and median <= 30 else 3 if median is not None and median <= 60 else 2)
        + (resolved and (m.turns_to_resolution or max_turns) <= max_turns / 2),
        fired((median is not None, f"median response {median or 0:.0f} s"),
              (resolved and (m.turns_to_resolution or max_turns) <= max_turns / 2,
               f"resolved in {m.turns_to_resolution} turns")),
        [],
        "Keep replies brisk and move toward a fix; say what happens next and by when.")
    rules["negotiation"] = (
        1 + (s.count("options") > 0) + (s.count("positive") > 0) + resolved + (s.count("acknowledged") > 0),
        fired((s.count("options") > 0, "offered options or trade-offs"), (s.count("positive") > 0, "made an offer"),
              (resolved, "reached an agreement"), (s.count("acknowledged") > 0, "acknowledged the customer's position")),
        ["options", "positive"],
        "Offer a trade-off (\"I can do X today, or Y if you can wait\") and ask which works.")
    rules["proactive-service"] = (
        1 + 2 * min(2, s.count("proactive")) + (s.count("checks") > 0),
        fired((s.count("proactive") > 0, f"offered something not asked for (turn {_turns(s, 'proactive')})"),
              (s.count("checks") > 0, "checked whether anything else was needed")),
        ["proactive"],
        "Offer one thing the customer did not ask for that stops this happening again.")

    flagged = [f["turn"] for f in m.grader_manipulation_flags]
    criteria = []
    for criterion in rubric.criteria:
        if criterion.id in rules:
            raw, why, evidence_from, tip = rules[criterion.id]
            reason = "; ".join(why) or "no signal either way"
            evidence = _quotes(s, *evidence_from)
        else:
            raw, reason, evidence, tip = 3, "no evidence rule for this criterion", [], ""
        if flagged:  # talking to the grader counts against every criterion
            raw -= 1
            reason += f"; tried to instruct the grader (turn {', '.join(map(str, flagged[:4]))})"
        score5 = _clamp(raw)
        score = _clamp_scale(low + (score5 - 1) * (high - low) / 4, low, high)
        criteria.append({"id": criterion.id, "name": criterion.name, "weight": criterion.weight, "score": score,
                         "reason": f"From the transcript: {reason}.", "evidence": evidence, "improvement": tip,
                         "rule": "simulator/grading/evidence.py", "repairs": [], "dropped": []})
    return criteria


def _clamp_scale(value: float, low: int, high: int) -> int:
    return int(max(low, min(high, int(value + 0.5))))  # halves round up: 2.5 is 3, not 2
