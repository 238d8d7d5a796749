"""Graded sessions to the LRS: queue what is new, send what waits. Used by ``roleplay sync``,
``roleplay lrs``, the app (after grading, in the background) and ``roleplay export --format xapi``.

Every graded session of the workspace is queued once per evaluation (a regrade queues the new
one), those graded before the LRS was configured too; a session without a learner id is
left out (the statements need one) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .outbox import Outbox, OutboxState, key
from .sender import LrsError, SendReport, Sender
from .statements import Made, NotSendable, make

if TYPE_CHECKING:
    from ..models.config import LrsSettings
    from ..practice.sessions import SessionRecord


@dataclass
class Queued:
    statements: int = 0
    evaluations: int = 0
    no_learner: int = 0  # graded sessions left out: no learner id
    problems: list[str] = field(default_factory=list)  # sessions that could not be read


@dataclass
class SyncReport:
    queued: Queued
    sent: SendReport | None = None
    waiting: int = 0  # statements still in the outbox
    rejected: int = 0  # statements set aside (ever, until requeued)
    stopped: str | None = None  # why sending stopped (LrsError's line)
    busy: bool = False  # another process held the outbox


def lrs_settings(workspace: Path) -> "LrsSettings | None":
    from ..models.config import load_settings

    return load_settings(workspace).lrs


def statements_of(record: "SessionRecord", lrs: "LrsSettings | None", *, latest_only: bool = False,
                  send_transcript: bool | None = None) -> list[Made]:
    """Each readable evaluation's statements (or the latest's); raises NotSendable."""
    from ..practice.evaluation import Evaluation

    evaluations = [e for e in record.evaluations if isinstance(e, Evaluation)]
    if latest_only:
        evaluations = evaluations[-1:]
    if not evaluations:
        raise NotSendable(f"session {record.session_id} has no evaluation that can be read: grade it first "
                          "(`roleplay evaluate`)")
    made = []
    for number, evaluation in enumerate(evaluations, 1):
        if not evaluation.number:
            evaluation = evaluation.model_copy(update={"number": number})
        made.append(make(record, evaluation, lrs, send_transcript=send_transcript))
    return made


def collect(workspace: Path, lrs: "LrsSettings", outbox: Outbox, state: OutboxState) -> Queued:
    """Queue every evaluation not queued before (hold ``outbox.lock()``)."""
    from ..core.errors import RoleplayError
    from ..practice.sessions import read_session, sessions_dir
    from ..review.index import session_index

    queued = Queued()
    for row in session_index(workspace):
        if row.status == "unreadable" or not row.evaluations:
            continue
        if not row.learner:
            queued.no_learner += 1
            continue
        if all(key(row.session_id, n) in state.queued_keys for n in range(1, row.evaluations + 1)):
            continue
        try:
            record = read_session(sessions_dir(workspace) / row.folder)
            made = statements_of(record, lrs)
        except (RoleplayError, NotSendable, OSError) as exc:
            queued.problems.append(str(exc))
            continue
        for one in made:
            count = outbox.queue(one, state)
            if count:
                queued.statements += count
                queued.evaluations += 1
    return queued


def sync(workspace: Path, *, send: bool = True, wait: bool = True, requeue: bool = False,
         on_progress: Callable[[int, int], None] | None = None, sender: Sender | None = None) -> SyncReport:
    """Queue what is new, then send what waits. ``wait`` off: give up at once when another
    process holds the outbox (the app's background send). Raises :class:`LrsError` for a
    configuration that cannot work (no LRS, no password)."""
    lrs = lrs_settings(workspace)
    if lrs is None:
        raise LrsError("no LRS is configured: add an lrs: block (endpoint, username, password_env) to config.yaml "
                       "or the workspace's roleplay.yaml — see `roleplay config` and the README's \"Results to "
                       "your LRS\"")
    outbox = Outbox(workspace)
    with outbox.lock(wait=wait) as held:
        if not held:
            return SyncReport(queued=Queued(), busy=True, waiting=outbox.count())
        state = outbox.state()
        if requeue:
            outbox.requeue_rejected(state)
        queued = collect(workspace, lrs, outbox, state)
        report = SyncReport(queued=queued)
        if send and state.waiting:
            try:
                own = sender is None
                sender = sender or Sender(lrs)
                try:
                    report.sent = sender.send(outbox, state, on_progress)
                finally:
                    if own:
                        sender.close()
            except LrsError as exc:
                report.stopped = str(exc)
        outbox.compact(state)
        report.waiting = len(state.waiting)
        report.rejected = len(state.rejected)
        return report


def waiting(workspace: Path) -> int:
    """Statements waiting in the outbox (for the app's footer and History)."""
    return Outbox(workspace).count()
