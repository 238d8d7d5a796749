"""The evaluation pass: measured figures (always, no model) plus a judged grading of
every rubric criterion by the evaluator model, with quoted evidence; saved as a new
:class:`~simulator.practice.evaluation.Evaluation` of the session, with its report.

This module runs the judge and saves what it gives; what the judge is asked is in
:mod:`.prompts`, how its output is checked and repaired in :mod:`.judge_output`, and the
report (and every other text of an evaluation) in :mod:`.report`.

Design choices:

* **One call per criterion, in parallel** (bounded concurrency), plus one call for the
  overall strengths, changes and better replies. A focused prompt per criterion gives
  better-grounded scores and evidence than one long call asking for everything, and
  the wall time is close to the slowest single call. (A local model serialises the
  calls itself: llama.cpp runs one at a time.)
* The judge runs at temperature 0 and asks for JSON (response_format where the
  provider supports it; grammar-constrained for local models; a tolerant parser
  otherwise). Output is validated: an unreadable reply or a missing/non-numeric/
  out-of-range score is retried (tenacity, bounded), then repaired (a score is
  extracted or clamped) and the repair recorded; a quote that is not in the
  transcript is moved to the turn it really is in, or dropped and recorded.
* The overall score, and pass or fail, are computed here from the criterion scores,
  the rubric's weights and pass mark — never taken from the judge. A session with a turn
  that tried to instruct the grader does not pass.
* The transcript goes to the judge as data inside ``<transcript>`` tags, one line per turn;
  angle brackets and their look-alikes inside turns are neutralised so no learner text can
  close the block, a turn's line breaks and any speaker label in it (``[4] CUSTOMER:``) are
  defused so it cannot pass for another turn (:func:`simulator.core.text.neutralise_turn`),
  and the judge is told the block holds no instructions.
* A criterion the judge cannot grade (its reply unusable after the retries, or the call
  failed) falls back to the evidence rules' score (:mod:`.evidence`), marked ``fallback``
  with the reason, and the feedback names it. A failed call cancels the calls still
  running and leaves the session "judge pending" as well, so ``roleplay evaluate
  --pending`` asks the judge again; the grade from evidence is there at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..content.rubric import Criterion, Rubric
from ..core.errors import ModelError
from ..core.text import parse_json_object
from ..models.config import CAPABLE
from ..models.gateway import ModelClient
from ..practice.evaluation import GAP, CriterionGrade, Evaluation, Overall
from ..practice.sessions import Journal, SessionRecord, now_iso
from .advice import weakest_turns
from .evidence import evidence_criteria, session_readings
from .judge_output import JudgeOutputError, check_criterion, check_overall
from .metrics import Measurements, measure
from .prompts import OVERALL_SCHEMA, SYSTEM, criterion_prompt, criterion_schema, judge_figures, overall_prompt
from .report import write_report

FORMAT_VERSION = 1
CONCURRENCY = 6
OUTPUT_ATTEMPTS = 3
EVIDENCE_NOTE = ("Scored by evidence rules (simulator/grading/evidence.py): the built-in model is too small to "
                 "judge. Each score names its rule; a stronger evaluator model (`roleplay config`) judges.")


# -- running the judge -----------------------------------------------------------------------

async def _with_output_retries(call, check) -> Any:
    """Call the judge up to OUTPUT_ATTEMPTS times while its output is unusable; each retry
    tells the judge what was wrong (at temperature 0 the same prompt would give the same
    answer); the last attempt is checked in repair mode."""
    from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_none

    attempt_no = 0
    problem: str | None = None
    async for attempt in AsyncRetrying(stop=stop_after_attempt(OUTPUT_ATTEMPTS), wait=wait_none(),
                                       retry=retry_if_exception_type(JudgeOutputError), reraise=True):
        with attempt:
            attempt_no += 1
            reply = await call(problem)
            try:
                return check(reply, final=attempt_no == OUTPUT_ATTEMPTS), reply, attempt_no
            except JudgeOutputError as exc:
                problem = str(exc)
                raise
    raise AssertionError("unreachable")


def _budget(judge: ModelClient, tokens: int) -> int:
    """A judge with ``judge_reply_tokens`` (a model on this machine: slow, rambles) gets less room."""
    cap = getattr(judge, "capabilities", CAPABLE).judge_reply_tokens
    return min(tokens, cap) if cap else tokens


def _messages(base: list[dict[str, str]], problem: str | None) -> list[dict[str, str]]:
    if not problem:
        return base
    return [*base, {"role": "user", "content": f"Your previous answer was unusable: {problem}. "
                                               "Answer again with valid JSON exactly as asked."}]


def _judge_call(judge: ModelClient, prompt: str, schema: dict[str, Any], max_tokens: int,
                calls: list[dict[str, Any]]):
    """A judge call at temperature 0 that records itself; ``problem`` is the feedback for a retry."""
    base = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]

    async def call(problem: str | None):
        reply = await judge.complete(_messages(base, problem), temperature=0.0,
                                     max_tokens=_budget(judge, max_tokens), json_schema=schema)
        calls.append(reply.record.to_dict())
        return reply

    return call


async def judge_criterion(judge: ModelClient, criterion: Criterion, rubric: Rubric, record: SessionRecord,
                          measured_lines: list[str], calls: list[dict[str, Any]]
                          ) -> tuple[CriterionGrade, list[dict[str, Any]]]:
    """One criterion judged: its grade, and what was dropped from the judge's reply."""
    call = _judge_call(judge, criterion_prompt(criterion, rubric, record, measured_lines),
                       criterion_schema(rubric), 400, calls)

    def check(reply, final):
        return check_criterion(parse_json_object(reply.text, want="score"), reply.text, criterion, rubric, record,
                               final=final)

    (grade, dropped), _, attempts = await _with_output_retries(call, check)
    grade.attempts = attempts
    return grade, dropped


