"""The Textual app, driven by pilot with a scripted fake model (never a real one)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import ScriptedModel, model_error
from textual.widgets import DataTable, Input, Markdown, Static

from simulator.content.library import load_library
from simulator.practice.sessions import list_session_folders, read_journal
from simulator.tui.app import RoleplayApp
from simulator.tui.brief import BriefScreen
from simulator.tui.chat import BriefModal, ChatScreen
from simulator.tui.commands import palette_entries
from simulator.tui.end import EndScreen
from simulator.tui.history import HistoryScreen
from simulator.tui.transcript import TranscriptScreen
from simulator.tui.home import HomeScreen
from simulator.tui.widgets import Bubble, FrustrationMeter

SIZE = (80, 24)
DANA = "overcharged-loyal-customer"
HARD = "repeat-washer-leak"


def make_app(workspace: Path, model: ScriptedModel | None = None, **kwargs) -> RoleplayApp:
    model = model or ScriptedModel()
    return RoleplayApp(workspace, model_factory=lambda settings: model, clock=lambda: 0.0,
                       cursor_blink=False, **kwargs)


async def settle(pilot) -> None:
    """The screen updated and the workers done (all but the app's practice, which waits for the learner)."""
    await pilot.pause()
    busy = [w for w in pilot.app.workers if w.group != "practice" and not w.is_finished]
    await asyncio.gather(*(w.wait() for w in busy), return_exceptions=True)  # a failure shows on screen
    await pilot.pause()


async def open_brief(pilot, persona_id: str = DANA) -> None:
    await settle(pilot)
    table = pilot.app.screen.query_one("#personas", DataTable)
    table.move_cursor(row=table.get_row_index(persona_id))
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, BriefScreen)


async def open_chat(pilot, persona_id: str = DANA) -> ChatScreen:
    await open_brief(pilot, persona_id)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ChatScreen)
    return pilot.app.screen


async def say(pilot, text: str) -> None:
    pilot.app.screen.query_one("#prompt", Input).value = text
    await pilot.press("enter")
    await settle(pilot)


async def end_after(pilot, text: str) -> None:
    """Open a chat with Dana, say ``text``, end the session (the End screen opens)."""
    await open_chat(pilot)
    await say(pilot, text)
    await pilot.press("ctrl+e", "enter")
    await pilot.pause()


def bubbles(screen) -> list[tuple[str, str]]:
    return [(b.kind, b.text) for b in screen.query(Bubble)]


def screen_text(screen) -> str:
    """Every piece of text the screen shows (Static contents and Markdown sources)."""
    parts = []
    for widget in screen.query("*"):
        if isinstance(widget, Markdown):
            parts.append(widget.source)
        elif isinstance(widget, Static):
            parts.append(str(widget.visual) if not isinstance(widget.content, str) else widget.content)
    return "\n".join(parts)


def notice(screen) -> str:
    widget = screen.query_one("#notice", Static)
    return str(widget.content) if widget.display else ""


def journal(workspace: Path):
    folders = list_session_folders(workspace)
    assert len(folders) == 1
    return read_journal(folders[0])


# -- start-up ---------------------------------------------------------------------------------

def test_importing_the_app_does_not_import_litellm():
    code = "import sys, simulator.tui.app; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


async def test_warm_up_runs_after_first_paint_only_with_the_real_gateway(workspace, monkeypatch):
    import simulator.models.gateway as gateway

    calls = []

    async def fake_warm_up(settings):
        calls.append(settings.role)

    monkeypatch.setattr(gateway, "warm_up", fake_warm_up)
    app = RoleplayApp(workspace)  # the default factory: warm-up starts
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert calls == ["persona"]
    injected = make_app(workspace)
    async with injected.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not injected.warm_up_started
    assert calls == ["persona"]


# -- library ----------------------------------------------------------------------------------

async def test_what_is_loaded_before_a_practice_is_left_out_of_full_garbage_collections(workspace):
    import gc

    gc.unfreeze()
    app = make_app(workspace, freeze_gc=True)  # as run_app makes it
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_brief(pilot)  # the brief primes the model and the meaning layer, then freezes
            await settle(pilot)
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


