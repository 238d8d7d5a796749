"""History: past sessions (newest first); Enter opens a read-only transcript."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from .widgets import (
    STYLES,
    AppScreen,
    SessionTable,
    bubble_for_turn,
    display_folder,
    format_started,
    learner_turns,
    outcome_label,
)

if TYPE_CHECKING:
    from ..practice.sessions import SessionRecord, UnreadableSession


class HistoryScreen(AppScreen):
    """Every session in the workspace."""

    CSS_PATH = STYLES / "history.tcss"
    AUTO_FOCUS = "#sessions"
    BINDINGS = [
        Binding("escape", "back", "Back", id="history.back"),
    ]
    PALETTE = [
        ("history: open transcript", "open_transcript", "Read the highlighted session"),
        ("history: back", "back", "Back to where you were"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, "SessionRecord"] = {}
        self.unreadable: dict[str, "UnreadableSession"] = {}
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("History · past sessions, newest first", classes="screen-title")
        table = SessionTable(id="sessions", cursor_type="row", zebra_stripes=True)
        table.loading = True
        yield table
        yield Static("", id="history-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        table.add_column("Date", key="date", width=16)
        table.add_column("Persona", key="persona", width=26)
        table.add_column("Turns", key="turns", width=5)
        table.add_column("Outcome", key="outcome", width=16)
        self._load()

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load(self) -> None:
        from ..practice.sessions import scan_sessions

        try:
            found = scan_sessions(self.rp.workspace)
        except OSError as exc:  # the sessions folder itself cannot be read: say so, stop the spinner
            found = []
            self.app.call_from_thread(self.notify, f"cannot list sessions: {exc}", severity="error", timeout=15)
        self.app.call_from_thread(self._loaded, found)

    def _loaded(self, found: list["SessionRecord | UnreadableSession"]) -> None:
        from ..practice.sessions import UnreadableSession

        table = self.query_one("#sessions", DataTable)
        table.loading = False
        table.clear()
        self.records = {}
        self.unreadable = {}
        for record in found:
            if isinstance(record, UnreadableSession):  # listed with its reason, never dropped
                self.unreadable[record.session_id] = record
                table.add_row(record.session_id[:15], "(unreadable)", "—", "unreadable", key=record.session_id)
                continue
            key = record.folder.name if record.folder else record.session_id
            self.records[key] = record
            persona = record.persona.get("name", record.persona_id)
            table.add_row(format_started(record.started_at), persona, str(learner_turns(record.turns)),
                          outcome_label(record.outcome), key=key)
        self.loaded = True
        self._show_detail()
        if self.focused is None:
            table.focus()

    def _current_key(self) -> str:
        table = self.query_one("#sessions", DataTable)
        if not table.row_count:
            return ""
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value or ""

    def current(self) -> "SessionRecord | None":
        return self.records.get(self._current_key())

    def _show_detail(self) -> None:
        detail = self.query_one("#history-detail", Static)
        record = self.current()
        if record is None:
            broken = self.unreadable.get(self._current_key())
            detail.update(f"Cannot be read: {broken.reason}" if broken else
                          "No sessions yet — pick a persona in the library and practise." if self.loaded else "")
            return
        title = record.persona.get("title", "")
        detail.update(f"{record.persona.get('name', record.persona_id)} — {title}\n"
                      f"saved in {display_folder(record.folder, self.rp.workspace)}")

    @on(DataTable.RowHighlighted, "#sessions")
    def _highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#sessions")
    def _selected(self) -> None:
        self.action_open_transcript()

    def action_open_transcript(self) -> None:
        record = self.current()
        if record is None:
            return
        if record.ended:  # an ended session opens with its feedback
            from .end import EndScreen

            self.app.push_screen(EndScreen(record))
        else:
            self.app.push_screen(TranscriptScreen(record))

    def action_back(self) -> None:
        self.app.pop_screen()


class TranscriptScreen(AppScreen):
    """One past session, read-only."""

    CSS_PATH = STYLES / "history.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="transcript.back"),
        Binding("r", "resume", "Resume", id="transcript.resume"),
    ]
    PALETTE = [
        ("session: resume", "resume", "Carry on with this unfinished session"),
    ]

    def __init__(self, record: "SessionRecord") -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        record = self.record
        name = record.persona.get("name", record.persona_id)
        yield Static(f"Transcript · {name} — {record.persona.get('title', '')}", classes="screen-title",
                     markup=False)
        yield Static(f"{format_started(record.started_at)} · {learner_turns(record.turns)} turns · "
                     f"{outcome_label(record.outcome)} · {display_folder(record.folder, self.rp.workspace)}",
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
        from ..core.errors import RoleplayError
        from ..practice.engine import Conversation
        from .chat import ChatScreen

        if self.rp.settings is None:
            self.notify(self.rp.settings_error or "settings are still loading", severity="error")
            return
        try:
            conversation = Conversation.resume(self.record, self.rp.model_factory(self.rp.settings.persona),
                                               clock=self.rp.clock, writer=self.rp.disk)
        except RoleplayError as exc:
            self.notify(str(exc), title="Cannot resume", severity="error", timeout=12)
            return
        self.rp.library_stale = True
        self.app.switch_screen(ChatScreen(conversation))

    def action_back(self) -> None:
        self.app.pop_screen()
