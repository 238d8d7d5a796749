"""End of speech: when the learner has spoken and then paused for ``pause_s`` (default 0.8 s).

``Listener.listen()`` takes frames from an input (``MicInput`` or ``WavInput``) and returns the
``Utterance`` once speech has ended, or at once when ``stop()`` is called (push-to-talk is a toggle:
terminals give no key-up). Two detectors: ``energy`` (the frame's loudness against a noise floor that
follows the room; no dependency) and ``webrtc`` (webrtcvad-wheels' GMM detector, more robust to
steady noise such as a fan). Both run on 30 ms frames of 16 kHz int16.
"""

from __future__ import annotations

import array
import importlib.util
import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol

from simulator.voice.audio import AudioInput, Clip
from simulator.voice.errors import INSTALL_LINE, VoiceError

DEFAULT_PAUSE_S = 0.8


class SpeechDetector(Protocol):
    def is_speech(self, frame: bytes, sample_rate: int) -> bool: ...


def frame_dbfs(frame: bytes) -> float:
    """Loudness of one int16 frame in dB below full scale (silence: -96)."""
    samples = array.array("h")
    samples.frombytes(frame[: len(frame) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return -96.0
    power = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(power / (32768.0**2)) if power > 0 else -96.0


class EnergyDetector:
    """Speech is a frame ``margin_db`` louder than the noise floor (and louder than ``min_dbfs``).

    The floor is the quietest recent frame: it starts at the first frame (listening starts before
    the learner speaks), drops at once to any quieter frame and rises slowly (``rise_db_per_s``), so
    it follows a fan switched on and stays at the room's level between words.
    """

    def __init__(self, margin_db: float = 10.0, min_dbfs: float = -55.0, rise_db_per_s: float = 1.0):
        self.margin_db = margin_db
        self.min_dbfs = min_dbfs
        self.rise_db_per_s = rise_db_per_s
        self.floor: float | None = None

    def is_speech(self, frame: bytes, sample_rate: int) -> bool:
        level = frame_dbfs(frame)
        frame_s = len(frame) / 2 / sample_rate
        if self.floor is None:
            self.floor = level
        self.floor = min(level, self.floor + self.rise_db_per_s * frame_s)
        return level > max(self.floor + self.margin_db, self.min_dbfs)


class WebrtcDetector:
    def __init__(self, aggressiveness: int = 2):
        try:
            import webrtcvad
        except ImportError:
            raise VoiceError(f"the webrtc speech detector needs webrtcvad-wheels — {INSTALL_LINE}") from None
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: bytes, sample_rate: int) -> bool:
        return self._vad.is_speech(frame, sample_rate)


def make_detector(kind: str = "energy") -> SpeechDetector:
    if kind == "energy":
        return EnergyDetector()
    if kind == "webrtc":
        return WebrtcDetector()
    if kind == "auto":
        return WebrtcDetector() if importlib.util.find_spec("webrtcvad") else EnergyDetector()
    raise VoiceError(f"unknown speech detector {kind!r}; use energy or webrtc")


@dataclass(frozen=True)
class Utterance:
    """One turn of the learner's speech.

    ``clip`` runs from a little before speech started to where it ended (or to stop()).
    ``speech_start_s``/``speech_end_s`` are seconds from the start of listening (audio time);
    ``ended_at`` is ``time.monotonic()`` when the turn was declared over; ``ended_by`` is
    ``"pause"``, ``"stop"``, ``"limit"`` or ``"input"`` (the input ran out).
    """

    clip: Clip
    speech_start_s: float | None
    speech_end_s: float | None
    ended_by: str
    ended_at: float

    @property
    def heard_speech(self) -> bool:
        return self.speech_start_s is not None


class Listener:
    """Listens for one utterance at a time from ``source``.

    ``pause_s``: silence that ends the turn; ``end_on_pause=False`` leaves it to ``stop()`` alone.
    ``min_speech_s``: speech shorter than this (a click, a cough) does not start a turn.
    ``max_s``: a turn never runs longer. The source is started if needed and left running.
    """

    def __init__(
        self,
        source: AudioInput,
        *,
        pause_s: float = DEFAULT_PAUSE_S,
        end_on_pause: bool = True,
        detector: str | SpeechDetector = "auto",
        min_speech_s: float = 0.12,
        pre_roll_s: float = 0.3,
        max_s: float = 120.0,
        on_quiet: Callable[[Clip], None] | None = None,
        quiet_early_s: float = 0.3,
    ):
        if not 0.2 <= pause_s <= 10:
            raise VoiceError(f"pause to end speech {pause_s} s: use 0.2 to 10 seconds")
        self.source = source
        self.pause_s = pause_s
        self.end_on_pause = end_on_pause
        self.detector = make_detector(detector) if isinstance(detector, str) else detector
        self.min_speech_s = min_speech_s
        self.pre_roll_s = pre_roll_s
        self.max_s = max_s
        # Called (on the listening thread) with the utterance so far each time the learner has been
        # quiet for quiet_early_s: recognition can start before the pause is confirmed.
        self.on_quiet = on_quiet
        self.quiet_early_s = quiet_early_s
        self._stop = threading.Event()
        self.listening = False

    def stop(self) -> None:
        """End the current turn now (push-to-talk pressed again); listen() returns what it has."""
        self._stop.set()

    def listen(self) -> Utterance:
        self._stop.clear()
        self.listening = True
        try:
            return self._listen()
        finally:
            self.listening = False

    def _listen(self) -> Utterance:
        source = self.source
        if not getattr(source, "started", False):
            source.start()
        rate, frame_s = source.sample_rate, source.frame_ms / 1000
        pre_roll: deque[bytes] = deque(maxlen=max(1, int(self.pre_roll_s / frame_s)))
        need_start = max(1, int(round(self.min_speech_s / frame_s)))
        need_pause = max(1, int(round(self.pause_s / frame_s)))
        need_early = max(1, int(round(self.quiet_early_s / frame_s)))
        keep_quiet = int(0.2 / frame_s)  # frames of the pause kept at the end of the clip
        captured = bytearray()
        all_audio = bytearray()
        start_frame: int | None = None
        last_speech_frame: int | None = None
        run = 0
        quiet = 0
        index = -1
        ended_by = "input"
        for frame in source.frames():
            index += 1
            speech = self.detector.is_speech(frame, rate)
            if start_frame is None:
                all_audio += frame
                pre_roll.append(frame)
                run = run + 1 if speech else 0
                if run >= need_start:
                    start_frame = index - run + 1
                    last_speech_frame = index
                    captured += b"".join(pre_roll)
                    quiet = 0
            else:
                captured += frame
                if speech:
                    last_speech_frame = index
                    quiet = 0
                else:
                    quiet += 1
                    if self.on_quiet is not None and quiet == need_early and need_early < need_pause:
                        self.on_quiet(Clip(bytes(self._trim(captured, quiet, keep_quiet, len(frame))), rate))
                    if self.end_on_pause and quiet >= need_pause:
                        ended_by = "pause"
                        break
            if self._stop.is_set():
                ended_by = "stop"
                break
            if (index + 1) * frame_s >= self.max_s:
                ended_by = "limit"
                break
        ended_at = time.monotonic()
        if start_frame is None:
            return Utterance(Clip(bytes(all_audio), rate), None, None, ended_by, ended_at)
        if ended_by == "pause":  # keep a little of the pause, not all of it
            captured = self._trim(captured, quiet, keep_quiet, len(frame))
        return Utterance(
            Clip(bytes(captured), rate),
            round(start_frame * frame_s, 3),
            round((last_speech_frame + 1) * frame_s, 3),
            ended_by,
            ended_at,
        )

    @staticmethod
    def _trim(captured: bytearray, quiet: int, keep: int, frame_bytes: int) -> bytearray:
        """The captured audio less the quiet frames at its end beyond ``keep`` of them."""
        return captured[: len(captured) - max(0, quiet - keep) * frame_bytes]
