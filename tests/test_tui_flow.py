"""The app owns the flow (issue 20): each screen on its own, on a bare host app, hands back
a typed result; every path of a practice lands where the learner expects; no screen imports
another screen."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from fakes import ScriptedModel
from test_tui import DANA, SIZE, make_app, open_chat, say, screen_text, settle
from textual.app import App
from textual.widgets import DataTable

from simulator.content.library import load_library
from simulator.practice.scripted import save_record, scripted_record
from simulator.tui.brief import BriefScreen
from simulator.tui.chat import ChatScreen
from simulator.tui.end import EndScreen
from simulator.tui.flow import BriefChoice, EndChoice, GradeSession, SessionEnded, TranscriptChoice, TryAgain
from simulator.tui.history import HistoryScreen
from simulator.tui.home import HomeScreen
from simulator.tui.replay import ReplayScreen
from simulator.tui.transcript import TranscriptScreen

TUI = Path(__file__).resolve().parent.parent / "simulator" / "tui"
NOT_SET = object()


# -- the structure ----------------------------------------------------------------------------

def _screen_modules() -> set[str]:
    """The tui modules that define a screen (a class deriving from Screen or ModalScreen)."""
    found = set()
    for path in TUI.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).split("[")[0] for b in node.bases}
                if bases & {"Screen", "ModalScreen", "FormModal"}:
                    found.add(path.stem)
    return found


def _tui_imports(path: Path) -> set[str]:
    """The simulator.tui modules ``path`` imports (relative imports included, also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names |= {node.module} if node.module else {a.name for a in node.names}
            elif node.module and node.module.startswith("simulator.tui."):
                names.add(node.module.removeprefix("simulator.tui."))
    return names


def test_no_screen_imports_another_screen_and_only_the_app_imports_screens():
    screens = _screen_modules()
    assert {"brief", "chat", "end", "history", "home", "models_screen", "progress", "replay", "transcript",
            "forms"} <= screens
    wrong = {}
    for path in TUI.glob("*.py"):
        if path.stem == "app":
            continue
        reached = _tui_imports(path) & screens - {path.stem}
        if reached:
            wrong[path.stem] = sorted(reached)
    assert wrong == {}, f"screens imported outside the app: {wrong}"


def test_no_screen_reaches_into_the_app_for_state():
    """Data goes into a screen through its constructor: nothing outside app.py imports the
    app or reads its attributes (``self.app.settings``, ``.rp``…)."""
    app_attributes = ("settings", "library", "workspace", "model_factory", "grading", "disk", "clock",
                      "home", "in_practice")
    for path in TUI.glob("*.py"):
        if path.stem in ("app", "__init__"):
            continue
        text = path.read_text(encoding="utf-8")
        assert "app" not in _tui_imports(path) and ".rp." not in text, path.name
        for attribute in app_attributes:
            assert f"self.app.{attribute}" not in text, f"{path.name} reads self.app.{attribute}"


# -- each screen on a bare host app (oterm's way) ------------------------------------------------

class Host(App):
    """Shows one screen and keeps what it dismissed with, and the messages it posted."""

    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.under_test = screen
        self.result: Any = NOT_SET
        self.posted: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.under_test, self._dismissed)

    def _dismissed(self, result: Any) -> None:
        self.result = result

    def on_grade_session(self, message: GradeSession) -> None:
        self.posted.append(message)

    def on_practise(self, message: Any) -> None:
        self.posted.append(message)

    def on_open_session(self, message: Any) -> None:
        self.posted.append(message)

    def on_library_loaded(self, message: Any) -> None:
        self.posted.append(message)

    def on_use_model(self, message: Any) -> None:
        self.posted.append(message)

    async def settle(self, pilot) -> None:
        """The screen's own workers done (loading its rows)."""
        import asyncio

        await pilot.pause()
        await asyncio.gather(*(w.wait() for w in self.workers if not w.is_finished), return_exceptions=True)
        await pilot.pause()


