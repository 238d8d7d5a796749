"""End: how the session ended, where it was saved, and the transcript.

The evaluator (grading against the rubric) is not wired in yet: ``#evaluation`` is
its place. When it lands, start it as a worker from ``on_mount`` with the evaluator
settings (``app.settings.evaluator``) and replace that panel's text with the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from .widgets import (STYLES, OUTCOME_HEADLINES, bubble_for_turn, display_folder, format_elapsed,
                      learner_turns)

if TYPE_CHECKING:
    from ..sessions import SessionRecord
    from .app import RoleplayApp


class EndScreen(Screen):
    """The summary after a session ends."""

    CSS_PATH = STYLES / "end.tcss"
    BINDINGS = [
        Binding("enter,escape", "library", "Library", id="end.library"),
        Binding("p", "practise_again", "Practise again", id="end.again"),
        Binding("h", "app.open_history", "History", id="end.history"),
        Binding("q", "app.quit", "Quit", id="end.quit", show=False),
    ]
    PALETTE = [
        ("practice: again with this persona", "practise_again", "Read the same brief and start again"),
        ("library: open", "library", "Back to the persona library"),
    ]

    def __init__(self, record: "SessionRecord", *, elapsed_s: float | None = None) -> None:
        super().__init__()
        self.record = record
        self.outcome = record.outcome
        self.elapsed_s = elapsed_s

    @property
    def rp(self) -> "RoleplayApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        record = self.record
        name = record.persona.get("name", record.persona_id)
        title = record.persona.get("title", "")
        yield Static(f"Session over · {name} — {title}", classes="screen-title", markup=False)
        headline = OUTCOME_HEADLINES.get(self.outcome or "", f"Outcome: {self.outcome}")
        yield Static(f"{headline}  [{self.outcome}]", id="outcome", markup=False)
        hints = sum(1 for t in record.turns if t.speaker == "hint")
        turns = learner_turns(record.turns)
        stats = [f"{turns} turn{'s' if turns != 1 else ''}", f"{hints} hint{'s' if hints != 1 else ''}"]
        if self.elapsed_s is not None:
            stats.append(format_elapsed(self.elapsed_s))
        if record.end_reason and record.end_reason != (self.outcome or "").replace("_", " "):
            stats.append(record.end_reason)
        yield Static(" · ".join(stats), id="stats", markup=False)
        yield Static(f"Transcript saved in {display_folder(record.folder, self.rp.workspace)}", id="saved",
                     markup=False)
        evaluation = Static(self._evaluation_text(), id="evaluation", markup=False)
        evaluation.border_title = "Evaluation"
        yield evaluation
        with VerticalScroll(id="end-transcript", classes="transcript"):
            for turn in record.turns:
                yield bubble_for_turn(turn, name)
        yield Footer()

    def _evaluation_text(self) -> str:
        if self.record.evaluations:
            return "This session has an evaluation; viewing it here is coming soon."
        settings = self.rp.settings
        grader = f" by {settings.evaluator.model}" if settings is not None else ""
        return f"Not graded yet. Grading{grader} against the rubric will appear here."

    def on_mount(self) -> None:
        self.query_one("#end-transcript").focus()

    def action_library(self) -> None:
        self.app.pop_screen()  # the End screen always sits on the library

    def action_practise_again(self) -> None:
        from .brief import BriefScreen

        library = self.rp.library
        persona = library.personas.get(self.record.persona_id) if library else None
        if persona is None:
            self.notify("That persona is no longer in the library.", severity="warning")
            return
        self.app.switch_screen(BriefScreen(persona))
