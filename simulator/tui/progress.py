"""Progress: scores per criterion over time, pass rate, sessions per week, the figures that
moved, and the weakest criterion with two personas that train it (1 or 2 asks the app to
practise one: its brief opens over this screen)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from .flow import Practise
from .widgets import STYLES

if TYPE_CHECKING:
    from ..content.persona import Persona
    from ..review.progress import Progress


class ProgressScreen(Screen):
    """How the learner is doing across sessions."""

    CSS_PATH = STYLES / "history.tcss"
    DEFAULT_CSS = "ProgressScreen #progress { padding: 0 1; }"
    BINDINGS = [
        Binding("escape", "back", "Back", id="progress.back"),
        Binding("1", "practise(0)", "Practise 1st", id="progress.first"),
        Binding("2", "practise(1)", "Practise 2nd", id="progress.second"),
    ]
    PALETTE = [
        ("progress: practise the weakest criterion", "practise(0)", "Open the brief of a persona that trains it"),
        ("progress: back", "back", "Back to where you were"),
    ]

    def __init__(self, workspace: Path, personas: "list[Persona]") -> None:
        super().__init__()
        self.workspace = workspace
        self.personas = {p.id: p for p in personas}
        self.report: "Progress | None" = None

    def compose(self) -> ComposeResult:
        yield Static("Progress · across your sessions", classes="screen-title")
        with VerticalScroll(id="progress-view", can_focus=True):
            yield Static("Reading the history…", id="progress", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#progress-view").focus()
        self._load()

    @work(thread=True, exclusive=True, group="progress", exit_on_error=False)
    def _load(self) -> None:
        from ..review.index import session_index
        from ..review.progress import progress

        try:
            report = progress(session_index(self.workspace), list(self.personas.values()))
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"cannot read the history: {exc}", severity="error", timeout=15)
            return
        self.app.call_from_thread(self._show, report)

    def _show(self, report: "Progress") -> None:
        from ..review.progress import progress_lines

        self.report = report
        lines = progress_lines(report, width=self.size.width - 2)
        if report.suggested:
            lines += [f"  {n}  {name} ({level})" for n, (_, name, level) in enumerate(report.suggested, 1)]
            lines.append("Press 1 or 2 to read that persona's brief and practise.")
        self.query_one("#progress", Static).update("\n".join(lines))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "practise":
            index = parameters[0] if parameters else 0
            return bool(self.report and isinstance(index, int) and index < len(self.report.suggested))
        return True

    def action_practise(self, index: int) -> None:
        if not self.report or index >= len(self.report.suggested):
            return
        persona = self.personas.get(self.report.suggested[index][0])
        if persona is not None:
            self.post_message(Practise(persona))

    def action_back(self) -> None:
        self.app.pop_screen()