def _record(workspace: Path, learner=("I'm sorry about the surprise, Dana.", "Let me look at the bill."),
            outcome: str | None = "ended_by_learner"):
    """A saved session with Dana (a new one each call)."""
    library = load_library(workspace)
    persona = library.personas[DANA]
    record = scripted_record(persona, library.rubric_for(persona), list(learner), ["Go on.", "Fine."],
                             outcome=outcome)
    record.session_id = f"20261101-{len(list((workspace / 'sessions').glob('*'))):02d}0000-{DANA}-0001"
    save_record(record, workspace)
    return record


@pytest.mark.parametrize(("key", "choice"), [("enter", BriefChoice.START), ("escape", BriefChoice.BACK)])
async def test_the_brief_screen_answers_start_or_back(workspace, key, choice):
    host = Host(BriefScreen(load_library(workspace).personas[DANA]))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Dana" in screen_text(host.screen)
        await pilot.press(key)
        await pilot.pause()
    assert host.result is choice


@pytest.mark.parametrize(("key", "choice"), [("escape", EndChoice.LEAVE), ("p", EndChoice.AGAIN),
                                             ("r", EndChoice.REPLAY), ("h", EndChoice.HISTORY)])
async def test_the_end_screen_answers_what_the_learner_picks(workspace, key, choice):
    record = _record(workspace)
    host = Host(EndScreen(record, workspace=workspace))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert [type(m) for m in host.posted] == [GradeSession]  # not graded yet: it asks the app
        await pilot.press(key)
        await pilot.pause()
    assert host.result is choice


async def test_the_end_screen_says_where_esc_goes(workspace):
    record = _record(workspace)
    for leave, shown, hidden in (("Library", "Library", "Back"), ("Back", "Back", "Library")):
        host = Host(EndScreen(record, workspace=workspace, grading="Grading with the judge…", leave=leave))
        async with host.run_test(size=SIZE) as pilot:
            await pilot.pause()
            labels = {a.binding.description for a in host.screen.active_bindings.values() if a.enabled}
            assert shown in labels and hidden not in labels
            assert host.posted == []  # a grading still running is shown, not started again
            assert "Grading with the judge…" in screen_text(host.screen)


async def test_the_end_screen_shows_the_grading_the_app_reports(workspace):
    record = _record(workspace)
    host = Host(EndScreen(record, workspace=workspace))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        host.screen.show_grading("Grading with fake/judge…\n█░ 1/2 judged")
        await pilot.pause()
        assert "1/2 judged" in screen_text(host.screen)


async def test_the_replay_screen_answers_try_again_from_a_learner_turn_or_nothing(workspace):
    record = _record(workspace)
    host = Host(ReplayScreen(record))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("t")  # turn 0 is the customer's: nothing to try again
        await pilot.pause()
        assert host.result is NOT_SET
        await pilot.press("right", "t")
        await pilot.pause()
    assert host.result == TryAgain(1)
    host = Host(ReplayScreen(record))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert host.result is None


async def test_the_transcript_screen_resumes_only_an_unfinished_session(workspace):
    unfinished = _record(workspace, outcome=None)
    host = Host(TranscriptScreen(unfinished, workspace))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
    assert host.result is TranscriptChoice.RESUME
    host = Host(TranscriptScreen(_record(workspace), workspace))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("r")  # ended: nothing to resume
        await pilot.pause()
        assert host.result is NOT_SET
        await pilot.press("escape")
        await pilot.pause()
    assert host.result is TranscriptChoice.BACK


async def test_the_chat_screen_hands_back_the_ended_session(workspace):
    from simulator.practice.engine import Conversation

    library = load_library(workspace)
    persona = library.personas[DANA]
    conversation = Conversation.start(persona, library.rubric_for(persona), ScriptedModel(replies=["Go on then."]),
                                      workspace=workspace)
    host = Host(ChatScreen(conversation, clock=lambda: 0.0, cursor_blink=False))
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not host.screen.query("#banner")  # a capable model: no banner
        await pilot.press("ctrl+e", "enter")
        await pilot.pause()
    assert isinstance(host.result, SessionEnded) and host.result.record.outcome == "ended_by_learner"


