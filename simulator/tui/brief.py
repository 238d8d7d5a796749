"""Brief: what the learner reads before a session (and can read again during it).

Enter starts (the app opens the session), Esc goes back. Only the learner-facing fields are
shown: title, brief, skills, difficulty and the turn limit. The customer's character, facts, hidden facts, frustration triggers and
end conditions are for the model and never appear here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from .flow import BriefChoice
from .widgets import STYLES, brief_widgets

if TYPE_CHECKING:
    from ..content.persona import Persona


class BriefScreen(Screen[BriefChoice]):
    """The brief before a session: Enter starts, Escape goes back."""

    CSS_PATH = STYLES / "brief.tcss"
    BINDINGS = [
        Binding("enter", "start", "Start", id="brief.start"),
        Binding("escape", "back", "Back", id="brief.back"),
    ]
    PALETTE = [
        ("practice: start", "start", "Start the conversation with this customer"),
        ("practice: back to library", "back", "Pick another persona"),
    ]

    def __init__(self, persona: "Persona") -> None:
        super().__init__()
        self.persona = persona

    def compose(self) -> ComposeResult:
        yield Static(f"Brief · {self.persona.name} — {self.persona.title}", classes="screen-title",
                     markup=False)
        yield from brief_widgets(self.persona)
        yield Static("Read the brief, then press Enter to meet the customer.", classes="hint-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(".brief-body").focus()

    def action_start(self) -> None:
        self.dismiss(BriefChoice.START)

    def action_back(self) -> None:
        self.dismiss(BriefChoice.BACK)
