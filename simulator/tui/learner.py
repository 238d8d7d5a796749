"""Asked once: the learner's name or id, kept in the user config and saved with each
session so a trainer's cohort report can tell learners apart. Esc skips (and is not asked
again); `roleplay config --learner NAME` changes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class LearnerModal(ModalScreen[str]):
    """Dismisses with the name given ("" when skipped)."""

    DEFAULT_CSS = """
    LearnerModal { align: center middle; }
    LearnerModal > Vertical { width: 64; height: auto; padding: 1 2; border: round $accent; background: $surface; }
    LearnerModal Static { margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "skip", "Skip", id="learner.skip")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Your name or learner id? It is saved with each session so your trainer's reports "
                         "can tell you apart. Enter saves; Esc skips (change it later with `roleplay config "
                         "--learner NAME`).", markup=False)
            yield Input(placeholder="e.g. Sam Carter or L-0142", id="learner-name", max_length=80)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(" ".join(event.value.split()))

    def action_skip(self) -> None:
        self.dismiss("")