async def test_library_lists_personas_and_broken_files(workspace):
    (workspace / "personas" / "zz-typo.yaml").write_text("version: 1\nname: Typo Tess\n")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#personas", DataTable)
        library = load_library(workspace)
        assert table.row_count == len(library.personas) + 1
        row = table.get_row("broken:zz-typo")
        assert row[2] == "BROKEN" and row[1].startswith("⚠ missing required")
        table.move_cursor(row=table.get_row_index("broken:zz-typo"))
        await pilot.pause()
        detail = str(app.screen.query_one("#detail", Static).content)
        assert "personas/zz-typo.yaml:1:1" in detail and "title" in detail
        await pilot.press("enter")  # a broken row does not open a brief
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_the_saved_rows_show_before_the_files_are_read_then_everything_fills_in(workspace, monkeypatch):
    """Issue 11: the first frame shows the rows saved last time (the files unchanged); the
    files are read after it, then the "Last" column fills in. Enter pressed meanwhile
    opens the brief once the persona is read."""
    import threading

    import simulator.tui.loader as loader
    from simulator.content.index import file_stamps, index_of, save_index

    save_index(workspace, index_of(load_library(workspace)), file_stamps(workspace))
    reading = threading.Event()
    real = loader.load_personas

    def held_back(ws):
        assert reading.wait(timeout=60)
        return real(ws)

    monkeypatch.setattr(loader, "load_personas", held_back)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#personas", DataTable)
        assert table.row_count == len(load_library(workspace).personas) and not table.loading
        assert table.get_row(DANA)[4] == "…" and app.library is None
        first = load_library(workspace).sorted_personas()[0]
        assert str(app.screen.query_one("#detail", Static).content).startswith(f"{first.name} — {first.title}")
        table.move_cursor(row=table.get_row_index(DANA))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        reading.set()
        await settle(pilot)
        assert isinstance(app.screen, BriefScreen) and app.screen.persona.id == DANA
        assert table.get_row(DANA)[4] == "—" and app.settings is not None



async def test_without_saved_rows_the_files_are_previewed_then_checked(workspace, monkeypatch):
    """Issue 11: on the first start after a file changed (no saved index matches), the rows
    are read straight from the persona files, then validated: an error the preview cannot
    see turns its row into a BROKEN one; a file that is not valid YAML is BROKEN at once."""
    import asyncio
    import threading

    import simulator.tui.loader as loader

    dana = (workspace / "personas" / f"{DANA}.yaml").read_text()
    (workspace / "personas" / "zz-nested.yaml").write_text(
        dana.replace("Dana Whitaker", "Nested Nell").replace("  start: 7", "  strat: 7"))
    (workspace / "personas" / "zz-yaml.yaml").write_text("version: 1\nname: [unclosed\n")
    entered, reading = threading.Event(), threading.Event()
    real = loader.load_personas

    def held_back(ws):
        entered.set()  # the preview is on screen
        assert reading.wait(timeout=60)
        return real(ws)

    monkeypatch.setattr(loader, "load_personas", held_back)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        assert await asyncio.to_thread(entered.wait, 60)
        await pilot.pause()
        table = app.screen.query_one("#personas", DataTable)
        filters = app.screen.query_one("#filters", Static)
        assert table.get_row("zz-nested")[0] == "Nested Nell" and table.get_row(DANA)[4] == "…"
        assert table.get_row("broken:zz-yaml")[2] == "BROKEN"
        assert "checking the files" in str(filters.content) and app.library is None
        reading.set()
        await settle(pilot)
        assert table.get_row("broken:zz-nested")[1].startswith("⚠ unknown key")
        assert "zz-nested" not in {k.value for k in table.rows}
        assert "checking" not in str(filters.content) and "2 broken" in str(filters.content)

