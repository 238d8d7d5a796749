"""The roleplay Textual app: entry point and shared state.

Start-up is kept light so the first screen paints fast: this module imports Textual
and the standard library only. The library screen is the app's first screen and draws
its rows in the first frame from the index saved last time, while no persona or rubric
file has changed (``content.index``; else a worker previews them from the persona files
first). The files themselves (PyYAML, pydantic), then the settings and the session
history, are read by a thread worker after that (see ``HomeScreen`` and ``loader``). The
model gateway (and so litellm) is imported only when a session starts, or by the warm-up
worker, which runs once all that is on screen, and only with the real gateway.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from .commands import RoleplayCommands
from .home import HomeScreen
from .loader import LibraryData
from .widgets import STYLES

if TYPE_CHECKING:
    from ..content.library import Library
    from ..content.persona import Persona
    from ..models.config import RoleSettings, Settings
    from ..models.gateway import ModelClient
    from ..practice.engine import Conversation
    from ..practice.sessions import SessionRecord

ModelFactory = Callable[["RoleSettings"], "ModelClient"]


def default_model_factory(settings: "RoleSettings") -> "ModelClient":
    from ..models.gateway import Gateway  # imports litellm lazily, on the first call

    return Gateway(settings)


class RoleplayApp(App[int]):
    """Practise customer-service conversations with LLM-played customers."""

    TITLE = "roleplay"
    # the library screen's styles too: it is the first screen (see get_default_screen), and a
    # screen's own CSS_PATH is read only when it is pushed
    CSS_PATH = [STYLES / "app.tcss", STYLES / "home.tcss"]
    COMMANDS = App.COMMANDS | {RoleplayCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]
    PALETTE = [
        ("history: open", "open_history", "List past sessions and read their transcripts"),
        ("progress: open", "open_progress", "Scores over time, pass rate, and what to practise next"),
        ("models: open", "open_models", "Which model plays each role; servers found here; test and pick one"),
        ("app: quit", "quit", "Leave roleplay (an open session stays saved)"),
    ]

    def __init__(self, workspace: Path, *, model: str | None = None, evaluator_model: str | None = None,
                 model_factory: ModelFactory | None = None, clock: Callable[[], float] = time.monotonic,
                 cursor_blink: bool = True) -> None:
        super().__init__()
        self.workspace = Path(workspace)
        self.model_name = model
        self.evaluator_model_name = evaluator_model
        self.injected_model = model_factory is not None
        self.model_factory: ModelFactory = model_factory or default_model_factory
        self.clock = clock
        self.cursor_blink = cursor_blink  # tests switch it off for stable snapshots
        self.settings: "Settings | None" = None
        self.settings_error: str | None = None
        self.library: "Library | None" = None
        self.warm_up_started = False
        self.learner_asked = False
        self.library_stale = False  # a session was saved since the library screen last loaded
        self.grading: dict[str, str] = {}  # session folder name -> latest status, while it is graded
        # sessions' disk writes (fsynced journal lines, session.json) run here, off the UI loop, in order
        self.disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-writer")

    # -- start-up ------------------------------------------------------------------------
    def get_default_screen(self) -> HomeScreen:
        return HomeScreen()  # the first screen itself, not pushed over a blank one: one screen less to paint

    def apply_library_data(self, data: LibraryData) -> None:
        """Take in what the loader found (main thread); once the settings are in, start the
        warm-up (once)."""
        self.library = data.library
        if not data.complete:
            return
        self.settings = data.settings
        self.settings_error = data.settings_error
        if data.settings_error:
            self.notify(f"{data.settings_error}\nFix the config file, then press r to reload.",
                        title="Config file", severity="error", timeout=15)
        if data.settings is not None and data.settings.learner is None and not self.learner_asked:
            from .learner import LearnerModal

            self.learner_asked = True  # once: a skip is saved too
            self.push_screen(LearnerModal(), self._learner_given)
        if data.settings is not None and not self.injected_model and not self.warm_up_started:
            self.warm_up_started = True
            self.warm_up(data.settings.persona)

    def _learner_given(self, name: str | None) -> None:
        from ..core.errors import RoleplayError
        from ..models.config import save_learner

        name = name or ""
        try:
            save_learner(name)
        except (RoleplayError, OSError) as exc:
            self.notify(f"could not keep your name: {exc}", severity="warning", timeout=10)
        if self.settings is not None:
            self.settings.learner = name
        if name:
            self.notify(f"Sessions are saved as {name}'s.", timeout=5)

    @work(thread=True, group="warm-up", exit_on_error=False)
    def warm_up(self, settings: "RoleSettings") -> None:
        """Import litellm and load a local model off the UI thread, so the first reply is quicker."""
        from ..core.errors import RoleplayError
        from ..models.gateway import warm_up

        try:
            asyncio.run(warm_up(settings))
        except RoleplayError as exc:
            self.call_from_thread(self.notify, str(exc), title="Model", severity="warning", timeout=12)
        except Exception as exc:  # noqa: BLE001 - the real call will report it properly
            self.log.warning(f"warm-up failed: {exc!r}")

    @work(thread=True, group="prime", exclusive=True, exit_on_error=False)
    def prime(self, persona: "Persona") -> None:
        """Evaluate the customer's fixed prompt while the learner reads the brief, so the first
        reply starts at once (local models only; a failure here is reported by the real call),
        and get the meaning layer ready for this persona."""
        if self.settings is None:
            return
        from ..practice.engine import prime, ready_to_understand

        try:
            asyncio.run(prime(persona, self.model_factory(self.settings.persona)))
        except Exception as exc:  # noqa: BLE001 - the first real reply reports any model problem
            self.log.warning(f"priming failed: {exc!r}")
        ready_to_understand(persona, self.workspace)  # the first message is read, not waited for

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Errors in one place: a worker that fails unexpectedly is told in one line (the
        chat's model calls report their own, next to the prompt)."""
        if event.state == WorkerState.ERROR and event.worker.group != "model":
            error = event.worker.error
            self.notify(f"{event.worker.group or event.worker.name} failed: {error}", title="Error",
                        severity="error", timeout=15)

    # -- grading: the app's, so leaving the feedback screen does not throw it away ----------
    def grade(self, record: "SessionRecord", key: str) -> None:
        """Grade a session with the evaluator model (once at a time per session)."""
        if key not in self.grading:
            self.grading[key] = "Grading…"
            self._grade(record, key)

    @work(group="grading", exit_on_error=False)
    async def _grade(self, record: "SessionRecord", key: str) -> None:
        from ..core.errors import RoleplayError
        from ..grading.evaluator import evaluate

        evaluation = None
        try:
            judge = self.model_factory(self.settings.evaluator)
            status = f"Grading with {judge.model}… the measured figures are ready now (Measured tab)."
            self._grading(key, status)

            def progress(done: int, total: int) -> None:
                self._grading(key, f"{status}\n{'█' * done}{'░' * (total - done)} {done}/{total} judged")

            outcome = await evaluate(record, record.rubric_snapshot(), judge, on_progress=progress)
            if outcome.evaluation is None:
                final = (f"Evaluation pending: {outcome.pending_reason}. Press g to try again, or run "
                         "`roleplay evaluate --pending` later. The measured figures are saved.")
            else:
                evaluation = outcome.evaluation
                overall = evaluation.get("overall", {})
                final = f"Graded: {overall.get('score', 0):.2f} of {(overall.get('scale') or [0, 5])[-1]}"
                if evaluation.get("fell_back"):
                    final += (f" · {len(evaluation['fell_back'])} of {len(evaluation['criteria'])} criteria "
                              "scored from evidence")
                if outcome.pending_reason:
                    final += f" · judge failed: {outcome.pending_reason} (g asks it again)"
                self.library_stale = True
        except RoleplayError as exc:
            final = f"Not graded: {exc}. Press g to try again."
        except OSError as exc:
            final = (f"Not graded: the evaluation could not be saved ({exc.strerror or exc}) — free some disk "
                     "space or check permissions, then press g. The transcript is safe.")
        except Exception as exc:  # noqa: BLE001 - a bug must still reach the screen, not leave "Grading…"
            final = f"Not graded: unexpected failure ({exc!r}). Press g to try again."
        self.grading.pop(key, None)
        self._grading(key, final, evaluation, final=True)

    def _grading(self, key: str, status: str, evaluation: dict | None = None, *, final: bool = False) -> None:
        """Show grading progress on the End screen of that session if it is open; a result
        that arrives after the learner left it is told in a notification."""
        if not final:
            self.grading[key] = status
        screen = self.screen
        if getattr(screen, "grading_key", None) == key:
            screen.grading_update(status, evaluation)  # type: ignore[attr-defined]
        elif final:
            self.notify(status.splitlines()[0], title="Grading", severity="information" if evaluation else "warning",
                        timeout=10)

    # -- sessions ----------------------------------------------------------------------
    def start_conversation(self, persona: "Persona") -> "Conversation | None":
        """Open a session on ``persona``; on failure explain why and return None."""
        if self.library is None:
            return None
        library = self.library
        return self._open_conversation(
            lambda Conversation, model, **kw: Conversation.start(persona, library.rubric_for(persona), model, **kw))

    def branch_conversation(self, record: "SessionRecord", turn: int) -> "Conversation | None":
        """Try again from learner turn ``turn`` of a saved session; on failure say why, None."""
        return self._open_conversation(
            lambda Conversation, model, **kw: Conversation.branch(record, turn, model, **kw), title="Cannot try again")

    def _open_conversation(self, open_with: Callable[..., "Conversation"], *,
                           title: str = "Cannot start") -> "Conversation | None":
        """A new conversation on the persona model, journaled on the app's writer thread."""
        from ..core.errors import RoleplayError

        if self.settings is None:
            self.notify(self.settings_error or "settings are still loading — try again in a moment",
                        title=title, severity="error", timeout=12)
            return None
        try:
            from ..practice.engine import Conversation

            model = self.model_factory(self.settings.persona)
            conversation = open_with(Conversation, model, workspace=self.workspace, clock=self.clock, writer=self.disk,
                                     models={"persona": model.model, "evaluator": self.settings.evaluator.model},
                                     learner=self.settings.learner)
        except RoleplayError as exc:
            self.notify(str(exc), title=title, severity="error", timeout=12)
            return None
        self.library_stale = True
        return conversation

    def action_open_models(self) -> None:
        from .models import ModelsScreen

        if not isinstance(self.screen, ModelsScreen):
            self.push_screen(ModelsScreen())

    def action_open_progress(self) -> None:
        from .progress import ProgressScreen

        if not isinstance(self.screen, ProgressScreen):
            self.push_screen(ProgressScreen())

    def action_open_history(self) -> None:
        from .history import HistoryScreen

        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())


def run_app(workspace: Path, model: str | None = None, evaluator_model: str | None = None) -> int:
    """Run the app until the user quits; returns the exit code."""
    app = RoleplayApp(Path(workspace), model=model, evaluator_model=evaluator_model)
    result = app.run()
    if isinstance(result, int):
        return result
    return app.return_code or 0
