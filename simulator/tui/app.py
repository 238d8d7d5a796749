"""The roleplay Textual app: it owns the flow of a practice; the screens only do their job.

A practice is one worker, :meth:`RoleplayApp.practise`. It shows a screen, awaits what the
learner chose there (a typed result, ``tui.flow``) and decides the next screen:

    brief ──Enter──▶ chat ──call over──▶ end ──p──▶ brief …
      │Esc                                 ├──r──▶ replay ──t──▶ chat (a new session from that turn)
      ▼                                    │         └──Esc──▶ end
    back where it started                  └──Esc──▶ the library (after a practice) or back

Screens outside a practice (the library, History, Progress, Models) post messages (``flow``)
that the app answers: practise a persona, open a past session, grade one, use a model.
Grading is the app's (``tui.grading``), so leaving the feedback does not throw it away.

Start-up is kept light so the first screen paints fast: this module imports Textual and the
standard library only. The library draws its rows in the first frame from the index saved
last time; the files, the settings and the history are read by a thread worker after that
(``HomeScreen``, ``loader``). litellm is imported only when a session starts, or by the
warm-up worker once all that is on screen, and only with the real gateway.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from .commands import RoleplayCommands
from .flow import (
    AskGateway,
    BriefChoice,
    EndChoice,
    GradeSession,
    OpenSession,
    Practise,
    ReadBrief,
    ReadTranscript,
    Replay,
    Review,
    Step,
    Talk,
    TranscriptChoice,
    TryAgain,
    UseModel,
)
from .grading import Grading, GradingUpdate
from .home import HomeScreen, LibraryLoaded
from .loader import LibraryData
from .records import RESEND_S, OutboxChanged, outbox_line
from .widgets import STYLES

if TYPE_CHECKING:
    from ..content.library import Library
    from ..models.config import RoleSettings, Settings
    from ..models.gateway import ModelClient
    from ..practice.engine import Conversation
    from textual.timer import Timer

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
                 cursor_blink: bool = True, freeze_gc: bool = False) -> None:
        super().__init__()
        self.workspace = Path(workspace)
        self.freeze_gc = freeze_gc  # freeze the heap once loaded (``freeze_heap``): the real app, not tests
        self.primed_once = False
        self.model_name = model  # the command line's --model and --evaluator-model: they win over the config
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
        self.records_started = False  # the first send of what waits for the LRS
        self.outbox_waiting = 0  # statements waiting for the LRS, as last heard
        self.outbox_note = ""
        self._resend_timer: "Timer | None" = None
        self.in_practice = False  # a practice's screens are on the stack (one practice at a time)
        self.grading = Grading()
        self.home: HomeScreen | None = None  # the library: the first screen, always at the bottom
        # sessions' disk writes (fsynced journal lines, session.json) run here, off the UI loop, in order
        self.disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-writer")

    # -- a practice, from its first screen to its last -----------------------------------------
    @work(group="practice", exit_on_error=False)
    async def practise(self, step: Step) -> None:
        """Show each screen of a practice and go where the learner's choice there leads."""
        from .brief import BriefScreen
        from .chat import ChatScreen
        from .end import EndScreen
        from .replay import ReplayScreen
        from .transcript import TranscriptScreen

        started_on_library = self.screen is self.home
        played = leave_to_history = False
        self.in_practice = True
        try:
            while step is not None:
                if isinstance(step, ReadBrief):
                    self.prime(step.persona)  # the model reads the customer's prompt while the learner reads
                    if await self.push_screen_wait(BriefScreen(step.persona)) is not BriefChoice.START:
                        break
                    step = self._talk(self._start(step.persona)) or step
                elif isinstance(step, Talk):
                    ended = await self.push_screen_wait(ChatScreen(
                        step.conversation, clock=self.clock, cursor_blink=self.cursor_blink,
                        open_voice=self._voice_opener(step.conversation.persona),
                        send_on_end=self.settings.voice.send_on_end if self.settings else False))
                    played = True
                    if self.home is not None:
                        self.home.stale = True
                    step = Review(ended.record, ended.elapsed_s)
                elif isinstance(step, Review):
                    choice = await self.push_screen_wait(EndScreen(
                        step.record, elapsed_s=step.elapsed_s, workspace=self.workspace,
                        grading=self.grading.status(step.record),
                        leave="Library" if played or started_on_library else "Back"))
                    if choice is EndChoice.AGAIN:
                        step = self._brief_of(step.record.persona_id) or step
                    elif choice is EndChoice.REPLAY:
                        step = Replay(step.record, step.elapsed_s)
                    else:
                        leave_to_history = choice is EndChoice.HISTORY
                        break
                elif isinstance(step, Replay):
                    choice = await self.push_screen_wait(ReplayScreen(step.record))
                    step = (self._talk(self._branch(step.record, choice.turn)) or step
                            if isinstance(choice, TryAgain) else Review(step.record, step.elapsed_s))
                elif isinstance(step, ReadTranscript):
                    if await self.push_screen_wait(TranscriptScreen(step.record, self.workspace)) \
                            is not TranscriptChoice.RESUME:
                        break
                    step = self._talk(self._resume(step.record)) or step
        finally:
            self.in_practice = False
        if played:  # after a practice, Esc on its feedback is "Library", wherever it began
            while len(self.screen_stack) > 1 and self.screen is not self.home:
                await self.pop_screen()
        if leave_to_history:
            self.action_open_history()

    @on(Practise)
    def _practise_persona(self, message: Practise) -> None:
        self._begin(ReadBrief(message.persona))

    @on(OpenSession)
    def _open_session(self, message: OpenSession) -> None:
        record = message.record
        self._begin(Review(record) if record.ended else ReadTranscript(record))

    def _begin(self, step: Step) -> None:
        if self.in_practice:  # e.g. History opened from the palette during a chat
            self.notify("Finish the practice on screen first (its feedback's Esc leaves it).", severity="warning")
            return
        self.in_practice = True
        self.practise(step)

    # -- opening sessions ------------------------------------------------------------------------
    @staticmethod
    def _talk(conversation: "Conversation | None") -> Talk | None:
        return Talk(conversation) if conversation is not None else None

    def _brief_of(self, persona_id: str) -> ReadBrief | None:
        persona = self.library.personas.get(persona_id) if self.library else None
        if persona is None:
            self.notify("That persona is no longer in the library.", severity="warning")
            return None
        return ReadBrief(persona)

    def _start(self, persona) -> "Conversation | None":
        library = self.library
        if library is None:
            return None
        return self._open(lambda Conversation, model, **kw: Conversation.start(
            persona, library.rubric_for(persona), model, **kw))

    def _branch(self, record, turn: int) -> "Conversation | None":
        return self._open(lambda Conversation, model, **kw: Conversation.branch(record, turn, model, **kw),
                          title="Cannot try again")

    def _resume(self, record) -> "Conversation | None":
        """An unfinished session, from its journal (e.g. after a crash)."""
        return self._open(lambda Conversation, model, **kw: Conversation.resume(
            record, model, clock=kw["clock"], writer=kw["writer"]), title="Cannot resume")

    def _open(self, open_with: Callable[..., "Conversation"], *, title: str = "Cannot start") -> "Conversation | None":
        """A conversation on the customer's model, journaled on the app's writer thread; on
        failure the reason in one notification, and None."""
        from ..core.errors import RoleplayError

        if self.settings is None:
            self.notify(self.settings_error or "settings are still loading — try again in a moment",
                        title=title, severity="error", timeout=12)
            return None
        try:
            from ..practice.engine import Conversation

            model = self.model_factory(self.settings.persona)
            return open_with(Conversation, model, workspace=self.workspace, clock=self.clock, writer=self.disk,
                             models={"persona": model.model, "evaluator": self.settings.evaluator.model},
                             learner=self.settings.learner)
        except RoleplayError as exc:
            self.notify(str(exc), title=title, severity="error", timeout=12)
            return None

    # -- grading -----------------------------------------------------------------------------
    @on(GradeSession)
    def _grade_session(self, message: GradeSession) -> None:
        if self.settings is None:
            self.post_message(GradingUpdate(Grading.key(message.record), "Not graded: the model settings could "
                                            "not be loaded (see the notice).", final=True))
        elif self.grading.begin(message.record):  # once at a time per session
            self._grade(message.record)

    @work(group="grading", exit_on_error=False)
    async def _grade(self, record) -> None:
        await self.grading.run(record, self.model_factory, self.settings.evaluator, self.post_message)

    @on(GradingUpdate)
    def _grading_update(self, update: GradingUpdate) -> None:
        """On the End screen of that session if it is open; else, a result in a notification."""
        from .end import EndScreen

        if update.evaluation is not None and self.home is not None:
            self.home.stale = True  # its Last column
        shown = [s for s in self.screen_stack if isinstance(s, EndScreen) and s.key == update.key]
        for screen in shown:
            screen.show_grading(update.status, update.evaluation)
        if update.final and self.screen not in shown:
            self.notify(update.status.splitlines()[0], title="Grading",
                        severity="information" if update.evaluation else "warning", timeout=10)
        if update.final and update.evaluation is not None:
            self.send_records()

    # -- voice ---------------------------------------------------------------------------------------
    def _voice_opener(self, persona) -> "Callable[[], object] | None":
        """How the chat opens voice for this persona (in its thread, on the first F6)."""
        if self.settings is None:
            return None
        settings = self.settings.voice

        def open_voice():
            from ..practice.voice_loop import open_voice as opened

            voice = persona.voice
            return opened(voice.id if voice else None, voice.speed if voice else 1.0,
                          voice.pitch if voice else 1.0, settings)
        return open_voice

    # -- learning records ------------------------------------------------------------------------
    def send_records(self) -> None:
        """Results to the LRS, in a thread, when one is configured (see ``tui.records``)."""
        if self.settings is not None and self.settings.lrs is not None:
            self._send_records()

    @work(thread=True, group="records", exit_on_error=False)
    def _send_records(self) -> None:
        from .records import send_waiting

        self.post_message(send_waiting(self.workspace))

    @on(OutboxChanged)
    def _outbox_changed(self, message: OutboxChanged) -> None:
        from .history import HistoryScreen

        self.outbox_waiting, self.outbox_note = message.waiting, message.note
        text = outbox_line(message.waiting, message.note)
        for screen in self.screen_stack:
            if isinstance(screen, (HomeScreen, HistoryScreen)):
                screen.show_outbox(text)
        if self._resend_timer is not None:
            self._resend_timer.stop()
            self._resend_timer = None
        if message.waiting:  # try again in a while: the network may come back
            self._resend_timer = self.set_timer(RESEND_S, self.send_records)

    # -- the library, settings and models --------------------------------------------------------
    def get_default_screen(self) -> HomeScreen:
        # the first screen itself, not pushed over a blank one: one screen less to paint
        self.home = HomeScreen(self.workspace, model=self.model_name, evaluator_model=self.evaluator_model_name)
        return self.home

    @on(LibraryLoaded)
    def _library_loaded(self, message: LibraryLoaded) -> None:
        """Take in what the loader found; once the settings are in, ask the learner's name
        (once) and start the warm-up (once)."""
        data: LibraryData = message.data
        self.library = data.library
        if not data.complete:
            return
        self.settings = data.settings
        self.settings_error = data.settings_error
        if data.settings_error:
            self.notify(f"{data.settings_error}\nFix the config file, then press r to reload.",
                        title="Config file", severity="error", timeout=15)
        if data.settings is not None and data.settings.learner is None and not self.learner_asked:
            from .forms import LearnerModal

            self.learner_asked = True  # once: a skip is saved too
            self.push_screen(LearnerModal(), self._learner_given)
        if data.settings is not None and data.settings.lrs is not None and not self.records_started:
            self.records_started = True  # what waits from earlier sessions goes now, if the LRS answers
            self.send_records()
        if data.settings is not None and not self.injected_model and not self.warm_up_started:
            self.warm_up_started = True
            self.warm_up(data.settings.persona)
        self._import_screens()

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

    @on(UseModel)
    def _use_model(self, message: UseModel) -> None:
        """Save a role's model in the user config and read the settings again, with the
        command line's flags still over them (``--model M`` stays M)."""
        from ..core.errors import RoleplayError
        from ..models.config import load_settings, save_role_model

        try:
            path = save_role_model(message.role, message.model, message.api_base, message.key_env)
            self.settings = load_settings(self.workspace, model=self.model_name,
                                          evaluator_model=self.evaluator_model_name)
        except (RoleplayError, OSError, ValueError) as exc:
            self.notify(f"Not saved: {' '.join(str(exc).split())[:300]}", severity="error", timeout=15)
            return
        role = self.settings.persona if message.role == "persona" else self.settings.evaluator
        label = "customer" if message.role == "persona" else "evaluator"
        if role.model != message.model:
            self.notify(f"Saved in {path}, but this run's {label} stays {role.model} (from the command line).",
                        severity="warning", timeout=10)
        else:
            self.notify(f"The {label} is now {message.model} (saved in {path}).", timeout=8)
        self._models_changed()

    @on(AskGateway)
    def _ask_gateway(self) -> None:
        from .forms import GatewayModal

        def given(gateway) -> None:
            if gateway is not None:
                self.post_message(UseModel("persona", gateway.customer, gateway.url, gateway.key_env or None))
                self.post_message(UseModel("evaluator", gateway.evaluator, gateway.url, gateway.key_env or None))

        self.push_screen(GatewayModal(), given)

    def _models_changed(self) -> None:
        from .models_screen import ModelsScreen

        for screen in self.screen_stack:
            if isinstance(screen, ModelsScreen):
                screen.show_roles(self.settings, self.settings_error)

    def action_open_models(self) -> None:
        from .models_screen import ModelsScreen

        if not isinstance(self.screen, ModelsScreen):
            self.push_screen(ModelsScreen(self.settings, self.settings_error, self.model_factory))

    def action_open_progress(self) -> None:
        from .progress import ProgressScreen

        if self.in_practice:
            self.notify("Finish the practice on screen first.", severity="warning")
        elif not isinstance(self.screen, ProgressScreen):
            personas = list(self.library.personas.values()) if self.library else []
            self.push_screen(ProgressScreen(self.workspace, personas))

    def action_open_history(self) -> None:
        from .history import HistoryScreen

        if self.in_practice:
            self.notify("Finish the practice on screen first.", severity="warning")
        elif not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen(self.workspace, outbox=outbox_line(self.outbox_waiting, self.outbox_note)))

    # -- workers off the UI loop ----------------------------------------------------------------
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
        if self.freeze_gc:
            freeze_heap()

    @work(thread=True, group="imports", exclusive=True, exit_on_error=False)
    def _import_screens(self) -> None:
        """Import a practice's screens off the UI thread, so the first Enter is quick."""
        from . import brief, chat, end  # noqa: F401

    @work(thread=True, group="prime", exclusive=True, exit_on_error=False)
    def prime(self, persona) -> None:
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
        if self.freeze_gc and not self.primed_once:  # once: later, a past practice's objects would be kept
            self.primed_once = True
            freeze_heap()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Errors in one place: a worker that fails unexpectedly is told in one line (the
        chat's model calls report their own, next to the prompt)."""
        if event.state == WorkerState.ERROR and event.worker.group != "model":
            error = event.worker.error
            self.notify(f"{event.worker.group or event.worker.name} failed: {error}", title="Error",
                        severity="error", timeout=15)


def freeze_heap() -> None:
    """Leave what is loaded by now (litellm, the library, the meaning layer: some 370,000
    objects) out of the garbage collector's full passes, which hold the UI and the reply's
    first words up while they run: before the freeze each took 90–250 ms in the app, after it
    26 ms (measured with gc.callbacks in tmux). Only in the real app: a frozen object is never
    freed, and a test process runs hundreds of apps."""
    import gc

    gc.freeze()


def run_app(workspace: Path, model: str | None = None, evaluator_model: str | None = None) -> int:
    """Run the app until the user quits; returns the exit code."""
    app = RoleplayApp(Path(workspace), model=model, evaluator_model=evaluator_model, freeze_gc=True)
    result = app.run()
    if isinstance(result, int):
        return result
    return app.return_code or 0
