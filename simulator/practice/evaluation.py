"""The evaluation of a session, typed: what the grader writes (:mod:`simulator.grading.evaluator`),
what a session stores (``SessionRecord.evaluations``) and what the TUI, the report, the
export and the index read.

It lives here, below grading, because a session record holds its evaluations. On disk an
evaluation is the same JSON object it always was: every model keeps the keys it was given
and no others (``to_dict`` leaves out what was never set), and keys it does not know are
kept as they are. Every field but the overall score has a default, so an evaluation written
by an earlier roleplay (or by hand) still reads. One that cannot be read (not an object,
no overall score, a value of the wrong type) is an :class:`UnreadableEvaluation`: kept as
it was on disk and shown as "cannot be read", never a crash in whatever reads the session.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

FORMAT = "roleplay-evaluation"
VERSION = 1
GAP = 1.5  # points on the rubric's scale between the judge and the evidence rules that a trainer should see


def _number(value: Any) -> Any:
    """A number as JSON has it: never true/false or text, always finite and within 64 bits."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a number")
    if not (math.isfinite(value) if isinstance(value, float) else -2 ** 63 <= value < 2 ** 63):
        raise ValueError("a number out of range")
    return value


Number = Annotated[int | float, BeforeValidator(_number)]


class Part(BaseModel):
    """A part of an evaluation: unknown keys are kept, unset ones are not written."""

    model_config = ConfigDict(extra="allow")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class Quote(Part):
    """Words from the transcript that show a score, and the turn they are in."""

    turn: int | None = None
    quote: str = ""


class CriterionGrade(Part):
    """One rubric criterion's grade."""

    id: str
    name: str = ""
    weight: Number = 1.0
    score: Number
    reason: str = ""
    evidence: list[Quote] = Field(default_factory=list)
    improvement: str = ""
    repairs: list[str] = Field(default_factory=list)  # how the judge's reply was mended, if it was
    attempts: int | None = None  # judge calls it took
    fallback: str | None = None  # why it was scored from evidence instead of by the judge
    rule: str | None = None  # the evidence rules that scored it, when they did
    observed: bool = True  # False: no evidence either way, left out of the overall score
    evidence_score: Number | None = None  # the evidence rules' score beside a judged one
    evidence_reason: str | None = None
    gap: bool = False  # the judge and the evidence rules differ by GAP points or more

    @property
    def label(self) -> str:
        return self.name or self.id


class Overall(Part):
    """The overall score, computed from the criteria and the rubric (never the judge's)."""

    score: Number
    passed: bool = False
    pass_mark: Number | None = None
    scale: list[int] = Field(default_factory=lambda: [1, 5])  # [low, high]
    not_observed: list[str] = Field(default_factory=list)  # criterion ids left out of the score

    @property
    def low(self) -> int:
        return self.scale[0] if self.scale else 1

    @property
    def high(self) -> int:
        return self.scale[-1] if self.scale else 5


class BetterReply(Part):
    """What the learner could have said instead at one turn."""

    turn: int
    original: str = ""
    better: str = ""


class Fault(Part):
    """Something one learner turn did against a criterion, and what to do instead."""

    what: str = ""
    criterion: str = ""
    criterion_name: str = ""
    severity: Number = 0
    instead: str = ""


class WeakTurn(Part):
    """One of the learner's weakest turns: its faults, and a better reply when the judge gave one."""

    turn: int
    original: str = ""
    weight: Number = 0
    faults: list[Fault] = Field(default_factory=list)
    better: str | None = None


class Evaluation(Part):
    """One evaluation of a session (format ``roleplay-evaluation`` version 1)."""

    format: str = FORMAT
    version: int = VERSION
    number: int = 0  # 1 for the first evaluation of a session, 2 for the next...
    created_at: str | None = None
    rubric_id: str = ""
    rubric_name: str = ""
    judge_model: str = ""  # the judge's model name, or "evidence rules (no model)"
    method: str = "judge"  # "judge" or "evidence"
    reliable: bool = True  # kept for older readers
    note: str = ""  # what the learner should know about how it was graded
    measured: dict[str, Any] = Field(default_factory=dict)  # grading.metrics.Measurements.to_dict()
    criteria: list[CriterionGrade] = Field(default_factory=list)
    overall: Overall
    strengths: list[str] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)
    better_replies: list[BetterReply] = Field(default_factory=list)
    weakest_turns: list[WeakTurn] = Field(default_factory=list)
    fell_back: list[str] = Field(default_factory=list)  # criterion ids scored from evidence instead of the judge
    dropped: list[dict[str, Any]] = Field(default_factory=list)  # what was dropped from the judge's output, and why
    calls: list[dict[str, Any]] = Field(default_factory=list)  # the judge calls' records (no keys)
    wall_time_s: Number = 0.0

    @property
    def by_evidence(self) -> bool:
        return self.method == "evidence"

    def criterion(self, cid: str) -> CriterionGrade | None:
        return next((c for c in self.criteria if c.id == cid), None)


class UnreadableEvaluation:
    """A saved evaluation that cannot be read, kept exactly as it was on disk."""

    def __init__(self, raw: Any, problem: str):
        self.raw = raw
        self.problem = problem

    def to_dict(self) -> Any:
        return self.raw

    def __repr__(self) -> str:
        return f"UnreadableEvaluation({self.problem!r})"


def read_evaluation(raw: Any) -> Evaluation | UnreadableEvaluation:
    """An evaluation read from a file, or why it cannot be read (never an exception)."""
    if isinstance(raw, Evaluation):
        return raw
    try:
        return Evaluation.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "the evaluation"
        return UnreadableEvaluation(raw, f"{where}: {error['msg']}")
    except RecursionError:
        return UnreadableEvaluation(raw, "nested too deeply")