async def test_filters_by_difficulty_and_skill(workspace):
    app = make_app(workspace)
    library = load_library(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#personas", DataTable)
        await pilot.press("d")  # all -> easy
        easy = {p.id for p in library.personas.values() if p.difficulty == "easy"}
        assert {k.value for k in table.rows} == easy
        await pilot.press("d", "d", "d")  # medium, hard, back to all
        assert table.row_count == len(library.personas)
        app.screen.query_one("#skill").value = "empathy"
        await pilot.pause()
        assert {k.value for k in table.rows} == {p.id for p in library.personas.values() if "empathy" in p.skills}


async def test_last_outcome_column(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        await pilot.press("escape")  # End -> library
        await settle(pilot)
        table = app.screen.query_one("#personas", DataTable)
        assert re.fullmatch(r"\d\.\d [✓✗]", table.get_row(DANA)[4])  # graded from evidence at once
        assert table.get_row(HARD)[4] == "—"


# -- brief --------------------------------------------------------------------------------------

async def test_brief_shows_the_brief_but_no_hidden_fields(workspace):
    persona = load_library(workspace).personas[DANA]
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await open_brief(pilot)
        text = screen_text(app.screen)
        assert persona.brief.strip() in text
        assert "Turn limit: 20" in text and "medium" in text and "empathy" in text
        secrets = [persona.character.situation, persona.character.goal, persona.character.personality,
                   persona.character.background, *persona.character.examples, *persona.facts,
                   *(h.fact for h in persona.hidden), *(h.reveal_when for h in persona.hidden),
                   *persona.frustration.calms_when, *persona.frustration.rises_when,
                   persona.end.resolved_when, persona.end.gives_up_when, persona.opening]
        for secret in filter(None, secrets):
            assert secret.strip()[:40] not in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


# -- chat -----------------------------------------------------------------------------------------

async def test_reply_appears_and_turns_are_journaled(workspace):
    model = ScriptedModel(replies=["Nine years I've paid on time. Explain the $110."])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        persona = screen.persona
        assert bubbles(screen) == [("customer", persona.opening)]
        await say(pilot, "I'm sorry about the surprise, Dana. Let me look at the bill.")
        assert bubbles(screen)[-2:] == [("learner", "I'm sorry about the surprise, Dana. Let me look at the bill."),
                                        ("customer", "Nine years I've paid on time. Explain the $110.")]
        assert screen.query_one("#prompt", Input).value == ""
        assert "turn 1/20" in str(screen.query_one("#status", Static).content)
        record = journal(workspace)
        assert [t.speaker for t in record.turns] == ["customer", "learner", "customer"]
        assert record.turns[2].text == "Nine years I've paid on time. Explain the $110."


async def test_a_model_weak_at_holding_a_character_gets_a_banner_naming_it(workspace):
    """The banner comes from the client's capabilities and names the model that plays."""
    from simulator.models.config import SMALL, SMALL_SERVED

    app = make_app(workspace, ScriptedModel(model="local/SmolLM2-135M-Instruct", capabilities=SMALL))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        assert "SmolLM2-135M: fast but weak at staying in character" in screen_text(screen)
    app = make_app(workspace, ScriptedModel(model="ollama/qwen2.5:0.5b", capabilities=SMALL_SERVED))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        assert "ollama/qwen2.5:0.5b: fast but weak at staying in character" in screen_text(screen)
    app = make_app(workspace, ScriptedModel(model="openai/gpt-4o-mini"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        assert not screen.query("#banner")


async def test_hint_is_shown_as_coach_and_journaled(workspace):
    model = ScriptedModel(completions=["Name the overcharge and own it before explaining."])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert bubbles(screen)[-1] == ("hint", "Name the overcharge and own it before explaining.")
        assert screen.query(Bubble).last().label == "Coach:"
        assert journal(workspace).turns[-1].speaker == "hint"


async def test_model_error_gives_text_back_and_retry_works(workspace):
    model = ScriptedModel(replies=[model_error(), "ok"])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        await say(pilot, "Sorry for the wait, Dana.")
        assert "unreachable" in notice(screen) and "Ctrl+R" in notice(screen)
        assert screen.query_one("#prompt", Input).value == "Sorry for the wait, Dana."
        assert [k for k, _ in bubbles(screen)] == ["customer"]  # the failed exchange was taken back
        assert [t.speaker for t in journal(workspace).turns] == ["customer"]
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert bubbles(screen)[-1] == ("customer", "ok")
        assert notice(screen) == ""
        assert [t.speaker for t in journal(workspace).turns] == ["customer", "learner", "customer"]


async def test_escape_cancels_a_streaming_reply(workspace):
    model = ScriptedModel(replies=["This bill is still far too high, and nobody ever told me why it went up."], chunk_size=2,
                          chunk_delay=0.05)
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        screen.query_one("#prompt", Input).value = "Let me check that for you."
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert screen.streaming
        await pilot.press(*"next ")  # the Input stays usable while the reply streams
        assert screen.query_one("#prompt", Input).value == "next "
        await pilot.press("escape")
        await settle(pilot)
        assert not screen.streaming
        assert screen.query_one("#prompt", Input).value == "Let me check that for you. next"
        assert [k for k, _ in bubbles(screen)] == ["customer"]
        assert "cancelled" in notice(screen)
        assert [t.speaker for t in journal(workspace).turns] == ["customer"]


def footer_keys(screen) -> list[str]:
    from textual.widgets._footer import FooterKey

    return [key.description for key in screen.query(FooterKey)]


async def test_escape_cancels_before_the_first_words_and_the_footer_shows_it_with_them(workspace):
    """The footer's keys are rebuilt with the reply's first words, not at Enter (the rebuild
    took CPU the model needed to start); Esc cancels all the same."""
    words = asyncio.Event()
    model = ScriptedModel(replies=["Still far too high, and nobody told me why."])
    slow = model.stream

    def stream(messages, **kwargs):
        inner = slow(messages, **kwargs)
        chunks = inner._agen

        async def agen():
            await words.wait()
            async for chunk in chunks:
                yield chunk
        inner._agen = agen()
        return inner
    model.stream = stream  # type: ignore[method-assign]
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        words.set()
        await settle(pilot)  # the opening line
        words.clear()
        screen.query_one("#prompt", Input).value = "Let me check that for you."
        await pilot.press("enter")
        await pilot.pause()
        assert screen.streaming and "Cancel" not in footer_keys(screen)
        await pilot.press("escape")
        await settle(pilot)
        assert not screen.streaming and "cancelled" in notice(screen)
        assert screen.query_one("#prompt", Input).value == "Let me check that for you."
        await pilot.press("enter")
        await pilot.pause()
        words.set()
        while not (bubbles(screen)[-1][1] and "Cancel" in footer_keys(screen)) and screen.streaming:
            await pilot.pause()
        assert "Cancel" in footer_keys(screen) or not screen.streaming
        await settle(pilot)
        assert "Cancel" not in footer_keys(screen)  # the reply is complete
        assert bubbles(screen)[-1] == ("customer", "Still far too high, and nobody told me why.")


async def test_retried_stream_drops_partial_text(workspace):
    model = ScriptedModel(replies=["My bill is still wrong."], retry_before=["Half a rep"])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        await say(pilot, "Hello.")
        assert bubbles(screen)[-1] == ("customer", "My bill is still wrong.")
        assert "retrying" in notice(screen)


async def test_meter_hidden_on_hard_personas_and_toggled(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, HARD)
        meter = screen.query_one("#meter", FrustrationMeter)
        assert not meter.display
        await pilot.press("f4")
        assert meter.display and f"{screen.conversation.state.frustration}/10" in str(meter.content)
        await pilot.press("f4")
        assert not meter.display
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, DANA)
        assert screen.query_one("#meter", FrustrationMeter).display


async def test_brief_again_in_a_modal(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, BriefModal)
        assert screen.persona.brief.strip() in screen_text(app.screen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen


async def test_command_palette_offers_the_main_actions(workspace):
    model = ScriptedModel(completions=["Ask what matters most to her."])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        labels = [e[0] for e in palette_entries(app.screen)]
        assert "practice: start" in labels and "history: open" in labels
        screen = await open_chat(pilot)
        labels = [e[0] for e in palette_entries(screen)]
        assert {"session: end", "session: hint", "session: show brief", "session: toggle meter"} <= set(labels)
        assert "session: retry" not in labels  # nothing to retry
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"session: hint")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert bubbles(screen)[-1] == ("hint", "Ask what matters most to her.")


# -- endings ----------------------------------------------------------------------------------------

async def test_learner_ends_the_session(workspace):
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await pilot.press("ctrl+e")
        await pilot.pause()
        await pilot.press("escape")  # changed their mind
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        await pilot.press("ctrl+e")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EndScreen)
        assert app.screen.outcome == "ended_by_learner"
        text = screen_text(app.screen)
        assert "[ended_by_learner]" in text
        record = journal(workspace)
        assert record.outcome == "ended_by_learner"
        assert f"sessions/{record.folder.name}/" in text
        assert app.screen.query_one("#feedback")  # the feedback view


async def test_customer_resolves_the_call(workspace):
    model = ScriptedModel(replies=["Fine, noted.", "Okay, that's fair. Thanks for fixing it. [END]"],
                          directions=[{"frustration_change": -1, "reveal": [], "outcome": "continue", "why": ""},
                                      {"frustration_change": -1, "reveal": [], "outcome": "resolved",
                                       "why": "credited"}])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await say(pilot, "I'm crediting the $45 back now.")
        assert isinstance(app.screen, ChatScreen)
        await say(pilot, "And your old $65 price is restored from next month.")
        # the learner may still be typing: stray keys do not reach the End screen's bindings
        assert isinstance(app.screen, ChatScreen) and "Dana ended the call (resolved)" in screen_text(app.screen)
        await pilot.press("p", "g", "q")
        assert isinstance(app.screen, ChatScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EndScreen)
        assert app.screen.outcome == "resolved"
        text = screen_text(app.screen)
        assert "Resolved" in text and "Okay, that's fair. Thanks for fixing it." in text
        assert "[END]" not in text
        assert journal(workspace).outcome == "resolved"


async def test_history_lists_a_finished_session_and_opens_it(workspace):
    model = ScriptedModel(replies=["Go on then."])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await say(pilot, "Let me look into it.")
        await pilot.press("ctrl+e", "enter")
        await pilot.pause()
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one("#sessions", DataTable)
        assert table.row_count == 1
        row = table.get_row_at(0)
        assert row[1] == "Dana Whitaker" and row[2] == "1" and row[3] == "ended" and row[6] in ("evidence", "judged",
                                                                                               "pending", "failed")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EndScreen)  # an ended session opens with its feedback
        assert [k for k, _ in bubbles(app.screen)] == ["customer", "learner", "customer"]
        await pilot.press("escape")  # "Back": a session opened from History goes back to it
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("escape")  # h on the feedback left the practice: History sits on the library
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_broken_config_is_reported_not_fatal(workspace):
    (workspace / "roleplay.yaml").write_text("version: 1\npersona:\n  temperature: hot\n")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await open_brief(pilot)
        assert any("roleplay.yaml" in n.message for n in app._notifications)
        await pilot.press("enter")  # cannot start without settings: explained, not crashed
        await pilot.pause()
        assert isinstance(app.screen, BriefScreen)
        assert list_session_folders(workspace) == []


# -- snapshots (80x24, fixed clock, no cursor blink, fixed session id) ----------------------------------

@pytest.fixture
def fixed_session_id(monkeypatch):
    import simulator.practice.engine as engine

    monkeypatch.setattr(engine, "new_session_id", lambda persona_id: f"20260101-090000-{persona_id}-0000")


def test_snapshot_home(workspace, snap_compare):
    async def run_before(pilot):
        await settle(pilot)

    assert snap_compare(make_app(workspace), terminal_size=SIZE, run_before=run_before)


def test_snapshot_brief(workspace, snap_compare):
    assert snap_compare(make_app(workspace), terminal_size=SIZE, run_before=open_brief)


def test_snapshot_chat_after_one_exchange(workspace, snap_compare, fixed_session_id):
    model = ScriptedModel(replies=["Nine years I've paid on time, and now $110? Explain that."])

    async def run_before(pilot):
        await open_chat(pilot)
        await say(pilot, "I'm sorry about the surprise, Dana. Let me look at the bill with you.")

    assert snap_compare(make_app(workspace, model), terminal_size=SIZE, run_before=run_before)


def test_snapshot_end(workspace, snap_compare, fixed_session_id):
    model = ScriptedModel(replies=["Fine. Go on."], completions=lambda m: scripted_judge(m))

    async def run_before(pilot):
        await open_chat(pilot)
        await say(pilot, "I'm sorry about the surprise, I can see why that bill was a shock.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        await pilot.pause(0.2)  # the criteria table takes focus when grading finishes; let the footer follow

    assert snap_compare(make_app(workspace, model), terminal_size=SIZE, run_before=run_before)


# -- feedback -------------------------------------------------------------------------------------

def scripted_judge(messages):
    """Grades every criterion 4 with evidence from turn 1; the overall call suggests a better reply."""
    import re
    prompt = messages[1]["content"]
    match = re.search(r"^Criterion: .* \(([a-z-]+)\)$", prompt, re.MULTILINE)
    if match is None:
        return {"strengths": ["Apologised for the surprise"], "changes": ["Ask about her plans"],
                "better_replies": [{"turn": 1, "better": "I can see why that shocked you, Dana."}]}
    return {"score": 4, "reason": f"Good {match.group(1)}.", "evidence": [{"turn": 1, "quote": "sorry about the surprise"}],
            "improvement": "Name the feeling."}


async def test_feedback_after_the_session_with_evidence_jump(workspace):
    model = ScriptedModel(replies=["Go on then."], completions=scripted_judge)
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await say(pilot, "I'm sorry about the surprise, Dana.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EndScreen)
        text = screen_text(screen)
        assert "PASS · 4.00 of 5" in text and "graded by fake/scripted" in text
        table = screen.query_one("#criteria", DataTable)
        assert table.row_count == 11 and table.get_row_at(0)[1].startswith("4/5")  # ⚑ where the evidence rules disagree
        assert "turn 1: “sorry about the surprise”" in screen_text(screen)
        assert "you said: “I'm sorry about the surprise, Dana.”" in text  # better reply beside the original
        assert "Better: “I can see why that shocked you, Dana.”" in text
        assert "Questions:" in text  # the measured figures
        for _ in range(40):  # the criteria table takes focus once it is laid out
            if app.focused is table:
                break
            await pilot.pause(0.05)
        assert app.focused is table
        await pilot.press("right_square_bracket")  # next tab: the measured figures
        await pilot.pause()
        assert screen.query_one("#feedback-tabs").active == "tab-measured"
        await pilot.press("left_square_bracket")
        await pilot.pause()
        table.focus()
        await pilot.pause()
        await pilot.press("enter")  # jump to the evidence
        await pilot.pause()
        assert screen.query_one("#feedback-tabs").active == "tab-transcript"
        assert screen.query_one("#turn-1").has_class("evidence")
    record = journal(workspace)
    assert len(record.evaluations) == 1 and record.evaluations[0].overall.passed


async def test_feedback_pending_when_judge_fails_and_regrade(workspace):
    from fakes import model_error

    judge_calls = {"fail": True}

    def judge(messages):
        if judge_calls["fail"]:
            return model_error("unreachable")
        return scripted_judge(messages)

    model = ScriptedModel(replies=["Go on then."], completions=judge)
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await say(pilot, "I'm sorry about the surprise, Dana.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        text = screen_text(app.screen)
        assert "could not grade this session" in text and "asks the judge again" in text  # a grade at once
        assert "graded by evidence rules" in text
        assert "Learner turns: 1" in text  # measured at once
        assert journal(workspace).evaluation_pending
        judge_calls["fail"] = False
        await pilot.press("g")
        await settle(pilot)
        assert "PASS" in screen_text(app.screen)
    assert not journal(workspace).evaluation_pending


async def test_last_score_column_shows_the_grade(workspace):
    model = ScriptedModel(replies=["Go on then."], completions=scripted_judge)
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await say(pilot, "I'm sorry about the surprise, Dana.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        await pilot.press("escape")  # End -> library
        await settle(pilot)
        table = app.screen.query_one("#personas", DataTable)
        assert table.get_row(DANA)[4] == "4.0 ✓"


async def test_resume_an_unfinished_session_from_history(workspace):
    from simulator.practice.engine import Conversation
    from simulator.practice.sessions import Turn

    library = load_library(workspace)
    persona = library.personas[DANA]
    crashed = Conversation.start(persona, library.rubric_for(persona), ScriptedModel(), workspace=workspace)
    crashed._add(Turn(index=1, speaker="learner", text="Typed just before the crash"))  # never answered
    model = ScriptedModel(replies=["Finally, an answer."])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TranscriptScreen)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        assert app.screen.query_one("#prompt", Input).value == "Typed just before the crash"
        await pilot.press("enter")
        await settle(pilot)
        assert ("customer", "Finally, an answer.") in bubbles(app.screen)
    assert [t.text for t in journal(workspace).turns] == [persona.opening, "Typed just before the crash",
                                                         "Finally, an answer."]


async def test_a_pause_in_typing_lets_a_local_model_read_the_draft(workspace, monkeypatch):
    """While the learner types, a model that keeps an evaluated prompt reads the draft so
    far (up to its last whole word) in the conversation's cache slot, so on Enter only the
    last words and the move are left to read."""
    from simulator.models.config import Capabilities

    monkeypatch.setattr(ChatScreen, "DRAFT_PAUSE_S", 0.01)
    model = ScriptedModel(replies=["Go on."], capabilities=Capabilities(prefix_cache=True))
    async with make_app(workspace, model).run_test(size=(80, 24)) as pilot:
        await open_chat(pilot)
        await settle(pilot)
        model.calls.clear()
        await pilot.press(*"I can see why you are ups")
        for _ in range(50):  # wait for the timer and its worker, not for a fixed time
            await settle(pilot)
            primes = [c for c in model.calls if c["kind"] == "complete" and c["messages"][-1]["role"] == "user"]
            if primes:
                break
        assert primes and primes[-1]["messages"][-1]["content"] == "I can see why you are"
        assert primes[-1]["messages"][0]["role"] == "system"


async def test_damaged_sessions_are_listed_and_a_malformed_evaluation_does_not_stop_the_library(workspace):
    """Issue 9, fault 6: the library still loads (its spinner ends) when a saved evaluation is
    malformed, and the history lists an unreadable session with its reason."""
    model = ScriptedModel(replies=["Go on then."])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await end_after(pilot, "Let me look into it.")
        await settle(pilot)
    folder = next(p for p in (workspace / "sessions").iterdir() if p.is_dir())
    with (folder / "journal.jsonl").open("a") as handle:  # an evaluation someone edited by hand
        handle.write(json.dumps({"type": "evaluation", "evaluation": {"overall": "not a score"}}) + "\n")
    newer = workspace / "sessions" / "20990101-000000-from-the-future-0001"
    newer.mkdir()
    (newer / "session.json").write_text(json.dumps({"format": "roleplay-session", "version": 99}))

    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#personas", DataTable)
        assert not table.loading and table.row_count > 0
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        sessions = app.screen.query_one("#sessions", DataTable)
        assert sessions.row_count == 2
        assert sessions.get_row_at(0)[3] == "unreadable"
        assert "version 99 is newer" in str(app.screen.query_one("#history-detail").render())
        app.screen.query_one("#sessions", DataTable).move_cursor(row=1)
        await pilot.press("enter")  # the session with the damaged evaluation opens, and says so
        await settle(pilot)
        assert isinstance(app.screen, EndScreen)
        assert "The saved evaluation cannot be read" in screen_text(app.screen)


async def test_leaving_the_feedback_screen_mid_grade_keeps_the_grading(workspace):
    """Issue 9, fault 4: Enter while grading runs goes back to the library; the grading goes
    on (it is the app's), is saved, and its result is told in a notification."""
    import asyncio

    release = asyncio.Event()

    class SlowJudge(ScriptedModel):
        async def complete(self, messages, **kw):
            if "latest_agent_message" not in messages[-1]["content"]:
                await release.wait()
            return await super().complete(messages, **kw)

    model = SlowJudge(replies=["Go on then."], completions=scripted_judge)
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await end_after(pilot, "I'm sorry about the surprise, Dana.")
        assert isinstance(app.screen, EndScreen) and "Grading with" in screen_text(app.screen)
        await pilot.press("enter")  # back to the library while grading runs
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        release.set()
        await settle(pilot)
        assert any("Graded: 4.00 of 5" in str(n.message) for n in app._notifications)
    record = journal(workspace)
    assert len(record.evaluations) == 1 and record.evaluations[0].overall.passed


async def test_a_disk_error_while_grading_is_reported_not_left_spinning(workspace, monkeypatch):
    """Issue 9, fault 6: an OSError while the evaluation is saved ends "Grading…" with a
    one-line reason on the screen."""
    from simulator.grading import evaluator

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(evaluator, "write_report", full_disk)
    model = ScriptedModel(replies=["Go on then."], completions=scripted_judge)
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await end_after(pilot, "I'm sorry about the surprise, Dana.")
        await settle(pilot)
        text = screen_text(app.screen)
        assert "Not graded: the evaluation could not be saved (No space left on device)" in text
        assert "Grading with" not in text


async def test_disk_writes_of_a_session_run_off_the_ui_loop(workspace, monkeypatch):
    """Issue 9, fault 7: each turn's fsynced journal line and session.json rewrite happen on
    the app's writer thread, never on the UI loop (a slow disk would make the TUI stutter);
    the files still hold every turn in order when the reply is shown."""
    import os
    import threading

    real_fsync = os.fsync
    on_loop: list[str] = []

    def fsync(fd):
        if threading.current_thread() is threading.main_thread():
            on_loop.append(threading.current_thread().name)
        return real_fsync(fd)

    model = ScriptedModel(replies=["Go on then.", "And?"])
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        monkeypatch.setattr(os, "fsync", fsync)
        await say(pilot, "I'm sorry about the surprise, Dana.")
        assert [t.text for t in journal(workspace).turns][-2:] == ["I'm sorry about the surprise, Dana.", "Go on then."]
        await say(pilot, "What would help most?")
        assert on_loop == []


def test_history_counts_only_answered_turns_of_an_unfinished_session():
    """Seen in tmux after kill -9: the history said 3 turns where the resumed session says
    turn 2 (the unanswered message is handed back on resume, not counted)."""
    from simulator.practice.sessions import Turn
    from simulator.tui.widgets import learner_turns

    said = ["customer", "learner", "customer", "hint", "learner", "customer", "learner"]
    turns = [Turn(index=i, speaker=who, text=f"{who} {i}") for i, who in enumerate(said)]
    assert learner_turns(turns) == 2
    assert learner_turns(turns[:-1]) == 2


async def test_history_filters_sorts_and_shows_scores(workspace):
    """Issue 11: the history shows score and status, filters as you type, and sorts."""
    from fakes import ScriptedModel as Judge

    from simulator.grading.evaluator import evaluate
    from simulator.models.config import SMALL
    from simulator.practice.scripted import save_record, scripted_record

    library = load_library(workspace)
    for stamp, persona_id, lines, outcome in (("0900", DANA, ["I'm sorry, Dana. Here's what I can do: I'll credit it."],
                                               "resolved"), ("1000", "rude-missing-parcel", ["Calm down."], "gave_up")):
        persona = library.personas[persona_id]
        record = scripted_record(persona, library.rubric_for(persona), lines, ["Okay."], outcome=outcome)
        record.session_id = f"20261101-{stamp}00-{persona_id}-0001"
        save_record(record, workspace)
        if persona_id == DANA:
            await evaluate(record, record.rubric_snapshot(), Judge(capabilities=SMALL))
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        table = app.screen.query_one("#sessions", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [r[1] for r in rows] == ["Derek Halvorsen", "Dana Whitaker"]  # newest first
        assert rows[1][5].endswith(("✓", "✗")) and rows[1][6] == "evidence" and rows[0][6] == "pending"
        await pilot.press("o", "o")  # newest → oldest → best score
        assert table.get_row_at(0)[1] == "Dana Whitaker" and "best score" in screen_text(app.screen)
        await pilot.press("slash", *"gave up")
        assert table.row_count == 1 and table.get_row_at(0)[1] == "Derek Halvorsen"
        assert "1 of 2 sessions" in screen_text(app.screen)
        await pilot.press("enter", "enter")  # back to the table, open the session with its feedback
        await settle(pilot)
        assert isinstance(app.screen, EndScreen)


async def test_progress_screen_suggests_a_persona_for_the_weakest_criterion(workspace):
    from fakes import ScriptedModel as Judge

    from simulator.grading.evaluator import evaluate
    from simulator.models.config import SMALL
    from simulator.practice.scripted import save_record, scripted_record

    library = load_library(workspace)
    persona = library.personas[DANA]
    for n in range(2):
        record = scripted_record(persona, library.rubric_for(persona), ["Calm down."], ["Okay."], outcome="gave_up")
        record.session_id = f"20261101-0{n}0000-{DANA}-0001"
        save_record(record, workspace)
        await evaluate(record, record.rubric_snapshot(), Judge(capabilities=SMALL))
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        text = screen_text(app.screen)
        assert "2 sessions, pass rate 0%" in text and "Weakest lately" in text and "Press 1 or 2" in text
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, BriefScreen)


async def test_replay_steps_through_and_tries_again_from_a_turn(workspace):
    """Issue 11: replay a session turn by turn with the feedback and the frustration as it
    was; t on a learner turn starts a new session from there, with the same state; its
    feedback compares both attempts."""
    from simulator.tui.replay import ReplayScreen

    model = ScriptedModel(replies=["Go on then.", "Whatever.", "That's better."], completions=scripted_judge)
    app = make_app(workspace, model)
    async with app.run_test(size=SIZE) as pilot:
        await open_chat(pilot)
        await say(pilot, "I'm sorry about the surprise, Dana.")
        await say(pilot, "Calm down, policy is policy.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        original = journal(workspace)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ReplayScreen) and "Turn 0 of 4" in screen_text(app.screen)
        await pilot.press("right")
        text = screen_text(app.screen)
        assert "Turn 1 of 4 · you" in text and "sorry about the surprise" in text  # evidence quoting turn 1
        assert "Better: “I can see why that shocked you, Dana.”" in text
        await pilot.press("right", "right")  # turn 3: the brush-off
        text = screen_text(app.screen)
        assert "brushed the customer off" in text
        level = next(t.state.frustration for t in original.turns if t.index == 2)
        assert f"{level}/10" in text  # the meter as it was before turn 3
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, ChatScreen)
        assert [k for k, _ in bubbles(app.screen)] == ["customer", "learner", "customer"]
        await say(pilot, "I can see why that bill was a shock. Here's what I can do: a credit today.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
        assert isinstance(app.screen, EndScreen)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        text = screen_text(app.screen)
        assert "tried again from turn 3" in text and "Calm down, policy is policy." in text
    folders = list_session_folders(workspace)
    branched = read_journal(folders[0])
    assert branched.branched_from == {"session_id": original.session_id, "turn": 3}
    assert [t.index for t in branched.turns][:4] == [0, 1, 2, 3]


async def test_the_learner_is_asked_once_and_sessions_carry_the_name(workspace, monkeypatch):
    """Issue 12: the learner's name or id is asked once, kept in the user config, and saved
    with each session for a trainer's cohort report."""
    from simulator.models.config import load_settings
    from simulator.tui.forms import LearnerModal

    monkeypatch.delenv("ROLEPLAY_LEARNER")
    app = make_app(workspace, ScriptedModel(replies=["Go on then."]))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, LearnerModal)
        await pilot.press(*"Sam Carter", "enter")
        await settle(pilot)
        await open_chat(pilot)
        await say(pilot, "Hello Dana.")
        await pilot.press("ctrl+e", "enter")
        await settle(pilot)
    assert load_settings(workspace).learner == "Sam Carter"
    assert journal(workspace).learner == "Sam Carter"
    again = make_app(workspace)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not isinstance(again.screen, LearnerModal)  # asked once


async def test_models_screen_picks_tests_and_saves_a_model(workspace):
    """Issue 13: the models screen lists the roles with their sources, the built-in and
    recommended models and any server found; e saves the evaluator in the user config; t
    makes one tiny real call and says whether the reply is usable for grading."""
    from simulator.models.config import load_settings
    from simulator.tui.models_screen import ModelsScreen

    app = make_app(workspace, ScriptedModel(completions=lambda m: '{"ok": true}'))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ModelsScreen)
        text = screen_text(app.screen)
        assert "customer   local/smollm2-135m  (from default" in text
        table = app.screen.query_one("#models", DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert rows[0] == ["local/smollm2-135m", "built in (offline)"]
        assert any(r[0] == "local/qwen2.5-0.5b" and r[1].startswith("download, 491 MB") for r in rows)
        await pilot.press("t")
        await settle(pilot)
        assert "answered in" in screen_text(app.screen) and "valid JSON: fit to grade" in screen_text(app.screen)
        await pilot.press("e")
        await settle(pilot)
        table.move_cursor(row=table.row_count - 1)  # a download: not usable until pulled
        await pilot.press("c")
        await settle(pilot)
    settings = load_settings(workspace)
    assert settings.evaluator.model == "local/smollm2-135m" and "config.yaml" in settings.evaluator.sources["model"]
    assert settings.persona.sources["model"].startswith("default")


async def test_a_company_gateway_is_saved_by_name_of_its_key_never_the_key(workspace):
    from simulator.core import locations
    from simulator.models.config import load_settings

    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("g")
        await pilot.pause()
        # the key is refused in the dialog (the field emptied), then its variable's name is given
        for value in ("https://llm.example.com", "sk-live-abcdef123456", "ROLEPLAY_PROXY_KEY", "openai/customer",
                      "openai/grader"):
            await pilot.press(*value, "enter")
        await settle(pilot)
    config = locations.user_config_file().read_text()
    assert "sk-live-abcdef123456" not in config  # refused, never written
    settings = load_settings(workspace)
    assert settings.persona.model == "openai/customer" and settings.evaluator.model == "openai/grader"
    assert settings.persona.api_base == "https://llm.example.com" and settings.evaluator.api_key_env == \
        "ROLEPLAY_PROXY_KEY"
