"""Progress: scores per criterion over time, pass rate, sessions per week, the figures that
moved, and the weakest criterion with two personas that train it (1 or 2 opens a brief)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from .widgets import STYLES, AppScreen

if TYPE_CHECKING:
    from ..review.progress import Progress


class ProgressScreen(AppScreen):
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

    def __init__(self) -> None:
        super().__init__()
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

        library = self.rp.library
        personas = list(library.personas.values()) if library else []
        try:
            report = progress(session_index(self.rp.workspace), personas)
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
        from .brief import BriefScreen

        library = self.rp.library
        if not self.report or index >= len(self.report.suggested) or library is None:
            return
        persona = library.personas.get(self.report.suggested[index][0])
        if persona is not None:
            self.app.push_screen(BriefScreen(persona))

    def action_back(self) -> None:
        self.app.pop_screen()