async def judge_overall(judge: ModelClient, rubric: Rubric, record: SessionRecord, measured_lines: list[str],
                        calls: list[dict[str, Any]]) -> dict[str, Any]:
    call = _judge_call(judge, overall_prompt(rubric, record, measured_lines), OVERALL_SCHEMA, 600, calls)

    def check(reply, final):
        return check_overall(parse_json_object(reply.text, want="strengths"), record, final=final)

    result, _, _ = await _with_output_retries(call, check)
    return result


def overall_score(criteria: list[CriterionGrade], rubric: Rubric, measured: Measurements | None = None
                  ) -> tuple[float, bool]:
    """The weighted mean of the criterion scores, and whether it reaches the pass mark. A
    criterion not observed (``observed`` False: no evidence either way, :mod:`.evidence`) is
    left out of the mean, unless none was observed. A session with a turn that tried to
    instruct the grader does not pass, whatever its mean."""
    criteria = [c for c in criteria if c.observed] or criteria
    total_weight = sum(c.weight for c in criteria)
    score = sum(c.score * c.weight for c in criteria) / total_weight
    flagged = bool(measured and measured.grader_manipulation_flags)
    return round(score, 2), score >= rubric.pass_mark and not flagged


async def judge_session(record: SessionRecord, rubric: Rubric, judge: ModelClient,
                        on_progress: Callable[[int, int], None] | None = None,
                        measured: Measurements | None = None) -> dict[str, Any]:
    """The judged part. ``on_progress(done, total)`` is called as each judge call completes.

    A criterion whose judge reply stays unusable after the retries falls back to its evidence
    score, and the others carry on. A call that fails outright (a ModelError: no key, offline,
    rate-limited after the retries) cancels the calls still running, so none finishes (and is
    billed) afterwards; what was already judged is kept, every other criterion falls back to
    evidence, and ``pending_reason`` says why, so ``roleplay evaluate --pending`` judges it
    again later. Each fallen-back criterion carries ``fallback`` (why)."""
    measured = measured or measure(record)
    measured_lines = judge_figures(measured)
    calls: list[dict[str, Any]] = []
    limit = asyncio.Semaphore(CONCURRENCY)
    total = len(rubric.criteria) + 1
    done = 0
    judged: dict[str, tuple[CriterionGrade, list[dict[str, Any]]]] = {}
    unusable: dict[str, str] = {}  # criterion id (or "overall") -> why its reply could not be used
    overall: dict[str, Any] | None = None

    async def bounded(key: str, call: Callable[[], Awaitable[Any]]) -> Any:
        nonlocal done
        try:
            async with limit:  # the call is made only once it has a slot (a cancelled wait makes none)
                result = await call()
        except JudgeOutputError as exc:
            unusable[key] = f"the judge's reply was unusable after {OUTPUT_ATTEMPTS} attempts ({exc})"
            result = None
        done += 1
        if on_progress:
            on_progress(done, total)
        return result

    async def criterion_task(c: Criterion) -> None:
        result = await bounded(c.id, lambda: judge_criterion(judge, c, rubric, record, measured_lines, calls))
        if result is not None:
            judged[c.id] = result

    async def overall_task() -> None:
        nonlocal overall
        overall = await bounded("overall", lambda: judge_overall(judge, rubric, record, measured_lines, calls))

    started = datetime.now(timezone.utc)
    failure: ModelError | None = None
    try:
        async with asyncio.TaskGroup() as group:
            for c in rubric.criteria:
                group.create_task(criterion_task(c))
            group.create_task(overall_task())
    except BaseExceptionGroup as group_error:
        exc = _first_leaf(group_error)
        if not isinstance(exc, ModelError):
            raise exc from None
        failure = exc
    evidence = {c.id: c for c in evidence_criteria(record, rubric, measured)}
    failed = f"the judge call failed: {failure}" if failure else "the judge call did not finish"
    criteria: list[CriterionGrade] = []
    for c in rubric.criteria:
        if c.id in judged:
            criteria.append(judged[c.id][0])
        else:
            fallen = evidence[c.id].model_copy(deep=True)
            fallen.fallback = unusable.get(c.id, failed)
            criteria.append(fallen)
    compare_with_evidence(criteria, evidence)
    if overall is None:
        overall = {**evidence_summary(criteria, rubric), "dropped": []}
    return {
        "criteria": criteria, "overall": overall_of(criteria, rubric, measured),
        "strengths": overall["strengths"], "changes": overall["changes"],
        "better_replies": overall["better_replies"],
        "fell_back": [c.id for c in criteria if c.fallback],
        "dropped": [d for grade, dropped in judged.values() for d in dropped] + overall["dropped"],
        "calls": calls,
        "wall_time_s": round((datetime.now(timezone.utc) - started).total_seconds(), 3),
        "pending_reason": str(failure) if failure else None,
    }


