"""A graded session as xAPI 1.0.3 statements.

For one session and one of its evaluations:

- **attempted** (at the session's start) and **completed** (at its end, with the duration):
  one of each per session, whatever the number of evaluations;
- **passed** or **failed**, with the overall score (``score.scaled`` 0..1 on the rubric's
  scale, ``raw``, ``min``, ``max``), ``success``, ``completion`` and ``duration``;
- **scored**, one per rubric criterion observed (one with no evidence either way is left out
  of the overall score and listed in the overall statement's ``not-observed``), with its score, the reason and the evidence quotes in
  ``result.extensions``; its object is the criterion (an objective) under the persona.

The learner is an ``account`` (the LRS's home page and the learner id saved with the
session); the activity is the persona (a simulation: name, title, difficulty and skills in its
definition); ``registration`` is a UUID derived from the session id. Statement ids are UUIDs
derived from the session id, the evaluation number and the statement's part, so a statement
sent twice is stored once, and a regrade (a new evaluation) sends new statements.

Every statement is checked here (:func:`problems`) before it is queued: an LRS may answer a bad
one with a 500 (Ralph does for ``score.scaled`` 1.7), which says nothing of what is wrong.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from ..models.config import LrsSettings
    from ..practice.evaluation import Evaluation
    from ..practice.sessions import SessionRecord

XAPI_VERSION = "1.0.3"
NAMESPACE = uuid.UUID("6f1c2a0e-9a51-5c8e-bb0b-2f4f3c1d7a10")  # roleplay's: every id below is uuid5 in it
VERBS = {
    "attempted": "http://adlnet.gov/expapi/verbs/attempted",
    "completed": "http://adlnet.gov/expapi/verbs/completed",
    "passed": "http://adlnet.gov/expapi/verbs/passed",
    "failed": "http://adlnet.gov/expapi/verbs/failed",
    "scored": "http://adlnet.gov/expapi/verbs/scored",
}
SIMULATION = "http://adlnet.gov/expapi/activities/simulation"
OBJECTIVE = "http://adlnet.gov/expapi/activities/objective"
DEFAULT_BASE = "https://roleplay.invalid/"  # for an export with no LRS configured (.invalid: no real site)
PLATFORM = "roleplay"


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Account(Part):
    homePage: str
    name: str


class Agent(Part):
    objectType: str = "Agent"
    name: str | None = None
    account: Account


class Verb(Part):
    id: str
    display: dict[str, str]


class Definition(Part):
    type: str
    name: dict[str, str]
    description: dict[str, str] | None = None
    extensions: dict[str, Any] | None = None


class Activity(Part):
    objectType: str = "Activity"
    id: str
    definition: Definition


class Score(Part):
    scaled: float
    raw: float
    min: float
    max: float


class Result(Part):
    score: Score | None = None
    success: bool | None = None
    completion: bool | None = None
    duration: str | None = None
    response: str | None = None
    extensions: dict[str, Any] | None = None


class ContextActivities(Part):
    parent: list[Activity] | None = None
    category: list[Activity] | None = None


class Context(Part):
    registration: str
    platform: str = PLATFORM
    language: str = "en"
    contextActivities: ContextActivities | None = None
    extensions: dict[str, Any] | None = None


class Statement(Part):
    id: str
    actor: Agent
    verb: Verb
    object: Activity = Field(alias="object")
    result: Result | None = None
    context: Context
    timestamp: str


@dataclass(frozen=True)
class Made:
    """The statements of one session's evaluation, and what they are for."""

    session_id: str
    evaluation: int  # its number (1 for the first)
    statements: list[Statement]


class NotSendable(Exception):
    """A session whose statements cannot be made (no learner id, no evaluation): said in one line."""


