"""Issue 22: voice in the chat screen, with the real speech engine and no microphone: the
learner's turns come from WAV files (``voice.input_wavs``), the customer's voice goes to WAV
files (``voice.output_wavs``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import ScriptedModel
from test_tui import SIZE, journal, make_app, notice, open_chat, settle
from textual.widgets import Input

from simulator.content.library import load_library
from simulator.voice import Synthesizer, VoiceSpec, read_wav, sentences, word_error_rate, write_wav

LINES = ["I'm so sorry about the bill, Dana. When did you first notice it?",
         "Thank you. I will credit the difference today."]
REPLY = "Nine years I've paid on time. Now it's $110, so explain that."


@pytest.fixture(scope="module")
def microphone(tmp_path_factory) -> Path:
    """The learner's two turns, spoken by a voice the recogniser has not been tuned on."""
    folder = tmp_path_factory.mktemp("mic")
    synth = Synthesizer()
    for n, line in enumerate(LINES, 1):
        write_wav(folder / f"turn-{n}.wav", synth.speak(line, VoiceSpec("espeak:en-us", speed=0.95)))
    return folder


def voice_desk(workspace: Path, microphone: Path, speaker: Path, **more: object) -> None:
    extra = "".join(f"  {k}: {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in more.items())
    (workspace / "roleplay.yaml").write_text(
        f"version: 1\nvoice:\n  input_wavs: {microphone}\n  output_wavs: {speaker}\n{extra}", encoding="utf-8")


async def until(pilot, test) -> None:
    for _ in range(300):  # the listening thread ends at the learner's pause; the voice is made on its own thread
        if test():
            return
        await settle(pilot)
    raise AssertionError("the screen never got there")


async def test_a_spoken_turn_goes_into_the_box_is_sent_and_the_reply_is_spoken(workspace, microphone, tmp_path):
    speaker = tmp_path / "speaker"
    voice_desk(workspace, microphone, speaker)
    app = make_app(workspace, ScriptedModel(replies=[REPLY]))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        await pilot.press("f6")
        prompt = screen.query_one("#prompt", Input)
        await until(pilot, lambda: prompt.value or "Nothing" in notice(screen) or "⚠" in notice(screen))
        assert word_error_rate(LINES[0], prompt.value) <= 0.25, prompt.value
        assert "Enter sends it" in notice(screen)
        heard = prompt.value
        prompt.value = heard + " Sorry again."  # edited before sending
        await pilot.press("enter")
        await until(pilot, lambda: not screen.streaming and list(speaker.glob("*.wav")))
        await until(pilot, lambda: not screen.voice_busy)
    learner = [t for t in journal(workspace).turns if t.speaker == "learner"][0]
    assert learner.voice is not None and learner.voice.spoken
    assert learner.voice.recognised == heard and learner.voice.edited is True
    assert learner.voice.words == len(heard.split()) and learner.voice.duration_s > 1.0
    reply = [t for t in journal(workspace).turns if t.speaker == "customer"][-1]
    assert reply.text == REPLY  # as the customer said it (not a regenerated line)
    spoken = sorted(speaker.glob("*.wav"))
    assert len(spoken) == len(sentences(REPLY)) == 2  # the reply, sentence by sentence
    assert sum(read_wav(p).duration_s for p in spoken) > 1.5


async def test_send_on_end_sends_what_was_heard_and_the_feedback_marks_it(workspace, microphone, tmp_path):
    voice_desk(workspace, microphone, tmp_path / "speaker", send_on_end=True)
    app = make_app(workspace, ScriptedModel(replies=[REPLY, "Fine."]))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        await pilot.press("f6")
        await until(pilot, lambda: len(journal(workspace).turns) >= 3 and not screen.streaming)
        await pilot.press("f6")  # the second turn, from the second file
        await until(pilot, lambda: len(journal(workspace).turns) >= 5 and not screen.streaming)
    record = journal(workspace)
    learners = [t for t in record.turns if t.speaker == "learner"]
    assert [t.voice.edited for t in learners] == [False, False]
    assert word_error_rate(" ".join(LINES), " ".join(t.text for t in learners)) <= 0.25
    assert all(t.voice.speech_started_s is not None for t in learners)


async def test_voice_that_cannot_run_is_one_line_and_typing_still_works(workspace, tmp_path):
    empty = tmp_path / "no-wavs"
    empty.mkdir()
    voice_desk(workspace, empty, tmp_path / "speaker")
    app = make_app(workspace, ScriptedModel(replies=["Go on."]))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot)
        await pilot.press("f6")
        await until(pilot, lambda: "⚠" in notice(screen))
        line = notice(screen)
        assert "no .wav files" in line and "type your reply instead" in line and "\n" not in line
        screen.query_one("#prompt", Input).value = "Sorry about that, Dana."
        await pilot.press("enter")
        await settle(pilot)
    learner = [t for t in journal(workspace).turns if t.speaker == "learner"][0]
    assert learner.text == "Sorry about that, Dana." and learner.voice is None


def test_a_persona_voice_block_is_checked_where_it_is_written(workspace):
    from simulator.core.errors import FileFormatError

    path = workspace / "personas" / "overcharged-loyal-customer.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "voice:\n  id: espeak:en-gb+m3\n  speed: 0.85\n", encoding="utf-8")
    persona = load_library(workspace).persona("overcharged-loyal-customer")
    assert persona.voice is not None and (persona.voice.id, persona.voice.speed) == ("espeak:en-gb+m3", 0.85)
    path.write_text(text + "voice:\n  id: robot\n  speed: 3\n", encoding="utf-8")
    from simulator.content.persona import Persona
    from simulator.content.formats import load_model

    with pytest.raises(FileFormatError) as caught:
        load_model(path, Persona, what="persona")
    where = [(p.line, p.message) for p in caught.value.problems]
    lines = text.count("\n")
    assert [line for line, _ in where] == [lines + 2, lines + 3]
    assert "engine:name" in where[0][1] and "2" in where[1][1]