def overall_of(criteria: list[CriterionGrade], rubric: Rubric, measured: Measurements) -> Overall:
    score, passed = overall_score(criteria, rubric, measured)
    return Overall(score=score, passed=passed, pass_mark=rubric.pass_mark, scale=list(rubric.scale),
                   not_observed=[c.id for c in criteria if not c.observed])


def compare_with_evidence(criteria: list[CriterionGrade], evidence: dict[str, CriterionGrade]) -> None:
    """Put the evidence rules' score beside each judged one; mark a gap of ``GAP`` or more."""
    for c in criteria:
        if (e := evidence.get(c.id)) is not None:
            c.evidence_score = e.score
            c.evidence_reason = e.reason
            c.gap = abs(c.score - e.score) >= GAP


def evidence_summary(criteria: list[CriterionGrade], rubric: Rubric) -> dict[str, Any]:
    """Strengths and changes read from the criterion scores (no model)."""
    ranked = sorted(criteria, key=lambda c: (c.score, -c.weight))
    low, high = rubric.scale
    strong = [c for c in reversed(ranked) if c.score >= low + 0.75 * (high - low)]
    return {"strengths": [f"{c.name}: {c.reason.removeprefix('From the transcript: ').rstrip('.')}"
                          for c in strong][:3],
            "changes": [f"{c.name}: {c.improvement}" for c in ranked if c.improvement][:3],
            "better_replies": []}


