"""Home: the persona library as a table, with filters; Enter opens a persona's brief.

Broken persona files are rows too, showing their first error, so a typo in a file
never makes a persona silently disappear.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Select, Static

from ..content.index import read_index
from .flow import Practise
from .loader import LibraryData
from .widgets import OutboxLine, PersonaTable, fit, problem_text, short_outcome

if TYPE_CHECKING:
    from textual.timer import Timer

    from ..content.index import LibraryIndex

DIFFICULTY_CYCLE: tuple[str | None, ...] = (None, "easy", "medium", "hard")
BROKEN_PREFIX = "broken:"
# label, key, width: 68 characters of cells + 10 of cell padding + a scrollbar fit in 80 columns
COLUMNS = (("Name", "name", 15), ("Title", "title", 21), ("Level", "level", 6), ("Skills", "skills", 16),
           ("Last", "last", 10))
WIDTH = {key: width for _, key, width in COLUMNS}
SPINNER_AFTER_S = 0.5  # the table shows a spinner when the library takes longer than this to read


class LibraryLoaded(Message):
    """What the loader found: the personas first (``data.complete`` false), then everything
    (settings, the Last column). The app takes the library and the settings from it."""

    def __init__(self, data: LibraryData) -> None:
        super().__init__()
        self.data = data


class HomeScreen(Screen):
    """The persona picker."""

    # no CSS_PATH: home.tcss is the app's, as this first screen is not pushed (which reads a screen's own)
    AUTO_FOCUS = "#personas"
    BINDINGS = [
        Binding("d", "cycle_difficulty", "Difficulty", id="home.difficulty"),
        Binding("s", "focus_skill", "Skill", id="home.skill"),
        Binding("h", "app.open_history", "History", id="home.history"),
        Binding("p", "app.open_progress", "Progress", id="home.progress"),
        Binding("m", "app.open_models", "Models", id="home.models", show=False),  # and "models: open"
        Binding("r", "reload", "Reload", id="home.reload", show=False),  # in the palette: "library: reload"
        Binding("escape", "focus_table", "Table", show=False, id="home.table"),
        Binding("q", "app.quit", "Quit", id="home.quit", show=False),
    ]
    PALETTE = [
        ("practice: start", "open_brief", "Read the brief of the highlighted persona, then start"),
        ("library: cycle difficulty filter", "cycle_difficulty", "All → easy → medium → hard"),
        ("library: filter by skill", "focus_skill", "Pick a skill to practise"),
        ("library: reload", "reload", "Read the persona files and config again"),
    ]

    def __init__(self, workspace: Path, *, model: str | None = None, evaluator_model: str | None = None) -> None:
        """``model``, ``evaluator_model``: the command line's flags, over the config's settings."""
        super().__init__()
        self.workspace = workspace
        self.model = model
        self.evaluator_model = evaluator_model
        self.stale = False  # a session was saved or graded since the rows were read: reload on return
        self.difficulty: str | None = None
        self.skill: str | None = None
        self.data: "LibraryData | None" = None
        self.loaded = False
        self._spinner: "Timer | None" = None
        self._skills: list[str] = []  # the skill filter's choices
        self._open_when_loaded: str | None = None  # Enter pressed on a row before its persona was read

    def compose(self) -> ComposeResult:
        yield Static("roleplay · pick a customer to practise with", classes="screen-title")
        with Horizontal(id="filterbar"):
            yield Static("", id="filters")
            yield Select[str]([], prompt="all skills", id="skill", allow_blank=True, compact=True)
        yield PersonaTable(id="personas", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail", markup=False)
        yield OutboxLine(id="outbox")
        yield Footer()

    def show_outbox(self, text: str) -> None:
        """Results waiting for the LRS ("" hides the line)."""
        self.query_one("#outbox", OutboxLine).show(text)

    def on_mount(self) -> None:
        table = self.query_one("#personas", DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self._show_filters()
        index = read_index(self.workspace)  # the rows saved last time, while no file has changed
        if index is not None:
            self._show(LibraryData(index=index))
            self.call_after_refresh(self.reload)  # the files are read once the rows are on screen
        else:
            self.reload(preview=True)

    # -- loading ---------------------------------------------------------------------------
    def reload(self, preview: bool = False) -> None:
        # a spinner only when reading takes a while: its animation would slow the reading down
        if self._spinner is not None:
            self._spinner.stop()
        self._spinner = self.set_timer(SPINNER_AFTER_S, self._show_spinner)
        self._load(preview)

    def _show_spinner(self) -> None:
        if self.data is None or self.data.complete:  # not over rows shown ahead of the files (saved or preview)
            self.query_one("#personas", DataTable).loading = True

    @work(thread=True, exclusive=True, group="library", exit_on_error=False)
    def _load(self, preview: bool = False) -> None:
        """With ``preview``, the rows read straight from the persona files first (no saved
        index matched); then the personas, read and validated; then the settings and the
        "Last" column, which reads every saved session.
        Each step is on screen before the next starts."""
        from textual.worker import get_current_worker

        from .loader import load_personas, load_the_rest, save_rows

        worker = get_current_worker()
        try:
            if preview:
                from ..content.index import preview_index

                rows = preview_index(self.workspace)
                if worker.is_cancelled:
                    return
                self.app.call_from_thread(self._preview, rows)
                self.app.call_from_thread(self.wait_for_refresh)
            data = load_personas(self.workspace)
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._loaded, data)
            self.app.call_from_thread(self.wait_for_refresh)  # the rows reach the screen before the rest loads
            save_rows(data, self.workspace)
            try:
                data = load_the_rest(data, self.workspace, self.model, self.evaluator_model)
            except Exception as exc:  # noqa: BLE001 - the sessions behind the Last column: the personas stay
                data = replace(data, complete=True, library_error=f"the Last column could not be filled: {exc}")
        except Exception as exc:  # noqa: BLE001 - never leave the spinner turning: say what broke
            data = LibraryData(library_error=f"the library could not be loaded: {exc}", complete=True)
        if worker.is_cancelled:
            return
        self.app.call_from_thread(self._loaded, data)

    def _loaded(self, data: LibraryData) -> None:
        """Take in what the loader found: first the personas (``data.complete`` false, the
        "Last" column still waiting), then everything."""
        shown_error = self.data.library_error if self.data else None
        if not data.complete and self.data and self.data.complete:  # a reload: the old figures until the new
            data = replace(data, last_outcomes=self.data.last_outcomes, last_scores=self.data.last_scores)
        self.post_message(LibraryLoaded(data))
        if data.library_error and (not data.complete or data.library_error != shown_error):
            self.notify(data.library_error, title="Library", severity="error", timeout=15)
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        self.query_one("#personas", DataTable).loading = False
        self._show(data)
        if self._open_when_loaded is not None and data.library is not None:
            key, self._open_when_loaded = self._open_when_loaded, None
            if self.app.screen is self and self.current_key() == key:
                self.action_open_brief()

    def _preview(self, index: "LibraryIndex") -> None:
        if self.data is None:  # nothing better on screen yet
            self._show(LibraryData(index=index))

    def _show(self, data: LibraryData) -> None:
        self.data = data
        self.loaded = True
        skills = data.index.skills if data.index else []
        if skills != self._skills:
            self._skills = skills
            select = self.query_one("#skill", Select)
            select.set_options([(s.replace("-", " "), s) for s in skills])
            if self.skill in skills:
                select.value = self.skill
            else:
                self.skill = None
        table = self.query_one("#personas", DataTable)
        self.refresh_table()
        if self.focused is None:
            table.focus()

    # -- table -------------------------------------------------------------------------------
    def refresh_table(self) -> None:
        table = self.query_one("#personas", DataTable)
        keep = self.current_key()
        table.clear()
        index = self.data.index if self.data else None
        if index is None:
            self._show_filters(0, 0)
            return
        last = self.data.last_outcomes
        scores = self.data.last_scores
        shown = [p for p in index.personas if (self.difficulty is None or p.difficulty == self.difficulty)
                 and (self.skill is None or self.skill in p.skills)]
        for p in shown:
            if p.id in scores:  # the last session's grade: score and pass (✓) or not yet (✗)
                last_outcome = f"{scores[p.id][0]:.1f} {'✓' if scores[p.id][1] else '✗'}"
            elif p.id in last:
                last_outcome = short_outcome(last[p.id])
            else:
                last_outcome = "—" if self.data.complete else "…"  # "…": the sessions are still being read
            table.add_row(fit(p.name, WIDTH["name"]), fit(p.title, WIDTH["title"]), p.difficulty,
                          fit(", ".join(s.split("-")[0] for s in p.skills), WIDTH["skills"]), last_outcome,
                          key=p.id)
        broken = [b for b in index.broken if b.kind == "persona"]
        for b in broken:
            table.add_row(fit(b.id, WIDTH["name"]), fit(f"⚠ {b.first_error.message}", WIDTH["title"]), "BROKEN",
                          "—", "—", key=BROKEN_PREFIX + b.id)
        for b in index.broken:
            if b.kind == "rubric":
                table.add_row(fit(f"rubric {b.id}", WIDTH["name"]), fit(f"⚠ {b.first_error.message}", WIDTH["title"]),
                              "BROKEN", "—", "—", key=BROKEN_PREFIX + "rubric:" + b.id)
        if keep is not None:
            try:
                table.move_cursor(row=table.get_row_index(keep), animate=False)
            except Exception:  # noqa: BLE001 - the row was filtered out
                pass
        self._show_filters(len(shown), len(index.personas), len(broken), checking=not index.checked)
        self._show_detail()

    def _show_filters(self, shown: int | None = None, total: int | None = None, broken: int = 0,
                      checking: bool = False) -> None:
        if shown is None:
            parts = ["loading the library…"]
        else:
            parts = [f"{shown}/{total} personas" + (f" · {broken} broken" if broken else "")
                     + (" · checking the files…" if checking else "")]
        parts.append(f"d: {self.difficulty or 'all levels'}")
        parts.append("s:")
        self.query_one("#filters", Static).update(" · ".join(parts))

    def current_key(self) -> str | None:
        table = self.query_one("#personas", DataTable)
        if not table.row_count:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:  # noqa: BLE001
            return None
        return row_key.value

    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        key = self.current_key()
        index = self.data.index if self.data else None
        if key is None or index is None:
            detail.update("No persona matches these filters — press d or s to change them."
                          if index is not None else "")
            return
        if key.startswith(BROKEN_PREFIX):
            name = key[len(BROKEN_PREFIX):]
            kind, _, bid = name.partition(":") if name.startswith("rubric:") else ("persona", "", name)
            broken = next((b for b in index.broken if b.id == bid and b.kind == kind), None)
            if broken:
                more = broken.problems - 1
                where = problem_text(broken.first_error, self.workspace)
                detail.update(f"BROKEN {broken.kind} file: {where}"
                              + (f" (+{more} more — run `roleplay validate`)" if more > 0 else ""))
            return
        persona = next((p for p in index.personas if p.id == key), None)
        if persona:
            detail.update(f"{persona.name} — {persona.title}\n{persona.difficulty} · skills: "
                          f"{', '.join(persona.skills)} · up to {persona.max_turns} turns")

    @on(DataTable.RowHighlighted, "#personas")
    def _highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected, "#personas")
    def _selected(self) -> None:
        self.action_open_brief()

    @on(Select.Changed, "#skill")
    def _skill_changed(self, event: Select.Changed) -> None:
        value = event.value
        self.skill = None if value is Select.NULL else str(value)
        if self.loaded:
            self.refresh_table()

    # -- actions -------------------------------------------------------------------------------
    def action_open_brief(self) -> None:
        key = self.current_key()
        if key is None:
            return
        if key.startswith(BROKEN_PREFIX):
            self.notify("This file has errors: fix it (see the line below the table), then press r to reload.",
                        title="Broken persona", severity="warning")
            return
        library = self.data.library if self.data else None
        if library is None:  # the rows came from the saved index and the files are being read: open it then
            self._open_when_loaded = key
            return
        if key not in library.personas:
            return
        self.post_message(Practise(library.personas[key]))

    def action_cycle_difficulty(self) -> None:
        index = DIFFICULTY_CYCLE.index(self.difficulty)
        self.difficulty = DIFFICULTY_CYCLE[(index + 1) % len(DIFFICULTY_CYCLE)]
        self.refresh_table()

    def action_focus_skill(self) -> None:
        self.query_one("#skill", Select).focus()

    def action_focus_table(self) -> None:
        self.query_one("#personas", DataTable).focus()

    def action_reload(self) -> None:
        self.reload()

    def on_screen_resume(self) -> None:
        # back from a session: refresh the "last" column
        if self.loaded and self.stale:
            self.stale = False
            self.reload()
