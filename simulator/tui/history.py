"""History: past sessions from the history index, newest first; filter, sort, open.

The list comes from :mod:`simulator.review.index` (one small file, plus a look at each
session folder), so it stays fast with thousands of sessions. Enter opens an ended session
with its feedback, an unfinished one as a transcript that can be resumed; an unreadable
one says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, Static

from textual.screen import Screen

from .flow import OpenSession
from .widgets import STYLES, OutboxLine, SessionTable, display_folder, fit, format_started, outcome_label, short_outcome

if TYPE_CHECKING:
    from ..review.index import SessionSummary

SORTS = (("newest", lambda r: r.folder, True), ("oldest", lambda r: r.folder, False),
         ("best score", lambda r: (r.score is not None, r.score or 0), True),
         ("lowest score", lambda r: (r.score is None, r.score or 0), False),
         ("persona", lambda r: (r.persona_name.lower(), r.folder), False))
STATUS_LABELS = {"graded": "judged", "evidence": "evidence", "pending": "pending", "failed": "failed",
                 "open": "open", "unreadable": "—"}


class HistoryScreen(Screen):
    """Every session in the workspace."""

    CSS_PATH = STYLES / "history.tcss"
    AUTO_FOCUS = "#sessions"
    BINDINGS = [
        Binding("escape", "back", "Back", id="history.back"),
        Binding("slash", "focus_filter", "Filter", id="history.filter"),
        Binding("o", "cycle_sort", "Sort", id="history.sort"),
    ]
    PALETTE = [
        ("history: open session", "open_transcript", "Open the highlighted session with its feedback"),
        ("history: filter", "focus_filter", "Type words to keep: persona, outcome, status, date"),
        ("history: cycle sort", "cycle_sort", "Newest → oldest → best score → lowest score → persona"),
        ("history: back", "back", "Back to where you were"),
    ]

    def __init__(self, workspace: Path, outbox: str = "") -> None:
        super().__init__()
        self.workspace = workspace
        self.outbox = outbox  # results waiting for the LRS, as the app last heard
        self.rows: list["SessionSummary"] = []
        self.shown: dict[str, "SessionSummary"] = {}
        self.sort = 0
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("History · past sessions", classes="screen-title")
        yield Input(placeholder="/ filter: persona, outcome, status or date (e.g. dana resolved)", id="filter")
        table = SessionTable(id="sessions", cursor_type="row", zebra_stripes=True)
        table.loading = True
        yield table
        yield Static("", id="history-detail", markup=False)
        yield OutboxLine(self.outbox, id="outbox")
        yield Footer()

    def show_outbox(self, text: str) -> None:
        """Results waiting for the LRS ("" hides the line)."""
        self.outbox = text
        self.query_one("#outbox", OutboxLine).show(text)

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        for label, key, width in (("Date", "date", 11), ("Persona", "persona", 16), ("Turns", "turns", 5),
                                  ("Outcome", "outcome", 10), ("Dur", "duration", 5), ("Score", "score", 6),
                                  ("Status", "status", 8)):
            table.add_column(label, key=key, width=width)
        self._load()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load(self) -> None:
        from ..review.index import session_index

        try:
            rows = session_index(self.workspace)
        except Exception as exc:  # noqa: BLE001 - the folder cannot be read (or worse): say so, stop the spinner
            rows = []
            self.app.call_from_thread(self.notify, f"cannot list sessions: {exc}", severity="error", timeout=15)
        self.app.call_from_thread(self._loaded, rows)

    def _loaded(self, rows: list["SessionSummary"]) -> None:
        self.rows = rows
        self.loaded = True
        self._fill()
        if self.focused is None:
            self.query_one("#sessions", DataTable).focus()

    def _fill(self) -> None:
        from ..review.index import filter_rows

        table = self.query_one("#sessions", DataTable)
        table.loading = False
        table.clear()
        text = self.query_one("#filter", Input).value.strip()
        name, key, reverse = SORTS[self.sort]
        rows = sorted(filter_rows(self.rows, text=text or None), key=key, reverse=reverse)
        self.shown = {r.folder: r for r in rows}
        for r in rows:
            if r.status == "unreadable":  # listed with its reason, never dropped
                table.add_row(r.folder[:11], "(unreadable)", "—", "unreadable", "—", "—", "—", key=r.folder)
                continue
            duration = r.duration_text if r.duration_s is not None else "—"
            score = f"{r.score:.1f} {'✓' if r.passed else '✗'}" if r.score is not None else "—"
            table.add_row(format_started(r.started_at)[5:], fit(r.persona_name, 16), str(r.learner_turns),
                          short_outcome(r.outcome), duration, score, STATUS_LABELS.get(r.status, r.status),
                          key=r.folder)
        title = self.query_one(".screen-title", Static)
        title.update(f"History · {len(rows)} of {len(self.rows)} sessions · sorted by {name}")
        self._show_detail()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        if self.loaded:
            self._fill()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#sessions", DataTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_cycle_sort(self) -> None:
        self.sort = (self.sort + 1) % len(SORTS)
        if self.loaded:
            self._fill()

    def _current_key(self) -> str:
        table = self.query_one("#sessions", DataTable)
        if not table.row_count:
            return ""
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value or ""

    def current(self) -> "SessionSummary | None":
        return self.shown.get(self._current_key())

    def _show_detail(self) -> None:
        detail = self.query_one("#history-detail", Static)
        row = self.current()
        if row is None:
            detail.update("No sessions match the filter." if self.rows else
                          "No sessions yet — pick a persona in the library and practise." if self.loaded else "")
            return
        if row.status == "unreadable":
            detail.update(f"Cannot be read: {row.reason}")
            return
        folder = self.workspace / "sessions" / row.folder
        detail.update(f"{row.persona_name} — {row.persona_title}\n{outcome_label(row.outcome)} · {row.reason}\n"
                      f"saved in {display_folder(folder, self.workspace)}")

    @on(DataTable.RowHighlighted, "#sessions")
    def _highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#sessions")
    def _selected(self) -> None:
        self.action_open_transcript()

    def action_open_transcript(self) -> None:
        from ..core.errors import RoleplayError
        from ..practice.sessions import read_session

        row = self.current()
        if row is None:
            return
        if row.status == "unreadable":
            self.notify(f"Cannot be read: {row.reason}", severity="warning", timeout=10)
            return
        try:
            record = read_session(self.workspace / "sessions" / row.folder)
        except (RoleplayError, OSError) as exc:
            self.notify(f"Cannot be read: {exc}", severity="error", timeout=10)
            return
        self.post_message(OpenSession(record))  # the app shows its feedback, or its transcript if unfinished

    def on_screen_resume(self) -> None:
        if self.loaded:  # a session graded or resumed meanwhile: list it as it is now
            self._load()

    def action_back(self) -> None:
        self.app.pop_screen()
