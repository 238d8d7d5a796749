"""Brief: what the learner reads before a session (and can read again during it).

Only the learner-facing fields are shown: title, brief, skills, difficulty and the
turn limit. The customer's character, facts, hidden facts, frustration triggers and
end conditions are for the model and never appear here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Markdown, Static

from .widgets import STYLES

if TYPE_CHECKING:
    from ..content.persona import Persona
    from .app import RoleplayApp


def brief_facts(persona: "Persona") -> str:
    skills = ", ".join(s.replace("-", " ") for s in persona.skills)
    return (f"Difficulty: {persona.difficulty} · Skills practised: {skills} · "
            f"Turn limit: {persona.end.max_turns} of your messages")


def brief_widgets(persona: "Persona") -> ComposeResult:
    yield Static(brief_facts(persona), classes="brief-facts", markup=False)
    with VerticalScroll(classes="brief-body", can_focus=True):
        yield Markdown(persona.brief, classes="brief-text")


class BriefScreen(Screen):
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
        app: "RoleplayApp" = self.app  # type: ignore[assignment]
        app.prime(self.persona)  # the model reads the customer's prompt while the learner reads this

    def action_start(self) -> None:
        app: "RoleplayApp" = self.app  # type: ignore[assignment]
        conversation = app.start_conversation(self.persona)
        if conversation is None:
            return
        from .chat import ChatScreen

        app.switch_screen(ChatScreen(conversation))

    def action_back(self) -> None:
        self.app.pop_screen()


class BriefModal(ModalScreen[None]):
    """The brief again, over the chat."""

    CSS_PATH = STYLES / "brief.tcss"
    BINDINGS = [
        Binding("escape,f3,enter", "close", "Close", id="brief.close"),
    ]

    def __init__(self, persona: "Persona") -> None:
        super().__init__()
        self.persona = persona

    def compose(self) -> ComposeResult:
        with Vertical(id="brief-dialog"):
            yield Static(f"Brief · {self.persona.name} — {self.persona.title}", classes="screen-title",
                         markup=False)
            yield from brief_widgets(self.persona)
            yield Static("Esc closes the brief.", classes="hint-line")

    def on_mount(self) -> None:
        self.query_one(".brief-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
