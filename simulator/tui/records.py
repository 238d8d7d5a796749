"""Learning records, the app's job: after a session is graded (and at start, and every few
minutes while some wait) the results go to the LRS in a thread; each pass ends with an
:class:`OutboxChanged` message that the library and History show when something waits."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

RESEND_S = 120.0  # while statements wait, the app tries the LRS again this often


class OutboxChanged(Message):
    """``waiting`` statements are in the outbox; ``note`` says why they wait (the LRS's line)."""

    def __init__(self, waiting: int, note: str = "") -> None:
        super().__init__()
        self.waiting = waiting
        self.note = note


def send_waiting(workspace: Path) -> OutboxChanged:
    """Queue new results and send what waits (blocking: run it in a thread). Never raises."""
    from ..core.errors import RoleplayError
    from ..records.outbox import OutboxDamaged
    from ..records.sync import sync, waiting

    try:
        report = sync(workspace, wait=False)
    except (RoleplayError, OutboxDamaged, OSError) as exc:
        return OutboxChanged(waiting(workspace), str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug here must not end the app: it is said, the results wait
        return OutboxChanged(waiting(workspace), f"sending failed unexpectedly ({exc!r})")
    return OutboxChanged(report.waiting, report.stopped or "")


def outbox_line(waiting: int, note: str = "") -> str:
    """The line the library and History show while results wait ("" when none do)."""
    if not waiting:
        return ""
    line = f"↑ {waiting:,} result statement{'' if waiting == 1 else 's'} waiting for the LRS"
    return line + (f" — {note}" if note else " — they go when it answers (or run `roleplay sync`)")
