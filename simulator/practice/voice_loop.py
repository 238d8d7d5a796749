"""Voice in a conversation: listening to one learner turn, and speaking the customer's reply
while it streams. The chat screen drives it from threads; it holds no Textual.

- ``listen()`` blocks until the learner's turn ends (a pause as long as ``pause_s``, or
  ``stop_listening()``: push-to-talk is a toggle, terminals give no key-up), recognises it and
  returns a :class:`Heard`: the text and how it was spoken (:class:`SpokenTurn`: duration,
  words, the wait before speaking, talk-over).
- ``reply_chunk(text)`` as the reply streams: each sentence is spoken as soon as it is
  complete, on a thread of its own; ``reply_done()`` speaks the rest; ``stop_speaking()`` cuts
  it off (Esc).

The clock is ``time.monotonic``. Talk-over is the learner's speech while the customer's voice
was still playing (each clip's playing time counted from when it was handed to the output).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .sessions import SpokenTurn

if TYPE_CHECKING:
    from ..models.config import VoiceSettings
    from ..voice import AudioOutput, Listener, Recognizer, Synthesizer, VoiceSpec
    from ..voice.audio import AudioInput


@dataclass
class Heard:
    """One listened turn: the recognised text ("" when nothing was said) and how it was spoken."""

    text: str
    spoken: SpokenTurn
    ended_by: str  # "pause", "stop", "limit" or "input"


class VoiceLoop:
    def __init__(self, *, make_source: Callable[[int], "AudioInput"], make_output: Callable[[int], "AudioOutput"],
                 recognizer: "Recognizer", synthesizer: "Synthesizer", voice: "VoiceSpec | None",
                 pause_s: float = 0.8, end_on_pause: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.make_source = make_source  # the n-th turn's input: one microphone, or the n-th WAV file
        self.make_output = make_output
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        self.voice = voice  # None: replies are not spoken (no voice could be used; said once)
        self.pause_s = pause_s
        self.end_on_pause = end_on_pause
        self.listener: "Listener | None" = None
        self.source: "AudioInput | None" = None
        self._turns = 0
        self.clock = clock
        self._playing: list[tuple[float, float]] = []  # (start, end) of each clip of the customer's voice
        self._busy_until = 0.0
        self._replies = 0
        self._pending = 0  # sentences queued and not yet played
        self._spoken_any = False
        self._output: "AudioOutput | None" = None
        self._sentences: "queue.Queue[str | None] | None" = None
        self._speaker: threading.Thread | None = None
        self._splitter = None
        self.speech_error: str = ""  # the last failure to speak, said once by the screen

    # -- listening ---------------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        return self.listener is not None and self.listener.listening

    def listen(self, on_partial: Callable[[str], None] | None = None) -> Heard:
        """One turn of the learner's speech, recognised (blocking: call it from a thread).
        ``on_partial(text)``: what was recognised so far, at each short quiet while the learner speaks."""
        from ..voice import Listener

        self._turns += 1
        source = self.make_source(self._turns)
        if source is not self.source and self.source is not None:
            self.source.stop()
        self.source = source
        self.listener = Listener(source, pause_s=self.pause_s, end_on_pause=self.end_on_pause)
        began = self.clock()
        # recognition starts at the first short quiet, while the pause is confirmed: the text is
        # ready about when the pause ends (speech that goes on is heard again, whole)
        got = self.recognizer.hear(self.listener, on_partial=(lambda r: on_partial(r.text.strip()))
                                   if on_partial else None)
        utterance = got.utterance
        text = got.recognised.text.strip() if utterance.heard_speech else ""
        if not utterance.heard_speech:
            return Heard("", SpokenTurn(spoken=True, words=0), utterance.ended_by)
        start = began + (utterance.speech_start_s or 0.0)
        end = began + (utterance.speech_end_s if utterance.speech_end_s is not None else
                       utterance.clip.duration_s)
        voice_ended = max((e for s, e in self._playing if s <= start), default=None)
        waited_from = max(began, voice_ended) if voice_ended is not None and voice_ended <= start else began
        talk_over = sum(max(0.0, min(end, e) - max(start, s)) for s, e in self._playing)
        return Heard(text, SpokenTurn(
            spoken=True, duration_s=round(max(0.0, end - start), 2), words=len(text.split()),
            speech_started_s=round(max(0.0, start - waited_from), 2),
            talk_over_s=round(talk_over, 2) if talk_over >= 0.05 else 0.0, recognised=text), utterance.ended_by)

    def stop_listening(self) -> None:
        if self.listener is not None:
            self.listener.stop()

    # -- speaking ----------------------------------------------------------------------------
    def begin_reply(self) -> None:
        from ..voice import SentenceSplitter

        self.stop_speaking()
        if self.voice is None:
            return
        self._replies += 1
        self._spoken_any = False
        self._pending = 0
        self._splitter = SentenceSplitter()
        self._output = self.make_output(self._replies)
        self._sentences = queue.Queue()
        self._speaker = threading.Thread(target=self._speak, args=(self._sentences, self._output),
                                         daemon=True, name="customer-voice")
        self._speaker.start()

    def reply_chunk(self, chunk: str) -> None:
        if self._splitter is not None and self._sentences is not None:
            for sentence in self._splitter.feed(chunk):
                self._queue(sentence)

    def reply_reset(self) -> None:
        """The streamed text was dropped (a retry): so is what was not yet spoken."""
        self.begin_reply()

    def reply_done(self, text: str | None = None) -> None:
        """The reply is complete: what is left of it is spoken. ``text``: the reply as shown, spoken
        whole when none of it streamed (a reply made before it is shown)."""
        if self._splitter is None or self._sentences is None:
            return
        if text and not self._spoken_any:
            from ..voice import SentenceSplitter

            self._splitter = SentenceSplitter()
            for sentence in self._splitter.feed(text):
                self._queue(sentence)
        for sentence in self._splitter.flush():
            self._queue(sentence)
        self._sentences.put(None)
        self._splitter = None

    def _queue(self, sentence: str) -> None:
        if self._sentences is not None:
            self._pending += 1
            self._spoken_any = True
            self._sentences.put(sentence)

    def _playing_now(self) -> bool:
        return self.clock() < self._busy_until

    def _speak(self, sentences: "queue.Queue[str | None]", output: "AudioOutput") -> None:
        from ..core.errors import RoleplayError

        while True:
            sentence = sentences.get()
            if sentence is None or sentences is not self._sentences:
                return
            try:
                clip = self.synthesizer.speak_sentence(sentence, self.voice)
                if sentences is not self._sentences:  # stopped while it was made
                    return
                now = self.clock()
                start = max(now, self._busy_until)
                self._busy_until = start + clip.duration_s
                self._playing.append((start, self._busy_until))
                output.play(clip)
            except (RoleplayError, OSError) as exc:
                self.speech_error = str(exc)
                self._pending = 0
                return
            finally:
                if sentences is self._sentences:
                    self._pending = max(0, self._pending - 1)

    @property
    def speaking(self) -> bool:
        """Sentences still to make or play, or the last one still playing."""
        return self._sentences is not None and (self._pending > 0 or self._playing_now())

    def stop_speaking(self) -> None:
        """Cut the customer's voice off now (Esc)."""
        sentences, self._sentences = self._sentences, None
        self._splitter = None
        self._pending = 0
        if sentences is not None:
            sentences.put(None)
        if self._output is not None:
            self._output.stop()
            self._output = None
        now = self.clock()
        if self._busy_until > now:  # what was cut off never played
            self._playing = [(s, min(e, now)) for s, e in self._playing if s < now]
            self._busy_until = now

    def close(self) -> None:
        self.stop_speaking()
        self.stop_listening()
        if self.source is not None:
            self.source.stop()


