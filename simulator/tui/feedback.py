"""Feedback: the evaluation of a session, shown right after it and from the history.

Tabs: the result with a row per criterion (score bar; the highlighted row's reason,
evidence and improvement below it; Enter or j jumps to the evidence's turn in the
transcript), the measured figures, advice on the weakest turns (what went wrong, the
criterion it hurt, what to do instead, and a better reply where a capable judge wrote one
that passed the coach's check), this attempt against the earlier one (a try-again, or the
last session on the same persona), and the transcript itself.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from ..grading.evaluator import score_bar
from ..grading.metrics import Measurements, summary_lines
from .widgets import bubble_for_turn


class CriteriaTable(DataTable):
    """One row per criterion; Enter jumps to the highlighted criterion's evidence."""

    BINDINGS = [Binding("enter,j", "jump", "Jump to evidence", id="feedback.jump")]

    def action_jump(self) -> None:
        self.post_message(self.JumpRequested(self.cursor_row))

    class JumpRequested(Message):
        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row


def measured_text(measured: dict[str, Any]) -> str:
    fields = {k: v for k, v in measured.items() if k in Measurements.__dataclass_fields__}
    return "\n".join(f"• {line}" for line in summary_lines(Measurements(**fields)))


def advice_text(evaluation: dict[str, Any]) -> str:
    """The Advice tab: each weak turn with its faults, then the judge's other better replies."""
    blocks, shown = [], set()
    for w in evaluation.get("weakest_turns") or []:
        lines = [f"Turn {w['turn']} · you said: “{w['original']}”"]
        for f in w["faults"]:
            lines += [f"  ✗ {f['what']} ({f['criterion_name']})", f"    → {f['instead']}"]
        if w.get("better"):
            lines.append(f"  Better: “{w['better']}”")
            shown.add(w["turn"])
        blocks.append("\n".join(lines))
    for b in evaluation.get("better_replies") or []:
        if b["turn"] not in shown:
            blocks.append(f"Turn {b['turn']} · you said: “{b['original']}”\n  Better: “{b['better']}”")
    return "\n\n".join(blocks) or "No weak turns found: no brush-offs, jargon, repeated questions or can't-first replies."


class FeedbackView(Vertical):
    """Everything the learner gets back from a session."""

    def __init__(self, record, *, customer_name: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.record = record
        self.customer_name = customer_name
        self.evaluation: dict[str, Any] | None = None

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
    def show_measured(self, measured: dict[str, Any]) -> None:
        self.query_one("#measured", Static).update(measured_text(measured))

    def show_comparison(self, lines: list[str]) -> None:
        self.query_one("#compare", Static).update("\n".join(lines))

    def show_status(self, text: str) -> None:
        self.query_one("#result", Static).update(text)

    def show_evaluation(self, evaluation: dict[str, Any]) -> None:
        self.evaluation = evaluation
        overall = evaluation["overall"]
        low, high = overall["scale"]
        verdict = "PASS" if overall["passed"] else "NOT YET"
        lines = [f"{verdict} · {overall['score']:.2f} of {high} (pass mark {overall['pass_mark']:g}) · graded by "
                 f"{evaluation['judge_model']}"]
        if evaluation.get("note"):
            lines.append(("ⓘ " if evaluation.get("method") == "evidence" else "⚠ ") + evaluation["note"])
        if evaluation.get("strengths"):
            lines.append("Strengths: " + "; ".join(evaluation["strengths"]))
        if evaluation.get("changes"):
            lines.append("To change: " + "; ".join(evaluation["changes"]))
        if gaps := [c["name"] for c in evaluation["criteria"] if c.get("gap")]:
            lines.append("⚑ The judge and the evidence rules differ by 1.5 or more on: " + ", ".join(gaps)
                         + " (a trainer should look)")
        self.show_status("\n".join(lines))
        table = self.query_one("#criteria", DataTable)
        table.clear()
        for c in evaluation["criteria"]:
            turns = ", ".join(f"t{e['turn']}" for e in c["evidence"]) or "—"
            score = f"{c['score']}/{high}" + (" ⚑" if c.get("gap") else " ᵉ" if c.get("fallback") else "")
            table.add_row(c["name"], score, score_bar(c["score"], low, high), turns, key=c["id"])
        table.display = True
        self._show_detail(0)
        self.show_measured(evaluation["measured"])
        self.query_one("#better", Static).update(advice_text(evaluation))

    def _show_detail(self, row: int) -> None:
        if not self.evaluation or not 0 <= row < len(self.evaluation["criteria"]):
            return
        c = self.evaluation["criteria"][row]
        parts = [c["reason"] or "(no reason given)"]
        parts += [f"turn {e['turn']}: “{e['quote']}”" for e in c["evidence"]]
        if c["improvement"]:
            parts.append(f"Try: {c['improvement']}")
        if c.get("fallback"):
            parts.append(f"ᵉ Scored from evidence: {c['fallback']}.")
        elif "evidence_score" in c:
            high = self.evaluation["overall"]["scale"][1]
            parts.append(f"{'⚑ ' if c.get('gap') else ''}Evidence rules: {c['evidence_score']}/{high}. "
                         f"{c['evidence_reason']}")
        self.query_one("#criterion-detail", Static).update("\n".join(parts))

    @on(DataTable.RowHighlighted, "#criteria")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    @on(CriteriaTable.JumpRequested)
    def _jump(self, event: "CriteriaTable.JumpRequested") -> None:
        if not self.evaluation or not 0 <= event.row < len(self.evaluation["criteria"]):
            return
        evidence = self.evaluation["criteria"][event.row]["evidence"]
        if not evidence:
            self.app.notify("No quoted evidence for this criterion.", timeout=4)
            return
        self.jump_to_turn(evidence[0]["turn"])

    def jump_to_turn(self, index: int) -> None:
        """Show the transcript tab scrolled to turn ``index``, highlighted."""
        self.query_one("#feedback-tabs", TabbedContent).active = "tab-transcript"
        for bubble in self.query(".evidence"):
            bubble.remove_class("evidence")
        target = self.query_one(f"#turn-{index}")
        target.add_class("evidence")
        self.query_one("#feedback-transcript").scroll_to_widget(target, top=True, animate=False)
        self.query_one("#feedback-transcript").focus()