async def test_the_library_on_its_own_asks_the_app_to_practise_the_picked_persona(workspace):
    from simulator.tui.flow import Practise
    from simulator.tui.home import LibraryLoaded

    host = Host(HomeScreen(workspace))
    async with host.run_test(size=SIZE) as pilot:
        await host.settle(pilot)
        loaded = [m for m in host.posted if isinstance(m, LibraryLoaded)]
        assert loaded and loaded[-1].data.complete and DANA in loaded[-1].data.library.personas
        table = host.screen.query_one("#personas", DataTable)
        table.move_cursor(row=table.get_row_index(DANA))
        await pilot.press("enter")
        await pilot.pause()
    asked = [m for m in host.posted if isinstance(m, Practise)]
    assert [m.persona.id for m in asked] == [DANA]


async def test_history_on_its_own_asks_the_app_to_open_the_picked_session(workspace):
    from simulator.tui.flow import OpenSession

    record = _record(workspace)
    host = Host(HistoryScreen(workspace))
    async with host.run_test(size=SIZE) as pilot:
        await host.settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
    assert [m.record.session_id for m in host.posted if isinstance(m, OpenSession)] == [record.session_id]


async def test_progress_on_its_own_asks_the_app_to_practise_a_suggested_persona(workspace):
    from fakes import ScriptedModel as Judge

    from simulator.grading.evaluator import evaluate
    from simulator.models.config import SMALL
    from simulator.tui.flow import Practise
    from simulator.tui.progress import ProgressScreen

    for _ in range(2):
        record = _record(workspace, learner=("Calm down.",))
        await evaluate(record, record.rubric_snapshot(), Judge(capabilities=SMALL))
    personas = list(load_library(workspace).personas.values())
    host = Host(ProgressScreen(workspace, personas))
    async with host.run_test(size=SIZE) as pilot:
        await host.settle(pilot)
        suggested = host.screen.report.suggested
        await pilot.press("1")
        await pilot.pause()
    assert [m.persona.id for m in host.posted if isinstance(m, Practise)] == [suggested[0][0]]


async def test_the_models_screen_on_its_own_hands_the_choice_to_the_app(workspace):
    from simulator.models.config import load_settings
    from simulator.tui.flow import UseModel
    from simulator.tui.models_screen import ModelsScreen

    settings = load_settings(workspace)
    host = Host(ModelsScreen(settings, None, lambda s: ScriptedModel()))
    async with host.run_test(size=SIZE) as pilot:
        await host.settle(pilot)
        assert settings.persona.model in screen_text(host.screen)
        first = host.screen.choices[0].model
        await pilot.press("e")
        await pilot.pause()
    chosen = [m for m in host.posted if isinstance(m, UseModel)]
    assert [(m.role, m.model) for m in chosen] == [("evaluator", first)]


@pytest.mark.parametrize(("typed", "answer"), [("  Sam   Carter ", "Sam Carter"), (None, "")])
async def test_the_learner_form_answers_the_name_or_nothing(workspace, typed, answer):
    from simulator.tui.forms import LearnerModal

    host = Host(LearnerModal())
    async with host.run_test(size=SIZE) as pilot:
        await pilot.pause()
        if typed is None:
            await pilot.press("escape")
        else:
            host.screen.query_one("#learner-name").value = typed
            await pilot.press("enter")
        await pilot.pause()
    assert host.result == answer


# -- where every path lands ------------------------------------------------------------------

def stack(app) -> list[str]:
    return [type(s).__name__ for s in app.screen_stack]


