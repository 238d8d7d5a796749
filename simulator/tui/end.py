"""End: how the session ended, where it was saved, and the feedback.

The measured figures are shown at once; the judged evaluation is run by the app (so
leaving this screen does not throw it away: this screen posts ``GradeSession`` and the app
calls :meth:`EndScreen.show_grading` as it goes), or the latest saved evaluation is shown
when there is one. A judge that cannot be reached leaves the session "evaluation pending":
g tries again. The screen dismisses with what the learner picks next (``EndChoice``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from .feedback import FeedbackView
from .flow import EndChoice, GradeSession
from .grading import Grading
from .widgets import OUTCOME_HEADLINES, STYLES, display_folder, format_elapsed, learner_turns

if TYPE_CHECKING:
    from ..practice.sessions import SessionRecord


class EndScreen(Screen[EndChoice]):
    """The summary after a session ends."""

    CSS_PATH = STYLES / "end.tcss"
    BINDINGS = [
        # one of the two, by where Esc goes (check_action): the library, or back to History
        Binding("enter,escape", "leave", "Library", id="end.library"),
        Binding("enter,escape", "back", "Back", id="end.back"),
        Binding("p", "practise_again", "Again", id="end.again"),
        Binding("g", "grade", "Regrade", id="end.grade"),
        Binding("r", "replay", "Replay", id="end.replay"),
        Binding("right_square_bracket", "tab(1)", "Next tab", id="end.next_tab"),
        Binding("left_square_bracket", "tab(-1)", "Previous tab", id="end.previous_tab", show=False),
        Binding("h", "history", "History", id="end.history"),
        Binding("q", "app.quit", "Quit", id="end.quit", show=False),
    ]
    PALETTE = [
        ("practice: again with this persona", "practise_again", "Read the same brief and start again"),
        ("library: open", "leave", "Back to the persona library"),
        ("history: back", "back", "Back to the list of sessions"),
        ("feedback: grade again", "grade", "Grade this session again (adds a new evaluation)"),
        ("feedback: next tab", "tab(1)", "Result, Measured, Advice, Compare, Transcript"),
        ("replay: step through this session", "replay", "Turn by turn, with the feedback; t tries again from a turn"),
    ]

    def __init__(self, record: "SessionRecord", *, workspace: Path, elapsed_s: float | None = None,
                 grading: str | None = None, leave: str = "Library") -> None:
        """``grading``: the status of a grading of this session still running; ``leave``: what
        Esc goes back to ("Library", or "Back" for a session opened from History)."""
        super().__init__()
        self.record = record
        self.outcome = record.outcome
        self.workspace = workspace
        self.elapsed_s = elapsed_s
        self.grading = grading
        self.leave = leave

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
        yield Static(f"Transcript saved in {display_folder(record.folder, self.workspace)}", id="saved",
                     markup=False)
        yield FeedbackView(record, customer_name=name, id="feedback")
        yield Footer()

    @property
    def feedback(self) -> FeedbackView:
        return self.query_one("#feedback", FeedbackView)

    def on_mount(self) -> None:
        from ..grading.metrics import measure

        self.earlier: "SessionRecord | None" = None
        self._load_earlier()
        self.feedback.show_measured(measure(self.record).to_dict())
        latest = self.record.latest_evaluation()
        if self.record.evaluations and latest is None:  # edited or damaged on disk
            self.query_one("#feedback-tabs Tabs").focus()
            self.feedback.show_status("The saved evaluation cannot be read (its overall score is missing or "
                                      "damaged). Press g to grade again; the measured figures are in the "
                                      "Measured tab.")
        elif latest is not None:
            self.feedback.show_evaluation(latest)
            self.query_one("#criteria", DataTable).focus()
        else:  # stay on the Result tab, where grading's progress shows
            self.query_one("#feedback-tabs Tabs").focus()
            if self.grading:
                self.feedback.show_status(self.grading)  # still being graded since this screen was last open
            else:
                self.action_grade()

    @property
    def key(self) -> str:
        """The session's key in the app's grading."""
        return Grading.key(self.record)

    def action_tab(self, step: int) -> None:
        """Cycle the feedback tabs: Result, Measured, Advice, Compare, Transcript."""
        from textual.widgets import TabbedContent

        tabs = self.query_one("#feedback-tabs", TabbedContent)
        order = ["tab-result", "tab-measured", "tab-better", "tab-compare", "tab-transcript"]
        tabs.active = order[(order.index(tabs.active) + step) % len(order)]

    def action_grade(self) -> None:
        self.post_message(GradeSession(self.record))

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _load_earlier(self) -> None:
        from ..review.replay import previous_attempt

        earlier = previous_attempt(self.record, self.workspace)
        if earlier is not None:
            self.app.call_from_thread(self._compare, earlier)

    def _compare(self, earlier: "SessionRecord | None" = None) -> None:
        from ..review.replay import compare_lines

        self.earlier = earlier or self.earlier
        if self.earlier is not None:
            self.feedback.show_comparison(compare_lines(self.record, self.earlier))

    def show_grading(self, status: str, evaluation: Any = None) -> None:
        """Called by the app as the grading of this screen's session goes on."""
        if evaluation is None:
            self.feedback.show_status(status)
            return
        self.feedback.show_evaluation(evaluation)
        self._compare()
        # the table was hidden until now: focus it once it has been laid out
        self.call_after_refresh(self.query_one("#criteria", DataTable).focus)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("leave", "back"):
            return (action == "leave") == (self.leave == "Library")
        return True

    def action_leave(self) -> None:
        self.dismiss(EndChoice.LEAVE)

    def action_back(self) -> None:
        self.dismiss(EndChoice.LEAVE)

    def action_practise_again(self) -> None:
        self.dismiss(EndChoice.AGAIN)

    def action_replay(self) -> None:
        self.dismiss(EndChoice.REPLAY)

    def action_history(self) -> None:
        self.dismiss(EndChoice.HISTORY)
