"""Session storage: one folder per session in the workspace's ``sessions/``.

::

    sessions/20261123-091500-overcharged-loyal-customer-3f2a/
        journal.jsonl   append-only, one JSON event per line, flushed and fsynced per turn
        session.json    the whole record (format version 1), rewritten atomically

The journal is the source of truth while a session runs: a crash (even ``kill -9``)
loses at most the reply being streamed, and :func:`load_session` rebuilds the record
from the journal, ignoring a torn last line. ``session.json`` is a convenience copy
written atomically (temp file + rename) after every turn and at the end. In the app these
writes run on one writer thread, in order (``Conversation(writer=...)``); a reply waits for
its turn to be on disk without blocking the UI loop.

Journal events: ``header`` (format version, ids, start time, persona and rubric
snapshots, model names), ``turn``, ``retract`` (a learner turn whose reply failed and
was handed back to the learner), ``end`` (outcome), ``evaluation`` (added later,
never overwriting an earlier one).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..core import locations
from ..core.errors import NotFoundError, SessionError
from ..core.ids import id_path
from ..core.storage import atomic_write_text

FORMAT = "roleplay-session"
VERSION = 1
JOURNAL = "journal.jsonl"
RECORD = "session.json"

OUTCOMES = ("resolved", "gave_up", "ended_by_learner", "turn_limit")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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
    state: dict[str, Any] | None = None  # conversation state after this turn
    guard: list[dict[str, Any]] = field(default_factory=list)  # guard decisions for this reply

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
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
    evaluations: list[dict[str, Any]] = field(default_factory=list)
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

    def latest_overall(self) -> tuple[float, bool] | None:
        """(score, passed) of the newest evaluation; None when there is none or it is damaged."""
        overall = self.evaluations[-1].get("overall") if self.evaluations and isinstance(self.evaluations[-1], dict) \
            else None
        if not isinstance(overall, dict) or not isinstance(overall.get("score"), (int, float)):
            return None
        return float(overall["score"]), bool(overall.get("passed"))

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
            "turns": [t.to_dict() for t in self.turns], "evaluations": self.evaluations,
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
        journal.append({"type": "header", "format": FORMAT, "version": VERSION,
                        "session_id": record.session_id, "started_at": record.started_at,
                        "persona_id": record.persona_id, "persona": record.persona,
                        "rubric_id": record.rubric_id, "rubric": record.rubric, "models": record.models}
                       | ({"branched_from": record.branched_from} if record.branched_from else {})
                       | ({"learner": record.learner} if record.learner else {}))
        return journal

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise SessionError(f"{self.path}: cannot save the turn ({exc.strerror}) — free some disk "
                               "space or check permissions; the session is still open") from None

    def snapshot(self, record: SessionRecord) -> None:
        """Rewrite session.json atomically from the in-memory record."""
        self.write_snapshot(snapshot_text(record))

    def write_snapshot(self, text: str) -> None:
        try:
            atomic_write_text(self.folder / RECORD, text)
        except OSError as exc:
            raise SessionError(f"{self.folder / RECORD}: cannot save the session ({exc.strerror}) — free some "
                               "disk space or check permissions; the journal still holds every turn") from None


def snapshot_text(record: SessionRecord) -> str:
    """session.json's text for ``record`` as it is now."""
    return json.dumps(record.to_dict(), ensure_ascii=False, indent=2)


def _turn(event: dict[str, Any]) -> Turn:
    known = set(Turn.__dataclass_fields__)
    return Turn(**{k: v for k, v in event.items() if k in known})


def read_journal(folder: Path) -> SessionRecord:
    """Rebuild a session from its journal, ignoring a torn (half-written) last line."""
    path = Path(folder) / JOURNAL
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise NotFoundError(f"{folder}: not a session (no {JOURNAL})") from None
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn last line from a crash mid-write: everything before it is intact
            raise SessionError(f"{path}:{number}:1: damaged journal line — the session cannot be read "
                               "past this point") from None
    if not events or events[0].get("type") != "header":
        raise SessionError(f"{path}:1:1: the journal has no header — not a roleplay session")
    head = events[0]
    if head.get("version", 1) > VERSION:
        raise SessionError(f"{path}:1:1: session format version {head.get('version')} is newer than this "
                           f"roleplay reads ({VERSION}) — upgrade roleplay")
    record = SessionRecord(session_id=head["session_id"], started_at=head["started_at"],
                           persona_id=head["persona_id"], persona=head["persona"],
                           rubric_id=head["rubric_id"], rubric=head["rubric"], models=head.get("models", {}),
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
            record.evaluations.append(event.get("evaluation", {}))
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
    """A session from its journal; a folder holding only ``session.json`` is read from that
    copy. Raises :class:`SessionError` saying what is wrong and where."""
    folder = Path(folder)
    if (folder / JOURNAL).is_file():
        try:
            return read_journal(folder)
        except (KeyError, TypeError, AttributeError) as exc:
            raise SessionError(f"{folder / JOURNAL}:1:1: the header lacks {exc} — not a session this "
                               "roleplay wrote") from None
    path = folder / RECORD
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"{folder}: not a session (no {JOURNAL})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SessionError(f"{path}: unreadable ({exc}) and there is no {JOURNAL} to rebuild it from") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"{path}:1:1: not a roleplay session file")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise SessionError(f"{path}:1:1: session format version {data.get('version')} is newer than this "
                           f"roleplay reads ({VERSION}) — upgrade roleplay")
    try:
        return SessionRecord(
            session_id=data["session_id"], started_at=data["started_at"], persona_id=data["persona_id"],
            persona=data["persona"], rubric_id=data["rubric_id"], rubric=data["rubric"],
            models=data.get("models", {}), turns=[_turn(t) for t in data.get("turns", [])],
            ended_at=data.get("ended_at"), outcome=data.get("outcome"), end_reason=data.get("end_reason"),
            evaluations=list(data.get("evaluations", [])), pending_reason=data.get("pending_reason"),
            branched_from=data.get("branched_from"), learner=data.get("learner"), folder=folder)
    except (KeyError, TypeError) as exc:
        raise SessionError(f"{path}:1:1: missing {exc} — the file is damaged") from None


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
