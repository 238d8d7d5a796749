"""An evaluation in words: the text pieces built once (:func:`evaluation_text`: the verdict and
score, how it was graded, each criterion's score, reason, quotes, tip and fallback mark, the
criteria not observed, the advice on the weakest turns), laid out here as the Markdown report
(``report.md``) and by the feedback screen (:mod:`simulator.tui.feedback`) as its tabs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..practice.evaluation import GAP, CriterionGrade, Evaluation
from ..practice.sessions import SessionRecord
from .metrics import Measurements, summary_lines
from .speech import spoken_mark

NO_REASON = "(no reason given)"
NO_WEAK_TURNS = "No weak turns found: no brush-offs, jargon, repeated questions or can't-first replies."


def score_bar(score: float, low: int, high: int, width: int = 10) -> str:
    filled = round((score - low) / max(1, high - low) * width)
    return "█" * filled + "░" * (width - filled)


def quoted(text: str) -> str:
    return f"“{text}”"


# -- the text pieces ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CriterionText:
    """One criterion's lines."""

    id: str
    name: str
    points: str  # "4"
    score: str  # "4/5"
    mark: str  # " ⚑" the judge and the evidence rules differ, " ᵉ" scored from evidence, else ""
    bar: str
    turns: str  # the turns its quotes are in: "t1, t3", or "—"
    first_turn: int | None  # where its first quote is
    reason: str
    quotes: list[tuple[int | None, str]]  # (turn, “the words quoted”)
    tip: str  # what to do differently, or ""
    fallback: str  # "Scored from evidence: why.", or ""
    evidence_rules: str  # "Evidence rules: 3/5. why", beside a judged score, or ""
    gap: bool

    @property
    def quote_lines(self) -> list[str]:
        return [f"turn {turn}: {words}" for turn, words in self.quotes]


@dataclass(frozen=True)
class WeakTurnText:
    """One of the weakest turns: what the learner said, each fault and what to do instead."""

    turn: int
    said: str  # quoted
    faults: list[tuple[str, str]]  # ("what (criterion)", "what to do instead")
    better: str  # a quoted better reply, or ""


@dataclass(frozen=True)
class EvaluationText:
    """Every piece of text an evaluation shows, whatever lays it out."""

    verdict: str  # "PASS" or "NOT YET"
    result: str  # "3.86 of 5 (pass mark 3)"
    graded_by: str  # the judge's model, or "evidence rules (no model)"
    by_evidence: bool
    note: str
    note_mark: str  # "ⓘ" graded by the evidence rules by design, "⚠" the judge could not grade some of it
    strengths: list[str]
    changes: list[str]
    gaps: str  # the criteria where the judge and the evidence rules differ, or ""
    not_observed: str  # the criteria left out of the score, or ""
    criteria: list[CriterionText]
    weak_turns: list[WeakTurnText]
    better_replies: list[WeakTurnText] = field(default_factory=list)  # the judge's, at turns not among the weak
    all_better_replies: list[WeakTurnText] = field(default_factory=list)  # every one the judge gave
    dropped: list[str] = field(default_factory=list)


def _criterion_text(c: CriterionGrade, low: int, high: int) -> CriterionText:
    evidence_rules = ""
    if c.evidence_score is not None and not c.fallback:
        evidence_rules = f"Evidence rules: {c.evidence_score}/{high}. {c.evidence_reason or ''}".rstrip()
    return CriterionText(
        id=c.id, name=c.label, points=f"{c.score}", score=f"{c.score}/{high}",
        mark=" ⚑" if c.gap else " ᵉ" if c.fallback else "",
        bar=score_bar(c.score, low, high), turns=", ".join(f"t{e.turn}" for e in c.evidence) or "—",
        first_turn=c.evidence[0].turn if c.evidence else None, reason=c.reason or NO_REASON,
        quotes=[(e.turn, quoted(e.quote)) for e in c.evidence], tip=c.improvement,
        fallback=f"Scored from evidence: {c.fallback}." if c.fallback else "", evidence_rules=evidence_rules,
        gap=c.gap)


def evaluation_text(evaluation: Evaluation) -> EvaluationText:
    """The text pieces of ``evaluation``, for the report and the feedback screen alike."""
    overall = evaluation.overall
    low, high = overall.low, overall.high
    names = {c.id: c.label for c in evaluation.criteria}
    pass_mark = f" (pass mark {overall.pass_mark:g})" if overall.pass_mark is not None else ""
    weak = [WeakTurnText(w.turn, quoted(w.original), [(f"{f.what} ({f.criterion_name or f.criterion})", f.instead)
                                                       for f in w.faults], quoted(w.better) if w.better else "")
            for w in evaluation.weakest_turns]
    shown = {w.turn for w in weak if w.better}
    better = [WeakTurnText(b.turn, quoted(b.original), [], quoted(b.better)) for b in evaluation.better_replies]
    gaps = [c.label for c in evaluation.criteria if c.gap]
    unseen = [names.get(cid, cid) for cid in overall.not_observed]
    return EvaluationText(
        verdict="PASS" if overall.passed else "NOT YET",
        result=f"{overall.score:.2f} of {high}{pass_mark}",
        graded_by=evaluation.judge_model or "an unnamed judge", by_evidence=evaluation.by_evidence,
        note=evaluation.note, note_mark="ⓘ" if evaluation.by_evidence else "⚠",
        strengths=list(evaluation.strengths), changes=list(evaluation.changes),
        gaps=f"The judge and the evidence rules differ by {GAP:g} or more on: {', '.join(gaps)}" if gaps else "",
        not_observed=(f"Not observed, so not counted in the score: {', '.join(unseen)} (no message showed it "
                      "either way)") if unseen else "",
        criteria=[_criterion_text(c, low, high) for c in evaluation.criteria],
        weak_turns=weak, better_replies=[b for b in better if b.turn not in shown], all_better_replies=better,
        dropped=[f"{d.get('what')}: {d.get('quote') or d.get('item', '')} ({d.get('why')})"
                 for d in evaluation.dropped])


