"""``roleplay sync``, ``roleplay lrs check|status`` and ``roleplay export --format xapi``: the
command line over :mod:`.sync` (``cli.py`` only parses the arguments)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..core.errors import RoleplayError
from ..core.text import bar


class Progress:
    """A one-line bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.shown = False
        self.last = 0.0
        self.on = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.on or not total or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        self.stream.write(f"\rsending {bar(done, total, self.width)} {done:,}/{total:,}")
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (self.width + 30) + "\r")
            self.stream.flush()


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def run_sync(args: Any, workspace: Path) -> int:
    from .sync import sync

    progress = Progress()
    try:
        report = sync(workspace, send=not args.queue_only, requeue=args.requeue, on_progress=progress)
    except (RoleplayError, OSError) as exc:
        progress.end()
        print(f"roleplay sync: {exc}", file=sys.stderr)
        return 2
    progress.end()
    if args.json:
        print(json.dumps({"queued": report.queued.statements, "sent": report.sent.sent if report.sent else 0,
                          "rejected": [{"id": i, "reason": r} for i, r in (report.sent.rejected if report.sent else [])],
                          "waiting": report.waiting, "set_aside": report.rejected, "stopped": report.stopped,
                          "no_learner": report.queued.no_learner, "problems": report.queued.problems}, indent=2))
    else:
        parts = []
        if report.queued.statements:
            parts.append(f"queued {_plural(report.queued.statements, 'statement')} "
                         f"({_plural(report.queued.evaluations, 'evaluation')})")
        sent = report.sent.sent if report.sent else 0
        parts.append(f"sent {_plural(sent, 'statement')}")
        if report.sent and report.sent.rejected:
            parts.append(f"{_plural(len(report.sent.rejected), 'statement')} set aside (see `roleplay lrs status`)")
        parts.append("outbox empty" if not report.waiting else f"{_plural(report.waiting, 'statement')} waiting")
        print("; ".join(parts))
        if report.queued.no_learner:
            print(f"{_plural(report.queued.no_learner, 'graded session')} left out: no learner id (set one with "
                  "`roleplay config --learner NAME`)")
        for problem in report.queued.problems:
            print(f"not queued: {problem}", file=sys.stderr)
        if report.stopped:
            print(f"roleplay sync: {report.stopped}", file=sys.stderr)
    return 1 if report.stopped else 0


def run_lrs(args: Any, workspace: Path) -> int:
    from .outbox import Outbox, OutboxDamaged
    from .sender import check
    from .sync import lrs_settings

    try:
        lrs = lrs_settings(workspace)
    except RoleplayError as exc:
        print(f"roleplay lrs: {exc}", file=sys.stderr)
        return 2
    if args.action == "check":
        if lrs is None:
            print("roleplay lrs: no LRS is configured: add an lrs: block (endpoint, username, password_env) to "
                  "config.yaml or the workspace's roleplay.yaml", file=sys.stderr)
            return 2
        results = check(lrs)
        for found in results:
            print(f"{'ok  ' if found.ok else 'FAIL'} {found.text}")
        return 0 if all(found.ok for found in results) else 1
    outbox = Outbox(workspace)
    try:
        state = outbox.state()
    except (OSError, OutboxDamaged) as exc:
        print(f"roleplay lrs: {exc}", file=sys.stderr)
        return 2
    where = lrs.endpoint if lrs else "no LRS configured"
    print(f"LRS: {where}")
    print(f"outbox: {_plural(len(state.waiting), 'statement')} waiting "
          f"({_plural(state.sessions_waiting, 'session')}), {_plural(len(state.rejected), 'statement')} set aside")
    for item in state.rejected.values():
        print(f"set aside {item.id} (session {item.session_id}): {item.reason}")
    if state.rejected:
        print("`roleplay sync --requeue` sends the set-aside statements again (after the cause is mended)")
    return 0


def run_export(args: Any, workspace: Path) -> int:
    """Statements as JSON for an LMS import: one session, or ``--all``."""
    from ..core.storage import write_out
    from ..practice.sessions import load_session, read_session, sessions_dir
    from ..review.index import session_index
    from .statements import NotSendable
    from .sync import lrs_settings, statements_of

    try:
        lrs = lrs_settings(workspace)
        if args.all:
            records = [read_session(sessions_dir(workspace) / row.folder) for row in session_index(workspace)
                       if row.status != "unreadable" and row.evaluations and row.learner]
        elif args.session:
            records = [load_session(workspace, args.session)]
        else:
            print("roleplay export: name a session (or 'last'), or --all", file=sys.stderr)
            return 2
        statements: list[dict[str, Any]] = []
        for record in records:
            for made in statements_of(record, lrs):
                statements += [s.json_dict() for s in made.statements]
        write_out(json.dumps(statements, ensure_ascii=False, indent=2) + "\n", args.output, "statements",
                  force=args.force)
    except (RoleplayError, NotSendable, OSError) as exc:
        print(f"roleplay export: {exc}", file=sys.stderr)
        return 2
    return 0


def doctor_checks(workspace: Path) -> list:
    """The LRS lines of ``roleplay doctor``: none when no LRS is configured."""
    from ..models import doctor
    from .outbox import Outbox
    from .sender import check
    from .sync import lrs_settings

    try:
        lrs = lrs_settings(workspace)
    except RoleplayError:
        return []  # the config check above says what is wrong with the file
    if lrs is None:
        return []
    checks = [doctor.ok("lrs", f.text) if f.ok else
              doctor.warn("lrs", f.text, "the results wait in the outbox; `roleplay sync` sends them") if f.offline
              else doctor.problem("lrs", f.text, "see `roleplay lrs check`") for f in check(lrs)]
    waiting = Outbox(workspace).count()
    if waiting:
        checks.append(doctor.info("lrs", f"{_plural(waiting, 'statement')} waiting in the outbox",
                                  "`roleplay sync` sends them"))
    return checks