_recognizer: "Recognizer | None" = None
_synthesizer: "Synthesizer | None" = None
_lock = threading.Lock()


def open_voice(voice_id: str | None, speed: float, pitch: float, settings: "VoiceSettings") -> VoiceLoop:
    """A voice loop for one conversation (blocking: the models load here the first time).
    Raises VoiceError (one line: what is missing and what to do) when voice cannot run."""
    from pathlib import Path

    from .. import voice as v

    global _recognizer, _synthesizer
    if problem := v.available():
        raise v.VoiceError(problem)
    wanted = v.VoiceSpec(voice_id, speed, pitch) if voice_id else v.VoiceSpec(v.DEFAULT_VOICE.voice, speed, pitch)
    spec, note = v.speaking_voice(wanted)
    with _lock:
        if _recognizer is None:
            _recognizer = v.Recognizer().load()
        if _synthesizer is None:
            _synthesizer = v.Synthesizer()
    if spec is not None:
        _synthesizer.load(spec)
    if settings.input_wavs:
        files = sorted(Path(settings.input_wavs).glob("*.wav"))
        if not files:
            raise v.VoiceError(f"{settings.input_wavs}: no .wav files to use as the microphone")

        def make_source(turn: int) -> "AudioInput":
            if turn > len(files):
                return v.WavInput([], trailing_silence_s=None)
            return v.WavInput([files[turn - 1]], gap_s=0.3, trailing_silence_s=None)
    else:
        mic = v.MicInput()
        mic.start()  # no microphone, a busy or unplugged one: a VoiceError now, not mid-turn

        def make_source(turn: int) -> "AudioInput":
            return mic

    if settings.output_wavs:
        folder = Path(settings.output_wavs)
        folder.mkdir(parents=True, exist_ok=True)

        def make_output(reply: int) -> "AudioOutput":
            return v.WavOutput(folder, prefix=f"reply-{reply:02d}")
    else:
        def make_output(reply: int) -> "AudioOutput":
            return v.SpeakerOutput()

    loop = VoiceLoop(make_source=make_source, make_output=make_output, recognizer=_recognizer,
                     synthesizer=_synthesizer, voice=spec, pause_s=settings.pause_s,
                     end_on_pause=True)
    loop.speech_error = note or ""
    return loop