@cache
def _measurements_reader():
    from pydantic import TypeAdapter

    return TypeAdapter(Measurements)


def measurements(measured: dict[str, Any] | Measurements) -> Measurements | None:
    """The measured figures saved with an evaluation, typed; None when they cannot be read
    (keys this roleplay does not know are left out)."""
    from pydantic import ValidationError

    if isinstance(measured, Measurements):
        return measured
    try:
        return _measurements_reader().validate_python(measured)
    except ValidationError:
        return None


def measured_lines(measured: dict[str, Any] | Measurements) -> list[str]:
    """The figures' lines, then (a spoken session) what to do about how it sounded."""
    figures = measurements(measured)
    if not figures:
        return ["(the measured figures saved with this evaluation cannot be read)"]
    return summary_lines(figures) + [f"Tip: {line}" for line in (figures.speech.advice if figures.speech else [])]


# -- the Markdown report -----------------------------------------------------------------------

def _evaluation_markdown(evaluation: Evaluation) -> list[str]:
    text = evaluation_text(evaluation)
    lines = [f"## Result: {text.verdict} — {text.result}", "",
             f"Graded by `{text.graded_by}` against rubric `{evaluation.rubric_id}` "
             f"(evaluation {evaluation.number}).", ""]
    if text.note:
        lines += [f"> **Note:** {text.note}", ""]
    if text.not_observed:
        lines += [f"> {text.not_observed}.", ""]
    lines += ["## Criteria", "", "| criterion | score | |", "|---|---|---|"]
    lines += [f"| {c.name} | {c.points} | `{c.bar}` |" for c in text.criteria]
    lines.append("")
    for c in text.criteria:
        lines += [f"### {c.name}: {c.score}", "", c.reason, ""]
        if c.fallback:
            lines += [f"> {c.fallback}", ""]
        if c.gap:
            lines += [f"> **Judge and evidence differ:** {c.evidence_rules} A trainer should look at this one.", ""]
        lines += [f"- {q}" for q in c.quote_lines]
        if c.tip:
            lines += ["", f"**Try:** {c.tip}"]
        lines.append("")
    if text.strengths:
        lines += ["## Strengths", ""] + [f"- {s}" for s in text.strengths] + [""]
    if text.changes:
        lines += ["## To change", ""] + [f"- {s}" for s in text.changes] + [""]
    if text.weak_turns:
        lines += ["## Your weakest turns", ""]
        for w in text.weak_turns:
            lines.append(f"- turn {w.turn} — you said: {w.said}")
            lines += [f"  - {fault}. Instead: {instead}" for fault, instead in w.faults]
            if w.better:
                lines.append(f"  - a better reply: {w.better}")
        lines.append("")
    if text.all_better_replies:
        lines += ["## Better replies", ""]
        for b in text.all_better_replies:
            lines += [f"- turn {b.turn} — you said: {b.said}", f"  - instead: {b.better}"]
        lines.append("")
    if text.dropped:
        lines += ["## Dropped from the judge's output", ""] + [f"- {d}" for d in text.dropped] + [""]
    return lines


def render_report(record: SessionRecord, rubric: Any, measured: dict[str, Any] | Measurements,
                  evaluation: Evaluation | None, pending: str | None) -> str:
    """The Markdown report of a session: its evaluation (or why it is pending), the measured
    figures, the customer's audit and the transcript. ``rubric`` is kept for callers; the
    evaluation carries its own scale."""
    persona = record.persona
    lines = [f"# Feedback: {persona.get('name', record.persona_id)} — {persona.get('title', '')}", "",
             f"Session `{record.session_id}`, started {record.started_at[:16].replace('T', ' ')} UTC; "
             f"outcome: **{(record.outcome or 'open').replace('_', ' ')}**.", ""]
    if evaluation:
        lines += _evaluation_markdown(evaluation)
    else:
        lines += ["## Judged evaluation: pending", "", f"{pending}", "",
                  "Run `roleplay evaluate --pending` when a model can be reached.", ""]
    lines += ["## Measured", ""] + [f"- {line}" for line in measured_lines(measured)] + [""]
    from ..practice.audit import audit_session, report_lines

    lines += ["## The customer, audited", "", "How believable the simulated customer was (not part of your grade):", ""]
    lines += [f"- {line}" for line in report_lines(audit_session(record))] + [""]
    lines += ["## Transcript", ""]
    for turn in record.turns:
        who = {"learner": "You", "customer": persona.get("name", "Customer"), "hint": "Coach"}.get(turn.speaker)
        mark = spoken_mark(turn)
        lines.append(f"{turn.index}. **{who}:**{' ' + mark if mark else ''} {turn.text}")
    return "\n".join(lines) + "\n"


def write_report(record: SessionRecord, rubric: Any, measured: dict[str, Any] | Measurements,
                 evaluation: Evaluation | None, pending: str | None) -> Path:
    from ..core.storage import atomic_write_text

    text = render_report(record, rubric, measured, evaluation, pending)
    assert record.folder is not None
    if evaluation:
        atomic_write_text(record.folder / f"report-{evaluation.number}.md", text)
    path = record.folder / "report.md"
    atomic_write_text(path, text)
    return path
