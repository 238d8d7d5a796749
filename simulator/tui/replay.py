"""Replay: a saved session turn by turn, with the feedback attached to the turn it talks
about, the frustration meter as it was then, and "try again from here" on any of the
learner's turns (t): the screen dismisses with ``TryAgain(turn)`` and the app starts a new
live session from that point; Esc dismisses with None (back to the feedback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from .flow import TryAgain
from .widgets import STYLES, FrustrationMeter, bubble_for_turn

if TYPE_CHECKING:
    from ..practice.sessions import SessionRecord


class ReplayScreen(Screen["TryAgain | None"]):
    """Step through one session."""

    CSS_PATH = STYLES / "replay.tcss"
    BINDINGS = [
        Binding("right,n", "step(1)", "Next", id="replay.next"),
        Binding("left,b", "step(-1)", "Back", id="replay.previous"),
        Binding("home", "jump(0)", "First", id="replay.first"),
        Binding("end", "jump(-1)", "Last", id="replay.last"),
        Binding("t", "try_again", "Try again from here", id="replay.try_again"),
        Binding("escape", "close", "Close", id="replay.close"),
    ]
    PALETTE = [
        ("replay: try again from here", "try_again", "Start a new session from this turn of yours"),
        ("replay: first turn", "jump(0)", "Back to the customer's opening"),
        ("replay: last turn", "jump(-1)", "The end of the session"),
    ]

    def __init__(self, record: "SessionRecord", *, at_turn: int | None = None) -> None:
        super().__init__()
        from ..review.replay import frustration_at, turn_notes

        self.record = record
        self.turns = [t for t in record.turns if t.speaker in ("customer", "learner", "hint")]
        self.notes = turn_notes(record.latest_evaluation())
        self.levels = frustration_at(record)
        self.position = next((i for i, t in enumerate(self.turns) if t.index == at_turn), 0)

    def compose(self) -> ComposeResult:
        name = self.record.persona.get("name", self.record.persona_id)
        yield Static(f"Replay · {name} — {self.record.persona.get('title', '')}", classes="screen-title",
                     markup=False)
        yield Static("", id="replay-step", markup=False)
        with VerticalScroll(id="replay-transcript", classes="transcript"):
            for turn in self.turns:
                bubble = bubble_for_turn(turn, name)
                bubble.id = f"replay-{turn.index}"
                yield bubble
        yield FrustrationMeter(0, id="replay-meter")
        with VerticalScroll(id="replay-notes-box"):
            yield Static("", id="replay-notes", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._show()

    @property
    def current(self):
        return self.turns[self.position] if self.turns else None

    def _show(self) -> None:
        turn = self.current
        if turn is None:
            return
        for i, t in enumerate(self.turns):
            bubble = self.query_one(f"#replay-{t.index}")
            bubble.display = i <= self.position
            bubble.set_class(i == self.position, "evidence")
        who = {"customer": "the customer", "learner": "you", "hint": "the coach"}[turn.speaker]
        self.query_one("#replay-step", Static).update(
            f"Turn {turn.index} of {self.turns[-1].index} · {who}"
            + (" · t tries again from here" if turn.speaker == "learner" else ""))
        self.query_one("#replay-meter", FrustrationMeter).set_value(self.levels.get(turn.index, 0))
        notes = self.notes.get(turn.index, [])
        self.query_one("#replay-notes", Static).update(
            "\n".join(notes) if notes else "No feedback on this turn." if turn.speaker == "learner" else "")
        self.query_one("#replay-transcript").scroll_to_widget(self.query_one(f"#replay-{turn.index}"),
                                                              animate=False)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "try_again":
            return self.current is not None and self.current.speaker == "learner"
        return True

    def action_step(self, step: int) -> None:
        self.position = max(0, min(len(self.turns) - 1, self.position + step))
        self._show()

    def action_jump(self, where: int) -> None:
        self.position = 0 if where == 0 else len(self.turns) - 1
        self._show()

    def action_try_again(self) -> None:
        turn = self.current
        if turn is None or turn.speaker != "learner":
            return
        self.dismiss(TryAgain(turn.index))

    def action_close(self) -> None:
        self.dismiss(None)