async def test_library_brief_chat_end_then_esc_is_the_library(workspace):
    app = make_app(workspace, ScriptedModel(replies=["Go on then."]))
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        assert stack(app) == ["HomeScreen", "ChatScreen"]  # the brief made way for the chat
        await say(pilot, "Let me look into it.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        assert stack(app) == ["HomeScreen", "EndScreen"]
        await pilot.press("escape")
        await settle(pilot)
        assert stack(app) == ["HomeScreen"]


async def test_esc_on_the_brief_goes_back_to_the_library(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, BriefScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert stack(app) == ["HomeScreen"] and not app.in_practice


async def test_practise_again_from_a_session_opened_in_history_then_esc_is_the_library(workspace):
    _record(workspace)
    app = make_app(workspace, ScriptedModel(replies=["Go on then."]))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert stack(app) == ["HomeScreen", "HistoryScreen", "EndScreen"]
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, BriefScreen)
        await pilot.press("enter")
        await settle(pilot)
        await say(pilot, "Let me look into it.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        assert isinstance(app.screen, EndScreen) and app.screen.leave == "Library"
        await pilot.press("escape")
        await settle(pilot)
        assert stack(app) == ["HomeScreen"]


async def test_replay_try_again_then_esc_is_the_library_not_the_old_feedback(workspace):
    app = make_app(workspace, ScriptedModel(replies=["Go on then.", "Better."]))
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await say(pilot, "Calm down, policy is policy.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        old = app.screen
        await pilot.press("r")
        await settle(pilot)
        assert stack(app) == ["HomeScreen", "ReplayScreen"]
        await pilot.press("escape")  # back to the same session's feedback
        await settle(pilot)
        assert stack(app) == ["HomeScreen", "EndScreen"]
        assert app.screen.record.session_id == old.record.session_id
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("right", "t")
        await settle(pilot)
        assert stack(app) == ["HomeScreen", "ChatScreen"]
        await say(pilot, "I can see why that bill was a shock.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        assert stack(app) == ["HomeScreen", "EndScreen"]
        assert app.screen.record.session_id != old.record.session_id
        await pilot.press("escape")
        await settle(pilot)
        assert stack(app) == ["HomeScreen"]


async def test_esc_on_a_brief_opened_from_progress_goes_back_to_progress(workspace):
    from fakes import ScriptedModel as Judge

    from simulator.grading.evaluator import evaluate
    from simulator.models.config import SMALL

    for n in range(2):
        record = _record(workspace, learner=("Calm down.",))
        await evaluate(record, record.rubric_snapshot(), Judge(capabilities=SMALL))
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        assert stack(app) == ["HomeScreen", "ProgressScreen", "BriefScreen"]
        await pilot.press("escape")
        await settle(pilot)
        assert stack(app) == ["HomeScreen", "ProgressScreen"]


async def test_history_cannot_start_a_second_practice_over_a_chat(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await app.run_action("open_history")
        await settle(pilot)
        assert isinstance(app.screen, ChatScreen)
        assert any("Finish the practice" in str(n.message) for n in app._notifications)


async def test_a_model_picked_for_the_evaluator_keeps_the_command_line_customer(workspace):
    """`roleplay --model M`, then Models → e: the customer is still M (the flags stay over the config)."""
    from simulator.tui.models_screen import ModelsScreen

    from simulator.tui.app import RoleplayApp

    app = RoleplayApp(workspace, model="openai/from-the-flag", model_factory=lambda settings: ScriptedModel(),
                      clock=lambda: 0.0, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.settings.persona.model == "openai/from-the-flag"
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ModelsScreen)
        builtin = app.screen.choices[0].model
        app.screen.query_one("#models", DataTable).move_cursor(row=0)
        await pilot.press("e")
        await settle(pilot)
        assert app.settings.evaluator.model == builtin
        assert app.settings.persona.model == "openai/from-the-flag"
        assert "openai/from-the-flag" in screen_text(app.screen)  # the roles shown are the ones in use
        await pilot.press("c")  # saved, but this run's customer stays the flag's: said so
        await settle(pilot)
        assert app.settings.persona.model == "openai/from-the-flag"
        assert any("stays openai/from-the-flag" in str(n.message) for n in app._notifications)
