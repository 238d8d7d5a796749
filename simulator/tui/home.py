"""Home: the persona library as a table, with filters; Enter opens a persona's brief.

Broken persona files are rows too, showing their first error, so a typo in a file
never makes a persona silently disappear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Select, Static

from .widgets import STYLES, AppScreen, PersonaTable, fit, problem_text, short_outcome

if TYPE_CHECKING:
    from ..content.library import Library
    from .app import LibraryData

DIFFICULTY_CYCLE: tuple[str | None, ...] = (None, "easy", "medium", "hard")
BROKEN_PREFIX = "broken:"
# label, key, width: 68 characters of cells + 10 of cell padding + a scrollbar fit in 80 columns
COLUMNS = (("Name", "name", 15), ("Title", "title", 21), ("Level", "level", 6), ("Skills", "skills", 16),
           ("Last", "last", 10))
WIDTH = {key: width for _, key, width in COLUMNS}


class HomeScreen(AppScreen):
    """The persona picker."""

    CSS_PATH = STYLES / "home.tcss"
    AUTO_FOCUS = "#personas"
    BINDINGS = [
        Binding("d", "cycle_difficulty", "Difficulty", id="home.difficulty"),
        Binding("s", "focus_skill", "Skill", id="home.skill"),
        Binding("h", "app.open_history", "History", id="home.history"),
        Binding("p", "app.open_progress", "Progress", id="home.progress"),
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

    def __init__(self) -> None:
        super().__init__()
        self.difficulty: str | None = None
        self.skill: str | None = None
        self.data: "LibraryData | None" = None
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("roleplay · pick a customer to practise with", classes="screen-title")
        with Horizontal(id="filterbar"):
            yield Static("", id="filters")
            yield Select[str]([], prompt="all skills", id="skill", allow_blank=True, compact=True)
        table = PersonaTable(id="personas", cursor_type="row", zebra_stripes=True)
        table.loading = True
        yield table
        yield Static("", id="detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#personas", DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self._show_filters()
        self.call_after_refresh(self.reload)

    # -- loading ---------------------------------------------------------------------------
    def reload(self) -> None:
        self.query_one("#personas", DataTable).loading = True
        self._load()

    @work(thread=True, exclusive=True, group="library", exit_on_error=False)
    def _load(self) -> None:
        from .app import LibraryData, load_library_data

        app = self.rp
        try:
            data = load_library_data(app.workspace, app.model_name, app.evaluator_model_name)
        except Exception as exc:  # noqa: BLE001 - never leave the spinner turning: say what broke
            data = LibraryData(library_error=f"the library could not be loaded: {exc}")
        self.app.call_from_thread(self._loaded, data)
        # import the next screens now, off the UI thread, so the first Enter is quick
        from . import brief, chat, end  # noqa: F401

    def _loaded(self, data: "LibraryData") -> None:
        self.data = data
        self.loaded = True
        self.rp.apply_library_data(data)
        if data.library_error:
            self.notify(data.library_error, title="Library", severity="error", timeout=15)
        library = data.library
        skills = sorted({s for p in library.personas.values() for s in p.skills}) if library else []
        select = self.query_one("#skill", Select)
        select.set_options([(s.replace("-", " "), s) for s in skills])
        if self.skill in skills:
            select.value = self.skill
        else:
            self.skill = None
        table = self.query_one("#personas", DataTable)
        table.loading = False
        self.refresh_table()
        if self.focused is None:
            table.focus()

    # -- table -------------------------------------------------------------------------------
    def refresh_table(self) -> None:
        table = self.query_one("#personas", DataTable)
        keep = self.current_key()
        table.clear()
        library: "Library | None" = self.data.library if self.data else None
        if library is None:
            self._show_filters(0, 0)
            return
        last = self.data.last_outcomes if self.data else {}
        personas = library.sorted_personas()
        shown = [p for p in personas if (self.difficulty is None or p.difficulty == self.difficulty)
                 and (self.skill is None or self.skill in p.skills)]
        for p in shown:
            scores = self.data.last_scores if self.data else {}
            if p.id in scores:  # the last session's grade: score and pass (✓) or not yet (✗)
                last_outcome = f"{scores[p.id][0]:.1f} {'✓' if scores[p.id][1] else '✗'}"
            else:
                last_outcome = short_outcome(last[p.id]) if p.id in last else "—"
            table.add_row(fit(p.name, WIDTH["name"]), fit(p.title, WIDTH["title"]), p.difficulty,
                          fit(", ".join(s.split("-")[0] for s in p.skills), WIDTH["skills"]), last_outcome,
                          key=p.id)
        broken = [b for b in library.broken if b.kind == "persona"]
        for b in broken:
            table.add_row(fit(b.id, WIDTH["name"]), fit(f"⚠ {b.first_error.message}", WIDTH["title"]), "BROKEN",
                          "—", "—", key=BROKEN_PREFIX + b.id)
        for b in library.broken:
            if b.kind == "rubric":
                table.add_row(fit(f"rubric {b.id}", WIDTH["name"]), fit(f"⚠ {b.first_error.message}", WIDTH["title"]),
                              "BROKEN", "—", "—", key=BROKEN_PREFIX + "rubric:" + b.id)
        if keep is not None:
            try:
                table.move_cursor(row=table.get_row_index(keep), animate=False)
            except Exception:  # noqa: BLE001 - the row was filtered out
                pass
        self._show_filters(len(shown), len(personas), len(broken))
        self._show_detail()

    def _show_filters(self, shown: int | None = None, total: int | None = None, broken: int = 0) -> None:
        if shown is None:
            parts = ["loading the library…"]
        else:
            parts = [f"{shown}/{total} personas" + (f" · {broken} broken" if broken else "")]
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
        library = self.data.library if self.data else None
        if key is None or library is None:
            detail.update("No persona matches these filters — press d or s to change them."
                          if library is not None else "")
            return
        if key.startswith(BROKEN_PREFIX):
            name = key[len(BROKEN_PREFIX):]
            kind, _, bid = name.partition(":") if name.startswith("rubric:") else ("persona", "", name)
            broken = next((b for b in library.broken if b.id == bid and b.kind == kind), None)
            if broken:
                more = len(broken.problems) - 1
                where = problem_text(broken.first_error, self.rp.workspace)
                detail.update(f"BROKEN {broken.kind} file: {where}"
                              + (f" (+{more} more — run `roleplay validate`)" if more > 0 else ""))
            return
        persona = library.personas.get(key)
        if persona:
            detail.update(f"{persona.name} — {persona.title}\n{persona.difficulty} · skills: "
                          f"{', '.join(persona.skills)} · up to {persona.end.max_turns} turns")

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
        library = self.data.library if self.data else None
        if key is None or library is None:
            return
        if key.startswith(BROKEN_PREFIX):
            self.notify("This file has errors: fix it (see the line below the table), then press r to reload.",
                        title="Broken persona", severity="warning")
            return
        from .brief import BriefScreen

        self.app.push_screen(BriefScreen(library.personas[key]))

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
        if self.loaded and self.rp.library_stale:
            self.rp.library_stale = False
            self.reload()
