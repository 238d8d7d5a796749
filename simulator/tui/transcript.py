"""Transcript: an unfinished session from History, read-only; r resumes it (the screen
dismisses with ``TranscriptChoice.RESUME`` and the app carries the session on from its
journal), Esc goes back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from .flow import TranscriptChoice
from .widgets import STYLES, bubble_for_turn, display_folder, format_started, learner_turns, outcome_label

if TYPE_CHECKING:
    from ..practice.sessions import SessionRecord


class TranscriptScreen(Screen[TranscriptChoice]):
    """One past session, read-only."""

    CSS_PATH = STYLES / "history.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="transcript.back"),
        Binding("r", "resume", "Resume", id="transcript.resume"),
    ]
    PALETTE = [
        ("session: resume", "resume", "Carry on with this unfinished session"),
    ]

    def __init__(self, record: "SessionRecord", workspace: Path) -> None:
        super().__init__()
        self.record = record
        self.workspace = workspace

    def compose(self) -> ComposeResult:
        record = self.record
        name = record.persona.get("name", record.persona_id)
        yield Static(f"Transcript · {name} — {record.persona.get('title', '')}", classes="screen-title",
                     markup=False)
        yield Static(f"{format_started(record.started_at)} · {learner_turns(record.turns)} turns · "
                     f"{outcome_label(record.outcome)} · {display_folder(record.folder, self.workspace)}",
                     id="transcript-info", markup=False)
        with VerticalScroll(id="transcript-view", classes="transcript", can_focus=True):
            for turn in record.turns:
                yield bubble_for_turn(turn, name)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#transcript-view").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resume":
            return not self.record.ended
        return True

    def action_resume(self) -> None:
        """Continue an unfinished session from its journal (e.g. after a crash)."""
        self.dismiss(TranscriptChoice.RESUME)

    def action_back(self) -> None:
        self.dismiss(TranscriptChoice.BACK)