def evidence_evaluation(record: SessionRecord, rubric: Rubric, measured: Measurements) -> dict[str, Any]:
    """The judged part's shape, scored from the transcript alone (no model is called)."""
    criteria = evidence_criteria(record, rubric, measured)
    return {
        "criteria": criteria, "overall": overall_of(criteria, rubric, measured),
        **evidence_summary(criteria, rubric), "fell_back": [], "dropped": [], "calls": [], "wall_time_s": 0.0,
    }


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


@dataclass
class Outcome:
    evaluation: Evaluation | None  # the saved evaluation (None only when there is none to give)
    measured: dict[str, Any]
    pending_reason: str | None = None
    report_path: Path | None = None


async def evaluate(record: SessionRecord, rubric: Rubric, judge: ModelClient, *, save: bool = True,
                   on_progress: Callable[[int, int], None] | None = None) -> Outcome:
    """Grade a session: the measured figures, and every criterion judged or, where the judge
    cannot, scored from evidence. Added as a new evaluation (never overwriting one); when a
    judge call failed the session is also left "judge pending" (``pending_reason``)."""
    measured = measure(record)
    await asyncio.to_thread(session_readings, record)  # the learner's acts, read off the UI loop (once)
    by_evidence = not getattr(judge, "capabilities", CAPABLE).judge
    if by_evidence:
        judged = evidence_evaluation(record, rubric, measured)
    else:
        try:
            judged = await judge_session(record, rubric, judge, on_progress, measured)
        except ModelError as exc:  # the judge could not even be asked: grade from evidence at once
            judged = {**evidence_evaluation(record, rubric, measured), "pending_reason": str(exc),
                      "fell_back": rubric.criterion_ids}
            for c in judged["criteria"]:
                c.fallback = f"the judge call failed: {exc}"
    pending = judged.pop("pending_reason", None)
    fell_back = judged["fell_back"]
    every = bool(fell_back) and len(fell_back) == len(rubric.criteria)
    if by_evidence:
        note = EVIDENCE_NOTE
    elif every:
        note = (f"The judge ({judge.model}) could not grade this session, so every criterion was scored from "
                f"evidence in the transcript by documented rules (simulator/grading/evidence.py): "
                f"{pending or judged['criteria'][0].fallback}.")
    elif fell_back:
        names = ", ".join(c.name for c in judged["criteria"] if c.fallback)
        note = f"Scored from evidence because the judge could not: {names} (see each criterion for why)."
    else:
        note = ""
    if pending:
        note += " `roleplay evaluate --pending` (or g on the end screen) asks the judge again."
    weakest = weakest_turns(record, rubric, measured)
    rewrites = {b.turn: b.better for b in judged["better_replies"]}
    for item in weakest:
        if item.turn in rewrites:
            item.better = rewrites[item.turn]
    judged["weakest_turns"] = weakest
    number = len(record.evaluations) + 1
    evaluation = Evaluation.model_validate({
        "format": "roleplay-evaluation", "version": FORMAT_VERSION, "number": number,
        "created_at": now_iso(), "rubric_id": rubric.id, "rubric_name": rubric.name,
        "judge_model": "evidence rules (no model)" if by_evidence or every else judge.model,
        "method": "evidence" if by_evidence or every else "judge",
        "reliable": True,  # kept for older readers: a judge too small to judge is no longer asked
        "note": note, "measured": measured.to_dict(), **judged,
    })
    outcome = Outcome(evaluation, measured.to_dict(), pending_reason=pending)
    if save and record.folder:
        journal = Journal(record.folder)
        journal.append({"type": "evaluation", "evaluation": evaluation.to_dict()})
        record.evaluations.append(evaluation)
        record.pending_reason = None
        if pending:  # graded from evidence for now; the judge is asked again by `evaluate --pending`
            journal.append({"type": "evaluation_pending", "reason": pending, "at": now_iso()})
            record.pending_reason = pending
        journal.snapshot(record)
        outcome.report_path = write_report(record, rubric, measured, evaluation, None)
    return outcome


