"""The outbox: statements waiting for the LRS, on disk, in ``<workspace>/outbox/``.

One append-only journal (``journal.jsonl``, each line fsynced, as a session's journal is):

- ``queued``: one evaluation's statements (session id, evaluation number, the statements);
- ``sent``: ids the LRS has (it stored them, or had them already);
- ``rejected``: an id the LRS (or our own check) refused, with the reason: set aside, kept.

What is waiting is every queued id neither sent nor rejected. A kill -9 at any moment loses
nothing: a statement is on disk before it is sent, and marked sent only after the LRS said
so; one sent but not yet marked is sent again, and the LRS stores it once (the ids are
derived from the session, so it is the same statement). A torn last line (a crash
mid-write) is skipped. When nothing waits the journal is compacted to the keys of what was
queued (so a session is never queued twice) and the set-aside statements.

One process at a time works on the outbox (``lock()``: an flock on ``outbox/.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..core.storage import atomic_write_text
from ..practice.sessions import CannotSave, Journal
from .statements import Made

FOLDER = "outbox"
FORMAT = "roleplay-outbox"
VERSION = 1
COMPACT_BYTES = 1 << 20  # compact a journal this big once nothing waits


@dataclass
class Waiting:
    """A statement in the outbox, and the evaluation it belongs to."""

    id: str
    statement: dict[str, Any]
    session_id: str
    evaluation: int


@dataclass
class Rejected:
    id: str
    statement: dict[str, Any]
    session_id: str
    reason: str


@dataclass
class OutboxState:
    waiting: dict[str, Waiting] = field(default_factory=dict)  # in the order queued
    rejected: dict[str, Rejected] = field(default_factory=dict)
    queued_keys: set[str] = field(default_factory=set)  # "session_id#evaluation" ever queued
    sent: int = 0  # statements sent, since the last compaction

    @property
    def sessions_waiting(self) -> int:
        return len({w.session_id for w in self.waiting.values()})


class OutboxDamaged(Exception):
    """A line of the journal cannot be read (not the last: that is a torn write)."""


class _OutboxJournal(Journal):
    def _cannot_save(self, exc: OSError) -> CannotSave:
        return CannotSave(f"{self.path}: cannot write the outbox ({exc.strerror or exc}) — free some disk space "
                          "or check permissions; nothing was lost, the results are queued again next time",
                          str(exc.strerror or exc))


def key(session_id: str, evaluation: int) -> str:
    return f"{session_id}#{evaluation}"


class Outbox:
    def __init__(self, workspace: Path) -> None:
        self.folder = Path(workspace) / FOLDER
        self.path = self.folder / "journal.jsonl"

    # -- reading ---------------------------------------------------------------------------
    def state(self) -> OutboxState:
        state = OutboxState()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return state
        lines = raw.split(b"\n")
        last = len(lines) - 1
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                kind = event["type"]
            except (ValueError, KeyError, TypeError):
                if number == last:  # a last line with no newline: a write a crash cut short
                    break
                raise OutboxDamaged(f"{self.path}:{number + 1}:1: this line of the outbox cannot be read — move "
                                    "the file aside (the statements in it are made again from the sessions "
                                    "by `roleplay sync --requeue`)") from None
            self._apply(state, kind, event)
        return state

    @staticmethod
    def _apply(state: OutboxState, kind: str, event: dict[str, Any]) -> None:
        if kind == "queued":
            state.queued_keys.add(key(event["session_id"], event["evaluation"]))
            for statement in event["statements"]:
                sid = statement["id"]
                if sid not in state.rejected:
                    state.waiting[sid] = Waiting(sid, statement, event["session_id"], event["evaluation"])
        elif kind == "sent":
            for sid in event["ids"]:
                if state.waiting.pop(sid, None) is not None:
                    state.sent += 1
        elif kind == "rejected":
            found = state.waiting.pop(event["id"], None)
            statement = found.statement if found else event.get("statement", {})
            session = found.session_id if found else event.get("session_id", "")
            state.rejected[event["id"]] = Rejected(event["id"], statement, session, event["reason"])
        elif kind == "ledger":
            state.queued_keys.update(event["keys"])
        elif kind == "requeue":  # set-aside statements given another chance
            for sid in event["ids"]:
                found_r = state.rejected.pop(sid, None)
                if found_r is not None:
                    state.waiting[sid] = Waiting(sid, found_r.statement, found_r.session_id, 0)

    def count(self) -> int:
        """Statements waiting (0 when there is no outbox or it cannot be read)."""
        try:
            return len(self.state().waiting)
        except (OSError, OutboxDamaged):
            return 0

    # -- writing (under lock()) -----------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold the outbox for this process; yields False when ``wait`` is off and another has it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _append(self, event: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _OutboxJournal(self.folder).append(event)

    def queue(self, made: Made, state: OutboxState | None = None) -> int:
        """Queue one evaluation's statements; 0 when it was queued before."""
        state = state or self.state()
        k = key(made.session_id, made.evaluation)
        if k in state.queued_keys:
            return 0
        statements = [s.json_dict() for s in made.statements]
        self._append({"type": "queued", "session_id": made.session_id, "evaluation": made.evaluation,
                      "statements": statements})
        state.queued_keys.add(k)
        for statement in statements:
            state.waiting[statement["id"]] = Waiting(statement["id"], statement, made.session_id, made.evaluation)
        return len(statements)

    def mark_sent(self, ids: list[str], state: OutboxState | None = None) -> None:
        if ids:
            self._append({"type": "sent", "ids": ids})
            if state is not None:
                for sid in ids:
                    if state.waiting.pop(sid, None) is not None:
                        state.sent += 1

    def reject(self, item: Waiting, reason: str, state: OutboxState | None = None) -> None:
        self._append({"type": "rejected", "id": item.id, "reason": reason, "session_id": item.session_id,
                      "statement": item.statement})
        if state is not None:
            state.waiting.pop(item.id, None)
            state.rejected[item.id] = Rejected(item.id, item.statement, item.session_id, reason)

    def requeue_rejected(self, state: OutboxState) -> int:
        ids = list(state.rejected)
        if ids:
            self._append({"type": "requeue", "ids": ids})
            for sid in ids:
                r = state.rejected.pop(sid)
                state.waiting[sid] = Waiting(sid, r.statement, r.session_id, 0)
        return len(ids)

    def compact(self, state: OutboxState) -> bool:
        """When nothing waits and the journal has grown: rewrite it as the ledger of queued keys
        and the set-aside statements (atomic: a crash leaves the old journal or the new)."""
        if state.waiting:
            return False
        try:
            if self.path.stat().st_size < COMPACT_BYTES:
                return False
        except FileNotFoundError:
            return False
        lines = [{"type": "ledger", "format": FORMAT, "version": VERSION, "keys": sorted(state.queued_keys)}]
        lines += [{"type": "rejected", "id": r.id, "reason": r.reason, "session_id": r.session_id,
                   "statement": r.statement} for r in state.rejected.values()]
        atomic_write_text(self.path, "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
                                             for line in lines))
        with contextlib.suppress(OSError):  # the rename is on disk too
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        state.sent = 0
        return True
