"""Session storage: one folder per session in the workspace's ``sessions/``.

::

    sessions/20261123-091500-overcharged-loyal-customer-3f2a/
        journal.jsonl   append-only, one JSON event per line, flushed and fsynced per turn
        session.json    the whole record (format version 1), rewritten atomically

The journal is the source of truth while a session runs: a crash (even ``kill -9``)
loses at most the reply being streamed, and :func:`load_session` rebuilds the record
from the journal, ignoring a torn last line. An append that fails part-way (a full disk)
is cut back off, and a torn last line left by a crash is cut before the next append, so
a torn line never ends up before whole ones. ``session.json`` is a convenience copy
written atomically (temp file + rename) after every turn and at the end; a journal
damaged before its last line is read from it. Every value read is checked against the
record's types: a damaged file is a :class:`SessionError` that says where and what
(``journal.jsonl:5:1: damaged journal line (text: expected text, got null)``), never a
crash in whatever reads the record later. In the app these writes run on one writer
thread, in order (``Conversation(writer=...)``); a reply waits for its turn to be on disk
without blocking the UI loop.

Journal events: ``header`` (format version, ids, start time, persona and rubric
snapshots, model names), ``turn``, ``retract`` (a learner turn whose reply failed and
was handed back to the learner), ``end`` (outcome), ``evaluation`` (added later,
never overwriting an earlier one).
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Union, get_args, get_origin, get_type_hints

from ..core import locations
from ..core.errors import NotFoundError, SessionError
from ..core.ids import id_path
from ..core.storage import atomic_write_text

if TYPE_CHECKING:  # imported when a session is read (pydantic): listing sessions from the index does without
    from .evaluation import Evaluation, UnreadableEvaluation

FORMAT = "roleplay-session"
VERSION = 1
JOURNAL = "journal.jsonl"
RECORD = "session.json"



def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class TurnState:
    """The conversation's state after a turn: the fields of practice.director.ConversationState
    (each optional: a file written by hand or by an earlier roleplay may leave one out) and,
    on a customer reply, what decided it (the director's decision and the customer's move)."""

    frustration: int | None = None  # 0-10
    revealed: list[int] = field(default_factory=list)  # indices into persona.hidden
    given: list[int] = field(default_factory=list)  # indices into persona.facts already told
    outcome: str | None = None  # resolved | gave_up | ended_by_learner | turn_limit
    learner_turns: int | None = None
    decision: Any = None  # the director's decision (practice.director.Decision.to_dict())
    move: Any = None  # the customer's move (practice.moves.Move.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """As saved: what is not known is left out (``outcome`` is always written)."""
        return {k: v for k, v in asdict(self).items() if v is not None or k == "outcome"}


@dataclass
class SpokenTurn:
    """How a learner turn was spoken (issue 22), recorded by the voice input; every field is
    optional. Times are seconds. Saved on the turn as ``voice`` only when the turn has one."""

    spoken: bool = True  # said aloud (False: voice was on, but this turn was typed)
    duration_s: float | None = None  # the learner's utterance, first word to last
    words: int | None = None  # words recognised
    speech_started_s: float | None = None  # from the customer's last words ending (or listening starting) to speech
    pauses_s: list[float] = field(default_factory=list)  # pauses inside the utterance longer than the recorder's threshold
    talk_over_s: float | None = None  # the learner spoke while the customer's voice was still playing
    recognised: str | None = None  # the text as recognised, before any edit
    edited: bool | None = None  # the learner changed the recognised text before sending

    def to_dict(self) -> dict[str, Any]:
        """As saved: what is not known is left out."""
        return {k: v for k, v in asdict(self).items() if v not in (None, [])}


@dataclass
class Turn:
    """One message in the conversation."""

    index: int
    speaker: str  # "customer" | "learner" | "hint"
    text: str
    at: str = field(default_factory=now_iso)
    response_time_s: float | None = None  # learner: seconds from the customer's last message to sending
    latency_s: float | None = None  # customer/hint: model time for the reply
    first_token_s: float | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)  # gateway call records (no keys)
    state: TurnState | None = None  # conversation state after this turn
    guard: list[dict[str, Any]] = field(default_factory=list)  # guard decisions for this reply
    acts: list[str] = field(default_factory=list)  # learner: what the message does (practice.meaning), best first
    read_by: str | None = None  # learner: how it was read, "embeddings" or "stems"; None: not read when sent
    voice: SpokenTurn | None = None  # learner: how it was spoken; None: typed (or before voice existed)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.to_dict() if self.state is not None else None
        data["voice"] = self.voice.to_dict() if self.voice is not None else None
        return {k: v for k, v in data.items() if v not in (None, [], {})} | {"text": self.text}


@dataclass
class SessionRecord:
    session_id: str
    started_at: str
    persona_id: str
    persona: dict[str, Any]
    rubric_id: str
    rubric: dict[str, Any]
    models: dict[str, str]
    turns: list[Turn] = field(default_factory=list)
    ended_at: str | None = None
    outcome: str | None = None
    end_reason: str | None = None
    evaluations: list[Evaluation | UnreadableEvaluation] = field(default_factory=list)  # oldest first
    pending_reason: str | None = None  # why the judged evaluation is waiting, if it is
    branched_from: dict[str, Any] | None = None  # {"session_id", "turn"}: a try-again from that turn
    learner: str | None = None  # the learner's name or id, for a trainer's cohort reports
    folder: Path | None = None

    def __post_init__(self) -> None:  # a name from a flag or read back from a file: one rule (core.sanitize)
        from ..core.sanitize import learner_name

        self.learner = learner_name(self.learner) or None

    def persona_snapshot(self) -> "Persona":
        """The persona exactly as it was used in this session."""
        from ..content.persona import Persona

        persona = Persona.model_validate(self.persona)
        persona.id = self.persona_id
        return persona

    def rubric_snapshot(self) -> "Rubric":
        """The rubric exactly as it was when the session started."""
        from ..content.rubric import Rubric

        rubric = Rubric.model_validate(self.rubric)
        rubric.id = self.rubric_id
        return rubric

    def latest_evaluation(self) -> Evaluation | None:
        """The newest evaluation; None when there is none or it cannot be read (damaged on disk)."""
        if not self.evaluations:
            return None
        from .evaluation import Evaluation

        latest = self.evaluations[-1]
        return latest if isinstance(latest, Evaluation) else None

    def latest_overall(self) -> tuple[float, bool] | None:
        """(score, passed) of the newest evaluation; None when there is none or it is damaged."""
        latest = self.latest_evaluation()
        return (float(latest.overall.score), latest.overall.passed) if latest else None

    @property
    def evaluation_pending(self) -> bool:
        """Ended, and not graded yet, or graded from evidence after a judge call failed (``pending_reason``)."""
        return self.ended and (not self.evaluations or self.pending_reason is not None)

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "session_id": self.session_id,
            "started_at": self.started_at, "ended_at": self.ended_at,
            "outcome": self.outcome, "end_reason": self.end_reason,
            "persona_id": self.persona_id, "rubric_id": self.rubric_id, "models": self.models,
            "persona": self.persona, "rubric": self.rubric,
            "turns": [t.to_dict() for t in self.turns], "evaluations": [e.to_dict() for e in self.evaluations],
            "evaluation_pending": self.evaluation_pending, "pending_reason": self.pending_reason,
        } | ({"branched_from": self.branched_from} if self.branched_from else {}) \
            | ({"learner": self.learner} if self.learner else {})

    @property
    def graded_from(self) -> int:
        """The first turn this session's grade covers: a try-again from a turn of an earlier
        session is graded on what the learner wrote from that turn on (the turns before it
        are the earlier session's, kept as context)."""
        turn = (self.branched_from or {}).get("turn")
        return turn if isinstance(turn, int) and turn > 0 else 0


def answered_turns(turns: Any) -> int:
    """Learner turns the customer answered: a last message left unanswered by a crash is
    handed back on resume, so it is not counted (the resumed screen says the same)."""
    spoken = [t for t in turns if t.speaker in ("learner", "customer")]
    return sum(1 for t, after in zip(spoken, spoken[1:] + [None]) if t.speaker == "learner" and after is not None)


def new_session_id(persona_id: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{persona_id}-{secrets.token_hex(2)}"


def sessions_dir(workspace: Path) -> Path:
    return Path(workspace) / locations.SESSIONS


class CannotSave(SessionError):
    """A write of a session's files failed (a full disk, no permission); ``reason`` says why."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def cannot_start(folder: Path, error: BaseException) -> SessionError:
    """The one line for a session whose first writes failed (and whose folder is gone)."""
    reason = getattr(error, "reason", None) or str(error)
    return SessionError(f"{folder}: cannot start the session ({reason}) — free some disk space or check "
                        "permissions, then start again")


class Journal:
    """Append-only writer for one session folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / JOURNAL

    @classmethod
    def create(cls, record: SessionRecord, workspace: Path) -> "Journal":
        folder = id_path(sessions_dir(workspace), record.session_id, "session id")  # never outside sessions/
        try:
            folder.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise SessionError(f"{folder}: a session with this id already exists") from None
        except OSError as exc:
            raise SessionError(f"{folder}: cannot create the session folder ({exc.strerror}) — check "
                               "that the workspace is writable") from None
        record.folder = folder
        journal = cls(folder)
        try:
            journal.append({"type": "header", "format": FORMAT, "version": VERSION,
                            "session_id": record.session_id, "started_at": record.started_at,
                            "persona_id": record.persona_id, "persona": record.persona,
                            "rubric_id": record.rubric_id, "rubric": record.rubric, "models": record.models}
                           | ({"branched_from": record.branched_from} if record.branched_from else {})
                           | ({"learner": record.learner} if record.learner else {}))
        except CannotSave as exc:  # nothing began: no empty folder left to be listed as unreadable
            journal.discard()
            raise cannot_start(folder, exc) from None
        return journal

    def discard(self) -> None:
        """Remove a session that never began (its first writes failed): folder and all."""
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)

    def append(self, event: dict[str, Any]) -> None:
        """Add ``event`` as one line, fsynced. A write that fails part-way (a full disk) is cut
        back off, so the journal is as it was: a torn line followed by the next event's line
        would make every line after it unreadable."""
        data = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as exc:
            raise self._cannot_save(exc) from None
        try:
            size = os.fstat(fd).st_size
            size, data = _mend_tail(fd, size, data)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    if written <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    view = view[written:]
                os.fsync(fd)
            except OSError as exc:
                try:
                    os.ftruncate(fd, size)  # back to the last whole line
                    os.fsync(fd)
                except OSError:
                    pass  # the next append cuts the torn tail off (_mend_tail)
                raise self._cannot_save(exc) from None
        except OSError as exc:
            raise self._cannot_save(exc) from None
        finally:
            os.close(fd)

    def _cannot_save(self, exc: OSError) -> CannotSave:
        return CannotSave(f"{self.path}: cannot save the turn ({exc.strerror or exc}) — free some disk "
                          "space or check permissions; the session is still open", str(exc.strerror or exc))

    def snapshot(self, record: SessionRecord) -> None:
        """Rewrite session.json atomically from the in-memory record."""
        self.write_snapshot(snapshot_text(record))

    def write_snapshot(self, text: str) -> None:
        try:
            atomic_write_text(self.folder / RECORD, text)
        except OSError as exc:
            raise CannotSave(f"{self.folder / RECORD}: cannot save the session ({exc.strerror}) — free some "
                             "disk space or check permissions; the journal still holds every turn",
                             str(exc.strerror or exc)) from None


def _mend_tail(fd: int, size: int, data: bytes) -> tuple[int, bytes]:
    """Before appending ``data`` to a journal of ``size`` bytes whose last line has no newline
    (a crash mid-write, or a cut that failed): cut a torn line off (it was never a whole event,
    and the reader skips it only while it is last), or end a whole one with its newline.
    Returns the size to cut back to if the append fails, and the bytes to append."""
    if size == 0 or _read_at(fd, size - 1, 1) == b"\n":
        return size, data
    start = size
    while start > 0:  # the last newline, read back in blocks
        block = _read_at(fd, max(0, start - 65536), min(start, 65536))
        cut = block.rfind(b"\n")
        if cut >= 0:
            start = start - len(block) + cut + 1
            break
        start -= len(block)
    tail = _read_at(fd, start, size - start)
    if isinstance(_event(tail), dict):
        return size, b"\n" + data
    os.ftruncate(fd, start)
    return start, data


def _read_at(fd: int, offset: int, count: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)  # appends still go to the end (O_APPEND)
    return os.read(fd, count)


def _event(line: bytes) -> Any:
    """One journal line decoded, or None when it is not JSON (torn, damaged, nested too deep)."""
    try:
        return json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def snapshot_text(record: SessionRecord) -> str:
    """session.json's text for ``record`` as it is now."""
    return json.dumps(record.to_dict(), ensure_ascii=False, indent=2)


# -- reading: every value checked against the record's types, so a damaged file is one
# "unreadable" line that says where and what, never a crash in whatever reads it later

SPEAKERS = ("customer", "learner", "hint")
# the fields of practice.engine.ConversationState, without importing the engine (a test checks)
STATE_TYPES: dict[str, Any] = {"frustration": int, "revealed": list[int], "given": list[int],
                               "outcome": str | None, "learner_turns": int}
_HEADER = ("session_id", "started_at", "persona_id", "persona", "rubric_id", "rubric")  # required
_EVENT_FIELDS = {"header": {}, "end": {"reason": "end_reason", "at": "ended_at"},
                 "evaluation_pending": {"reason": "pending_reason"}}  # event key -> record field


def in_range(number: int | float) -> bool:
    """A whole number that fits 64 bits, or a finite number: what this app writes."""
    return -2 ** 63 <= number < 2 ** 63 if isinstance(number, int) else math.isfinite(number)


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not in_range(value):
        return "a number out of range"
    for kind, name in ((bool, "true/false"), (int, "a number"), (float, "a number"), (str, "text"),
                       (list, "a list"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _hint_name(hint: Any) -> str:
    if get_origin(hint) in (Union, UnionType):
        return " or ".join(_hint_name(h) for h in get_args(hint))
    kind = get_origin(hint) or hint
    return {type(None): "null", str: "text", int: "a whole number", float: "a number", bool: "true/false",
            list: "a list", dict: "an object"}.get(kind, getattr(kind, "__name__", str(kind)))


@cache
def _accepts(hint: Any) -> Callable[[Any], bool]:
    """A quick yes/no test of a value read from JSON against a field's type (see :func:`type_problem`)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return lambda value: True
    if origin in (Union, UnionType):
        members = tuple(_accepts(h) for h in args)
        return lambda value: any(test(value) for test in members)
    if origin is list or hint is list:
        item = _accepts(args[0] if args else Any)
        return lambda value: isinstance(value, list) and all(map(item, value))
    if origin is dict or hint is dict:
        key, item = (_accepts(h) for h in (args or (Any, Any)))
        return lambda value: isinstance(value, dict) and all(key(k) and item(v) for k, v in value.items())
    if hint is type(None):
        return lambda value: value is None
    if hint in (int, float):  # never true/false (a bool is an int to Python, not to JSON)
        kinds = (int,) if hint is int else (int, float)
        return lambda value: type(value) in kinds and in_range(value)
    return lambda value: isinstance(value, hint)


def type_problem(value: Any, hint: Any, where: str) -> str | None:
    """Why ``value`` (read from a JSON file) is not of the type ``hint`` (a dataclass field's:
    str, int, float, bool, None, Any, list[...], dict[...], unions), naming the innermost
    place that is wrong (``turns[3].text``); None when it is."""
    if _accepts(hint)(value):
        return None
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):  # the member of the value's kind says where inside it is wrong
        same = [h for h in args if get_origin(h) in (list, dict) and isinstance(value, get_origin(h))]
        if len(same) == 1:
            return type_problem(value, same[0], where)
    elif origin is list and isinstance(value, list):
        return next(type_problem(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)
                    if not _accepts(args[0])(v))
    elif origin is dict and isinstance(value, dict):
        return next(type_problem(k, args[0], f"{where} key") or type_problem(v, args[1], f"{where}.{k}")
                    for k, v in value.items() if not (_accepts(args[0])(k) and _accepts(args[1])(v)))
    return f"{where}: expected {_hint_name(hint)}, got {_json_name(value)}"


@cache
def _hints(cls: type) -> dict[str, Any]:
    if cls is Turn:  # a turn's state and voice are read as objects, each known key checked (_turn_problem)
        return dict(get_type_hints(cls)) | {"state": dict[str, Any] | None, "voice": dict[str, Any] | None}
    if cls is not SessionRecord:
        return dict(get_type_hints(cls))
    from . import evaluation

    hints = dict(get_type_hints(cls, localns=vars(evaluation)))
    # turns are checked one by one; the folder is never read from a file; a damaged evaluation
    # is shown as one (not a damaged session)
    del hints["turns"], hints["folder"]
    hints["evaluations"] = list
    return hints


@cache
def _tests(cls: type) -> dict[str, Callable[[Any], bool]]:
    return {name: _accepts(hint) for name, hint in _hints(cls).items()}


def fields_problem(data: Any, cls: type, required: tuple[str, ...] = (), where: str = "",
                   names: dict[str, str] | None = None) -> str | None:
    """Why the object ``data`` read from a file cannot fill the dataclass ``cls``: not an
    object, a ``required`` key missing, or a known key (``names`` maps keys to fields) of
    the wrong type; None when it can."""
    if not isinstance(data, dict):
        return f"{where or 'the entry'}: expected an object, got {_json_name(data)}"
    prefix = f"{where}." if where else ""
    missing = next((key for key in required if key not in data), None)
    if missing:
        return f"{prefix}{missing}: missing"
    hints, tests, names = _hints(cls), _tests(cls), names or {}
    for key, value in data.items():
        field = names.get(key, key)
        if field in tests and not tests[field](value):
            return type_problem(value, hints[field], prefix + key)
    return None


def _turn_problem(data: Any, where: str = "") -> str | None:
    problem = fields_problem(data, Turn, ("index", "speaker", "text"), where)
    prefix = f"{where}." if where else ""
    if problem is None and data["speaker"] not in SPEAKERS:
        problem = f"{prefix}speaker: '{str(data['speaker'])[:20]}' is not one of {', '.join(SPEAKERS)}"
    if problem is None and isinstance(data.get("state"), dict):  # what a resumed conversation starts from
        problem = next((p for key, hint in STATE_TYPES.items() if key in data["state"]
                        and (p := type_problem(data["state"][key], hint, f"{prefix}state.{key}"))), None)
    if problem is None and isinstance(data.get("voice"), dict):
        problem = fields_problem(data["voice"], SpokenTurn, where=f"{prefix}voice")
    return problem


@cache
def reader(cls: type) -> Any:
    """A pydantic reader of the dataclass ``cls``: builds one from a dict already checked
    (:func:`fields_problem`), leaving out keys it does not have (a journal event's ``type``)."""
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def _evaluation(data: Any) -> "Evaluation | UnreadableEvaluation":
    from .evaluation import read_evaluation

    return read_evaluation(data)


def _turn(event: dict[str, Any]) -> Turn:
    return reader(Turn).validate_python(event)


def _event_problem(event: Any) -> str | None:
    """Why a journal line's event cannot be read into the record; None when it can."""
    if not isinstance(event, dict):
        return f"expected an event (an object), got {_json_name(event)}"
    kind = event.get("type")
    if not isinstance(kind, str):
        return type_problem(kind, str, "type")
    if kind == "turn":
        return _turn_problem(event)
    if kind in _EVENT_FIELDS:
        return fields_problem(event, SessionRecord, _HEADER if kind == "header" else (), names=_EVENT_FIELDS[kind])
    return None  # retract (its index is only compared), evaluation (a damaged one is shown as such), unknown


def _version_problem(data: dict[str, Any], where: str, *, required: bool) -> SessionError | None:
    """Why the format version in ``data`` cannot be read here (newer, wrong type, missing)."""
    version = data.get("version")
    if version is None and not required:
        return None  # the earliest journals had none
    if isinstance(version, bool) or not isinstance(version, int):
        got = "missing" if version is None else f"expected a whole number, got {_json_name(version)}"
        return SessionError(f"{where}: version: {got} — not a session this roleplay wrote")
    if version > VERSION:
        return SessionError(f"{where}: session format version {version} is newer than this roleplay reads "
                            f"({VERSION}) — upgrade roleplay")
    return None


def read_journal(folder: Path) -> SessionRecord:
    """Rebuild a session from its journal, ignoring a torn (half-written) last line. Every
    event is checked: a damaged line (not JSON, or a value of the wrong type) before the last
    one is a :class:`SessionError` naming its ``path:line:1`` and what is wrong."""
    path = Path(folder) / JOURNAL
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{folder}: not a session (no {JOURNAL})") from None
    except OSError as exc:
        raise SessionError(f"{path}: cannot be read ({exc.strerror or exc}) — check its permissions") from None
    lines = raw.split(b"\n")  # only newlines end events (a U+2028 inside a text does not)
    last = max((n for n, line in enumerate(lines, 1) if line.strip()), default=0)
    events: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        event = _event(line)
        if event is None and number == last:
            break  # torn last line from a crash mid-write: everything before it is intact
        if not events and isinstance(event, dict) and event.get("type") == "header" \
                and (error := _version_problem(event, f"{path}:{number}:1", required=False)):
            raise error  # a newer format: say so, whatever else its header holds
        problem = "not whole JSON: cut short, damaged or nested too deeply" if event is None else _event_problem(event)
        if problem:
            raise SessionError(f"{path}:{number}:1: damaged journal line ({problem}) — the session cannot be read "
                               "past this point")
        events.append(event)
    if not events and last:
        raise SessionError(f"{path}:1:1: the journal's first line (its header) is cut short — the session "
                           "cannot be read")
    if not events or events[0].get("type") != "header":
        raise SessionError(f"{path}:1:1: the journal has no header — not a roleplay session")
    head = events[0]
    record = SessionRecord(session_id=head["session_id"], started_at=head["started_at"],
                           persona_id=head["persona_id"], persona=head["persona"],
                           rubric_id=head["rubric_id"], rubric=head["rubric"], models=head.get("models") or {},
                           branched_from=head.get("branched_from"), learner=head.get("learner"),
                           folder=Path(folder))
    for event in events[1:]:
        kind = event.get("type")
        if kind == "turn":
            record.turns.append(_turn(event))
        elif kind == "retract":
            record.turns = [t for t in record.turns if t.index != event.get("index")]
        elif kind == "end":
            record.outcome = event.get("outcome")
            record.end_reason = event.get("reason")
            record.ended_at = event.get("at")
        elif kind == "evaluation":
            record.evaluations.append(_evaluation(event.get("evaluation", {})))
            record.pending_reason = None
        elif kind == "evaluation_pending":
            record.pending_reason = event.get("reason")
    return record


def load_session(workspace: Path, session: str) -> SessionRecord:
    """A session by id, id prefix, folder path, or ``last``."""
    candidate = Path(session)
    if is_session_folder(candidate):
        return read_session(candidate)
    folders = list_session_folders(workspace)
    if session == "last" and folders:
        return read_session(folders[0])
    matches = [f for f in folders if f.name == session] or [f for f in folders if f.name.startswith(session)]
    if len(matches) == 1:
        return read_session(matches[0])
    if len(matches) > 1:
        raise NotFoundError(f"'{session}' matches {len(matches)} sessions — give more of the id")
    raise NotFoundError(f"no session '{session}' in {sessions_dir(workspace)} — `roleplay sessions` lists them")


def is_session_folder(path: Path) -> bool:
    """Does ``path`` hold a session (a journal, or a session.json)?"""
    return (Path(path) / JOURNAL).is_file() or (Path(path) / RECORD).is_file()


def list_session_folders(workspace: Path) -> list[Path]:
    """Session folders (a journal or a session.json in them), newest first."""
    folder = sessions_dir(workspace)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if is_session_folder(p)),
                  key=lambda p: p.name, reverse=True)


@dataclass
class UnreadableSession:
    """A session folder that cannot be read, and why (listed, never dropped)."""

    folder: Path
    reason: str

    @property
    def session_id(self) -> str:
        return self.folder.name


def read_session(folder: Path) -> SessionRecord:
    """A session from its journal; a folder holding only ``session.json``, or whose journal
    is damaged before its last line, is read from that copy. Raises :class:`SessionError`
    saying what is wrong and where (the journal's error when neither can be read)."""
    folder = Path(folder)
    if (folder / JOURNAL).is_file():
        try:
            return read_journal(folder)
        except SessionError as exc:
            if not (folder / RECORD).is_file():
                raise
            try:
                return read_record(folder)
            except (SessionError, NotFoundError):
                raise exc from None
    return read_record(folder)


def read_record(folder: Path) -> SessionRecord:
    """A session from its ``session.json``, every value checked."""
    folder = Path(folder)
    path = folder / RECORD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"{folder}: not a session (no {JOURNAL})") from None
    except RecursionError:
        raise SessionError(f"{path}: unreadable (nested too deeply to be a session) and there is no readable "
                           f"{JOURNAL} to rebuild it from") from None
    except json.JSONDecodeError as exc:
        raise SessionError(f"{path}:{exc.lineno}:{exc.colno}: unreadable ({exc.msg}) and there is no readable "
                           f"{JOURNAL} to rebuild it from") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise SessionError(f"{path}: unreadable ({exc}) and there is no readable {JOURNAL} to rebuild it "
                           "from") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"{path}:1:1: not a roleplay session file")
    if error := _version_problem(data, f"{path}:1:1", required=True):
        raise error
    turns = data.get("turns", [])
    problem = fields_problem(data, SessionRecord, _HEADER) or (
        type_problem(turns, list, "turns")
        or next((p for i, t in enumerate(turns) if (p := _turn_problem(t, f"turns[{i}]"))), None))
    if problem:
        raise SessionError(f"{path}: {problem} — the file is damaged")
    return SessionRecord(
        session_id=data["session_id"], started_at=data["started_at"], persona_id=data["persona_id"],
        persona=data["persona"], rubric_id=data["rubric_id"], rubric=data["rubric"],
        models=data.get("models") or {}, turns=[_turn(t) for t in turns],
        ended_at=data.get("ended_at"), outcome=data.get("outcome"), end_reason=data.get("end_reason"),
        evaluations=[_evaluation(e) for e in data.get("evaluations") or []], pending_reason=data.get("pending_reason"),
        branched_from=data.get("branched_from"), learner=data.get("learner"), folder=folder)


def scan_sessions(workspace: Path) -> list[SessionRecord | UnreadableSession]:
    """Every session folder, newest first: its record, or why it cannot be read."""
    found: list[SessionRecord | UnreadableSession] = []
    for folder in list_session_folders(workspace):
        try:
            found.append(read_session(folder))
        except (SessionError, NotFoundError, OSError) as exc:
            found.append(UnreadableSession(folder, str(exc)))
    return found


def iter_sessions(workspace: Path) -> Iterator[SessionRecord]:
    """The readable sessions, newest first (:func:`scan_sessions` also lists the others)."""
    for item in scan_sessions(workspace):
        if isinstance(item, SessionRecord):
            yield item
