"""Models: which model plays each role and where that setting came from; the model servers
found on this computer and their models; local GGUF files; recommended downloads. c uses
the highlighted model for the customer, e for the evaluator, g a company gateway for both
(the app saves the choice in the user config and reads the settings again with the command
line's flags over them, then calls :meth:`ModelsScreen.show_roles`); t tests it with one tiny
real call (latency, and for the evaluator whether it answers JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from .flow import AskGateway, UseModel
from .widgets import STYLES, fit

if TYPE_CHECKING:
    from ..models.config import RoleSettings, Settings
    from ..models.gateway import ModelClient


@dataclass
class Choice:
    model: str
    where: str  # built in, local file, a server's address, or a download
    api_base: str | None = None
    usable: bool = True  # False: a download to pull first
    pull: str = ""  # the command that downloads it


class ModelsScreen(Screen):
    """Pick, test and save the model for each role."""

    CSS_PATH = STYLES / "history.tcss"
    DEFAULT_CSS = """
    ModelsScreen #roles { padding: 0 1; height: auto; }
    ModelsScreen #models { height: 1fr; margin: 0 1; }
    """
    AUTO_FOCUS = "#models"
    BINDINGS = [
        Binding("c", "use('persona')", "Use for customer", id="models.customer"),
        Binding("e", "use('evaluator')", "Use for evaluator", id="models.evaluator"),
        Binding("t", "test", "Test", id="models.test"),
        Binding("g", "gateway", "Gateway", id="models.gateway"),
        Binding("d", "download", "Download", id="models.download", show=False),
        Binding("x", "cancel_download", "Stop download", id="models.cancel", show=False),
        Binding("escape", "back", "Back", id="models.back"),
    ]
    PALETTE = [
        ("models: use for the customer", "use('persona')", "The highlighted model plays the customer"),
        ("models: use for the evaluator", "use('evaluator')", "The highlighted model grades sessions"),
        ("models: test", "test", "One tiny real call: latency and a usable reply"),
        ("models: company gateway", "gateway", "A LiteLLM Proxy or other gateway: URL, key variable, models"),
        ("models: download", "download", "Download the highlighted recommended model (x stops; it resumes)"),
    ]

    def __init__(self, settings: "Settings | None", settings_error: str | None,
                 model_factory: Callable[["RoleSettings"], "ModelClient"]) -> None:
        super().__init__()
        import threading

        self.settings = settings
        self.settings_error = settings_error
        self.model_factory = model_factory  # for t: one tiny real call
        self.choices: list[Choice] = []
        self.stop_download = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static("Models · who plays each role", classes="screen-title")
        yield Static("", id="roles", markup=False)
        table = DataTable(id="models", cursor_type="row", zebra_stripes=True)
        table.loading = True
        yield table
        yield Static("Looking for model servers on this computer…", id="history-detail", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#models", DataTable)
        table.add_column("Model", key="model", width=34)
        table.add_column("Where", key="where", width=38)
        self.show_roles(self.settings, self.settings_error)
        self._load()

    def show_roles(self, settings: "Settings | None", error: str | None = None) -> None:
        """Each role's model and where it came from (the app calls it after a change)."""
        self.settings, self.settings_error = settings, error
        if settings is None:
            self.query_one("#roles", Static).update(error or "settings are still loading")
            return
        lines = [f"{label:<10} {s.model}  (from {s.sources.get('model', 'default')})"
                 for label, s in (("customer", settings.persona), ("evaluator", settings.evaluator))]
        self.query_one("#roles", Static).update("\n".join(lines))

    @work(exclusive=True, group="models", exit_on_error=False)
    async def _load(self, note: str = "") -> None:
        import asyncio

        from ..models import local_models
        from ..models.discovery import discover

        choices = [Choice(f"local/{local_models.BUILTIN_NAME}", "built in (offline)")]
        try:
            choices += [Choice(f"local/{m.name}", fit(m.path, 38)) for m in local_models.read_registry().models]
        except Exception:  # noqa: BLE001 - a broken registry is reported by `roleplay models`
            pass
        settings = self.settings
        configured = [s.api_base for s in (settings.persona, settings.evaluator) if s.api_base] if settings else []
        servers = await discover(configured)
        for server in servers:
            choices += [Choice(name, f"{server.kind} {server.api_base}",
                               server.api_base if server.provider == "openai" else None)
                        for name in server.litellm_names()]
        pulled = {c.model for c in choices}
        choices += [Choice(f"local/{r.name}", f"download, {r.size_mb:,} MB: {r.note}", usable=False,
                           pull=f"roleplay models pull {r.name}")
                    for r in local_models.RECOMMENDED if f"local/{r.name}" not in pulled]
        await asyncio.sleep(0)
        self.choices = choices
        table = self.query_one("#models", DataTable)
        table.loading = False
        table.clear()
        for i, c in enumerate(choices):
            table.add_row(c.model, c.where, key=str(i))
        table.focus()
        found = (f"{len(servers)} model server{'s' if len(servers) != 1 else ''} found" if servers else
                 "No model server answering here (Ollama 11434, LM Studio 1234, llama.cpp 8080, vLLM 8000).")
        self.query_one("#history-detail", Static).update(note or (
            f"{found} c: customer · e: evaluator · t: test · g: a company gateway (its URL and the NAME of the "
            "variable holding your key)."))

    def current(self) -> Choice | None:
        table = self.query_one("#models", DataTable)
        if not self.choices or not table.row_count:
            return None
        return self.choices[table.cursor_row]

    def action_use(self, role: str) -> None:
        choice = self.current()
        if choice is None:
            return
        if not choice.usable:
            self.notify(f"Download it first: {choice.pull}", severity="warning")
            return
        self.post_message(UseModel(role, choice.model, choice.api_base))

    def action_gateway(self) -> None:
        self.post_message(AskGateway())

    def action_download(self) -> None:
        choice = self.current()
        if choice is None or choice.usable:
            self.notify("Pick one of the downloads (the rows that say 'download').", timeout=5)
            return
        self.stop_download.clear()
        self._download(choice)

    def action_cancel_download(self) -> None:
        self.stop_download.set()

    @work(thread=True, exclusive=True, group="download", exit_on_error=False)
    def _download(self, choice: Choice) -> None:
        from ..core.errors import RoleplayError
        from ..models.modelcheck import pull

        detail = self.query_one("#history-detail", Static)
        name = choice.model.removeprefix("local/")

        def progress(p) -> None:
            self.app.call_from_thread(detail.update, f"Downloading {name}: {p.line()} · x stops (it resumes)")

        try:
            message = pull(name, on_progress=progress, cancel=self.stop_download)
        except (RoleplayError, OSError) as exc:  # a full disk too: one line, the part kept to resume
            self.app.call_from_thread(detail.update, f"{name}: {' '.join(str(exc).split())} · d tries again")
            return
        self.app.call_from_thread(self._load, message)

    def action_test(self) -> None:
        choice = self.current()
        if choice is not None and choice.usable:
            self.query_one("#history-detail", Static).update(f"Testing {choice.model}…")
            self._test(choice)

    @work(exclusive=True, group="model-test", exit_on_error=False)
    async def _test(self, choice: Choice) -> None:
        import time

        from ..core.errors import RoleplayError
        from ..core.text import parse_json_object
        from ..models.config import RoleSettings

        model = self.model_factory(RoleSettings(role="evaluator", model=choice.model, api_base=choice.api_base,
                                                max_tokens=40, timeout=30))
        started = time.monotonic()
        try:
            reply = await model.complete([{"role": "user", "content": 'Answer with JSON only: {"ok": true}'}],
                                         max_tokens=40, temperature=0.0)
        except RoleplayError as exc:
            result = f"{choice.model}: failed — {exc}"
        else:
            json_ok = parse_json_object(reply.text) is not None
            result = (f"{choice.model}: answered in {time.monotonic() - started:.2f} s; "
                      + ("valid JSON: fit to grade." if json_ok else "no valid JSON: not fit to grade, may still "
                                                                     "play a customer."))
        self.query_one("#history-detail", Static).update(result)

    @on(DataTable.RowHighlighted, "#models")
    def _highlighted(self) -> None:
        choice = self.current()
        if choice is not None and not choice.usable:
            self.query_one("#history-detail", Static).update(f"{choice.model}: {choice.where}\nd downloads it here "
                                                             f"(x stops; it resumes), or: {choice.pull}")

    def action_back(self) -> None:
        self.app.pop_screen()