def statement_id(session_id: str, part: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{session_id}/{part}"))


def registration(session_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{session_id}/registration"))


def duration(seconds: float) -> str:
    """ISO 8601, to the hundredth of a second as xAPI keeps it: ``PT1H2M3.5S``."""
    seconds = max(0.0, round(seconds, 2))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    secs_text = f"{secs:.2f}".rstrip("0").rstrip(".")
    return text + (f"{secs_text}S" if secs or not (hours or minutes) else "")


def _seconds_between(start: str, end: str | None) -> float:
    if not end:
        return 0.0
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return 0.0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._~-]+", "-", text).strip("-") or "x"


class Vocabulary:
    """The activity and extension ids under one base address."""

    def __init__(self, base: str) -> None:
        self.base = base if base.endswith("/") else base + "/"

    def persona(self, persona_id: str) -> str:
        return f"{self.base}personas/{_slug(persona_id)}"

    def criterion(self, persona_id: str, criterion_id: str) -> str:
        return f"{self.persona(persona_id)}/criteria/{_slug(criterion_id)}"

    def rubric(self, rubric_id: str) -> str:
        return f"{self.base}rubrics/{_slug(rubric_id)}"

    def extension(self, name: str) -> str:
        return f"{self.base}extensions/{name}"


def make(record: "SessionRecord", evaluation: "Evaluation", lrs: "LrsSettings | None" = None, *,
         send_transcript: bool | None = None) -> Made:
    """The statements for ``evaluation`` of ``record``; raises :class:`NotSendable`."""
    if not record.learner:
        raise NotSendable(f"session {record.session_id} has no learner id (the learner chose not to give one): "
                          "set one with `roleplay config --learner NAME` for the sessions to come")
    if not record.ended:
        raise NotSendable(f"session {record.session_id} has not ended")
    words = Vocabulary(lrs.base if lrs else DEFAULT_BASE)
    homepage = lrs.account_homepage if lrs else DEFAULT_BASE.rstrip("/")
    transcript = (lrs.send_transcripts if lrs else False) if send_transcript is None else send_transcript
    persona = record.persona_snapshot()
    sid = record.session_id
    actor = Agent(name=record.learner, account=Account(homePage=homepage, name=record.learner))
    activity = Activity(id=words.persona(record.persona_id), definition=Definition(
        type=SIMULATION, name={"en-US": f"{persona.name}: {persona.title}"},
        description={"en-US": f"Customer-service role-play with {persona.name} ({persona.difficulty})"},
        extensions={words.extension("persona-id"): record.persona_id,
                    words.extension("difficulty"): persona.difficulty,
                    words.extension("skills"): list(persona.skills)}))
    rubric_activity = Activity(id=words.rubric(evaluation.rubric_id or record.rubric_id), definition=Definition(
        type="http://adlnet.gov/expapi/activities/assessment",
        name={"en-US": evaluation.rubric_name or record.rubric_id}))
    models = {role: name for role, name in sorted((record.models or {}).items()) if isinstance(name, str)}
    context_ext = {words.extension("session-id"): sid,
                   words.extension("rubric-id"): evaluation.rubric_id or record.rubric_id,
                   words.extension("models"): models,
                   words.extension("grading-method"): evaluation.method,
                   words.extension("judge-model"): evaluation.judge_model,
                   words.extension("evaluation-number"): evaluation.number}
    if record.branched_from:
        context_ext[words.extension("tried-again-from")] = {
            "session-id": str(record.branched_from.get("session_id", "")),
            "turn": record.branched_from.get("turn")}

    def context(*, parent: bool = False) -> Context:
        return Context(registration=registration(sid), extensions=context_ext,
                       contextActivities=ContextActivities(parent=[activity] if parent else None,
                                                           category=[rubric_activity]))

    def verb(name: str) -> Verb:
        return Verb(id=VERBS[name], display={"en-US": name})

    seconds = _seconds_between(record.started_at, record.ended_at)
    number = evaluation.number or 1
    overall = evaluation.overall
    low, high = overall.low, overall.high
    span = (high - low) or 1

    def score(value: float) -> Score:
        raw = round(float(value), 4)
        return Score(scaled=round((raw - low) / span, 4), raw=raw, min=low, max=high)

    completed_ext: dict[str, Any] = {words.extension("outcome"): record.outcome,
                                     words.extension("learner-turns"): sum(1 for t in record.turns
                                                                            if t.speaker == "learner")}
    if transcript:
        completed_ext[words.extension("transcript")] = [{"turn": t.index, "speaker": t.speaker, "text": t.text}
                                                        for t in record.turns]
    statements = [
        Statement(id=statement_id(sid, "attempted"), actor=actor, verb=verb("attempted"), object=activity,
                  context=context(), timestamp=record.started_at),
        Statement(id=statement_id(sid, "completed"), actor=actor, verb=verb("completed"), object=activity,
                  result=Result(completion=True, duration=duration(seconds), extensions=completed_ext),
                  context=context(), timestamp=record.ended_at or record.started_at),
    ]
    passed = bool(overall.passed)
    overall_ext: dict[str, Any] = {words.extension("pass-mark"): overall.pass_mark}
    if overall.not_observed:
        overall_ext[words.extension("not-observed")] = list(overall.not_observed)
    if evaluation.note:
        overall_ext[words.extension("note")] = evaluation.note
    statements.append(Statement(
        id=statement_id(sid, f"evaluation/{number}/{'passed' if passed else 'failed'}"), actor=actor,
        verb=verb("passed" if passed else "failed"), object=activity,
        result=Result(score=score(overall.score), success=passed, completion=True, duration=duration(seconds),
                      extensions={k: v for k, v in overall_ext.items() if v is not None}),
        context=context(), timestamp=evaluation.created_at or record.ended_at or record.started_at))
    for grade in evaluation.criteria:
        if not grade.observed:  # no evidence either way: a score would read as a result (listed in not-observed)
            continue
        extensions: dict[str, Any] = {
            words.extension("criterion-id"): grade.id,
            words.extension("reason"): grade.reason,
            words.extension("evidence"): [{"turn": q.turn, "quote": q.quote} for q in grade.evidence],
            words.extension("weight"): grade.weight,
        }
        if grade.fallback:
            extensions[words.extension("fallback")] = grade.fallback
        criterion = Activity(id=words.criterion(record.persona_id, grade.id), definition=Definition(
            type=OBJECTIVE, name={"en-US": grade.label}))
        statements.append(Statement(
            id=statement_id(sid, f"evaluation/{number}/criteria/{grade.id}"), actor=actor, verb=verb("scored"),
            object=criterion, result=Result(score=score(grade.score), extensions=extensions),
            context=context(parent=True),
            timestamp=evaluation.created_at or record.ended_at or record.started_at))
    return Made(session_id=sid, evaluation=number, statements=statements)


_DURATION = re.compile(r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


def problems(statement: dict[str, Any]) -> list[str]:
    """What makes ``statement`` (as sent) one an LRS must refuse, by xAPI 1.0.3; [] when none.
    These are the rules a grade can break (a score out of its scale, a bad duration or time)."""
    found: list[str] = []
    try:
        uuid.UUID(str(statement.get("id", "")))
    except ValueError:
        found.append("id: not a UUID")
    result = statement.get("result") or {}
    sc = result.get("score") or {}
    if sc:
        numbers = {k: sc.get(k) for k in ("scaled", "raw", "min", "max") if k in sc}
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)
               for v in numbers.values()):
            found.append("result.score: every figure must be a finite number")
        else:
            if "scaled" in numbers and not -1 <= numbers["scaled"] <= 1:
                found.append(f"result.score.scaled: {numbers['scaled']} is outside -1..1")
            lo, hi, raw = numbers.get("min"), numbers.get("max"), numbers.get("raw")
            if lo is not None and hi is not None and lo >= hi:
                found.append(f"result.score: min {lo} is not below max {hi}")
            if raw is not None and ((lo is not None and raw < lo) or (hi is not None and raw > hi)):
                found.append(f"result.score.raw: {raw} is outside {lo}..{hi}")
    if "duration" in result and not _DURATION.fullmatch(str(result["duration"])):
        found.append(f"result.duration: '{result['duration']}' is not an ISO 8601 duration")
    try:
        stamp = datetime.fromisoformat(str(statement.get("timestamp", "")))
        if stamp.tzinfo is None:
            found.append("timestamp: no time zone")
    except ValueError:
        found.append(f"timestamp: '{statement.get('timestamp')}' is not an ISO 8601 time")
    for where, iri in (("verb.id", (statement.get("verb") or {}).get("id")),
                       ("object.id", (statement.get("object") or {}).get("id")),
                       ("actor.account.homePage", ((statement.get("actor") or {}).get("account") or {}).get("homePage"))):
        if not isinstance(iri, str) or not _IRI.fullmatch(iri):
            found.append(f"{where}: '{iri}' is not an IRI")
    name = ((statement.get("actor") or {}).get("account") or {}).get("name")
    if not isinstance(name, str) or not name:
        found.append("actor.account.name: empty")
    return found
