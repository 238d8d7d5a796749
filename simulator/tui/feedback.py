"""Feedback: the evaluation of a session, shown right after it and from the history.

Tabs: the result with a row per criterion (score bar; the highlighted row's reason,
evidence and improvement below it; Enter or j jumps to the evidence's turn in the
transcript), the measured figures, advice on the weakest turns (what went wrong, the
criterion it hurt, what to do instead, and a better reply where a capable judge wrote one
that passed the coach's check), this attempt against the earlier one (a try-again, or the
last session on the same persona), and the transcript itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from ..grading.report import NO_WEAK_TURNS, EvaluationText, evaluation_text, measured_lines
from .widgets import bubble_for_turn

if TYPE_CHECKING:
    from ..grading.metrics import Measurements
    from ..practice.evaluation import Evaluation


class CriteriaTable(DataTable):
    """One row per criterion; Enter jumps to the highlighted criterion's evidence."""

    BINDINGS = [Binding("enter,j", "jump", "Jump to evidence", id="feedback.jump")]

    def action_jump(self) -> None:
        self.post_message(self.JumpRequested(self.cursor_row))

    class JumpRequested(Message):
        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row


def measured_text(measured: "dict[str, Any] | Measurements") -> str:
    return "\n".join(f"• {line}" for line in measured_lines(measured))


def advice_text(text: EvaluationText) -> str:
    """The Advice tab: each weak turn with its faults, then the judge's other better replies."""
    blocks = []
    for w in text.weak_turns:
        lines = [f"Turn {w.turn} · you said: {w.said}"]
        for fault, instead in w.faults:
            lines += [f"  ✗ {fault}", f"    → {instead}"]
        if w.better:
            lines.append(f"  Better: {w.better}")
        blocks.append("\n".join(lines))
    blocks += [f"Turn {b.turn} · you said: {b.said}\n  Better: {b.better}" for b in text.better_replies]
    return "\n\n".join(blocks) or NO_WEAK_TURNS


class FeedbackView(Vertical):
    """Everything the learner gets back from a session."""

    def __init__(self, record, *, customer_name: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.record = record
        self.customer_name = customer_name
        self.evaluation: Evaluation | None = None
        self.text: EvaluationText | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(id="feedback-tabs"):
            with TabPane("Result", id="tab-result"):
                yield Static("", id="result", markup=False)
                table = CriteriaTable(id="criteria", cursor_type="row", zebra_stripes=True)
                table.display = False
                yield table
                yield Static("", id="criterion-detail", markup=False)
            with TabPane("Measured", id="tab-measured"):
                with VerticalScroll():
                    yield Static("", id="measured", markup=False)
            with TabPane("Advice", id="tab-better"):
                with VerticalScroll():
                    yield Static("Advice on your weakest turns appears once the session is graded.", id="better",
                                 markup=False)
            with TabPane("Compare", id="tab-compare"):
                with VerticalScroll():
                    yield Static("No earlier attempt on this persona to compare with.", id="compare", markup=False)
            with TabPane("Transcript", id="tab-transcript"):
                with VerticalScroll(id="feedback-transcript", classes="transcript", can_focus=True):
                    for turn in self.record.turns:
                        bubble = bubble_for_turn(turn, self.customer_name)
                        bubble.id = f"turn-{turn.index}"
                        yield bubble

    def on_mount(self) -> None:
        table = self.query_one("#criteria", DataTable)
        table.add_column("Criterion", key="criterion", width=22)
        table.add_column("Score", key="score", width=5)
        table.add_column("", key="bar", width=10)
        table.add_column("Evidence", key="evidence", width=16)

    # -- filling in ----------------------------------------------------------------------
    def show_measured(self, measured: "dict[str, Any] | Measurements") -> None:
        self.query_one("#measured", Static).update(measured_text(measured))

    def show_comparison(self, lines: list[str]) -> None:
        self.query_one("#compare", Static).update("\n".join(lines))

    def show_status(self, text: str) -> None:
        self.query_one("#result", Static).update(text)

    def show_evaluation(self, evaluation: "Evaluation") -> None:
        self.evaluation, text = evaluation, evaluation_text(evaluation)
        self.text = text
        lines = [f"{text.verdict} · {text.result} · graded by {text.graded_by}"]
        if text.note:
            lines.append(f"{text.note_mark} {text.note}")
        if text.not_observed:
            lines.append(f"ⓘ {text.not_observed}")
        if text.strengths:
            lines.append("Strengths: " + "; ".join(text.strengths))
        if text.changes:
            lines.append("To change: " + "; ".join(text.changes))
        if text.gaps:
            lines.append(f"⚑ {text.gaps} (a trainer should look)")
        self.show_status("\n".join(lines))
        table = self.query_one("#criteria", DataTable)
        table.clear()
        for c in text.criteria:
            table.add_row(c.name, c.score + c.mark, c.bar, c.turns, key=c.id)
        table.display = True
        self._show_detail(0)
        self.show_measured(evaluation.measured)
        self.query_one("#better", Static).update(advice_text(text))

    def _show_detail(self, row: int) -> None:
        if not self.text or not 0 <= row < len(self.text.criteria):
            return
        c = self.text.criteria[row]
        parts = [c.reason, *c.quote_lines]
        if c.tip:
            parts.append(f"Try: {c.tip}")
        if c.fallback:
            parts.append(f"ᵉ {c.fallback}")
        elif c.evidence_rules:
            parts.append(f"{'⚑ ' if c.gap else ''}{c.evidence_rules}")
        self.query_one("#criterion-detail", Static).update("\n".join(parts))

    @on(DataTable.RowHighlighted, "#criteria")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    @on(CriteriaTable.JumpRequested)
    def _jump(self, event: "CriteriaTable.JumpRequested") -> None:
        if not self.text or not 0 <= event.row < len(self.text.criteria):
            return
        turn = self.text.criteria[event.row].first_turn
        if turn is None:
            self.app.notify("No quoted evidence for this criterion.", timeout=4)
            return
        self.jump_to_turn(turn)

    def jump_to_turn(self, index: int) -> None:
        """Show the transcript tab scrolled to turn ``index``, highlighted."""
        self.query_one("#feedback-tabs", TabbedContent).active = "tab-transcript"
        for bubble in self.query(".evidence"):
            bubble.remove_class("evidence")
        target = self.query_one(f"#turn-{index}")
        target.add_class("evidence")
        self.query_one("#feedback-transcript").scroll_to_widget(target, top=True, animate=False)
        self.query_one("#feedback-transcript").focus()
