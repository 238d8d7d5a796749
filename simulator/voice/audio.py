"""Audio in and out: a ``Clip`` of mono 16-bit PCM, WAV files, microphones and speakers.

``WavInput`` and ``WavOutput`` stand in for the microphone and the speaker (tests, the tmux
walk-through, a machine without sound); ``MicInput`` and ``SpeakerOutput`` use sounddevice, imported
only when one is opened. Every input yields fixed-size frames of int16 bytes; every output takes clips.
Nothing here needs numpy: resampling is plain Python over ``array``, fast enough for speech lengths.
"""

from __future__ import annotations

import array
import queue
import sys
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from simulator.voice.errors import INSTALL_LINE, VoiceError

RECOGNITION_RATE = 16_000
FRAME_MS = 30  # frame length every input yields: 30 ms is one webrtc/energy VAD frame


@dataclass(frozen=True)
class Clip:
    """Mono signed 16-bit little-endian PCM at ``sample_rate``."""

    pcm: bytes
    sample_rate: int

    @property
    def n_samples(self) -> int:
        return len(self.pcm) // 2

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate if self.sample_rate else 0.0

    def samples(self) -> array.array:
        out = array.array("h")
        out.frombytes(self.pcm[: self.n_samples * 2])
        if sys.byteorder == "big":
            out.byteswap()
        return out

    @classmethod
    def from_samples(cls, samples: Sequence[int] | array.array, sample_rate: int) -> "Clip":
        arr = samples if isinstance(samples, array.array) and samples.typecode == "h" else array.array("h", samples)
        if sys.byteorder == "big":
            arr = array.array("h", arr)
            arr.byteswap()
        return cls(arr.tobytes(), sample_rate)

    @classmethod
    def from_numpy(cls, data, sample_rate: int) -> "Clip":
        """From a numpy array: int16 as is, floats in [-1, 1] scaled."""
        import numpy as np

        data = np.asarray(data)
        if data.dtype.kind == "f":
            data = np.clip(data, -1.0, 1.0) * 32767.0
        return cls(data.astype("<i2").tobytes(), sample_rate)

    def to_numpy(self):
        """Float32 samples in [-1, 1] (what Whisper takes)."""
        import numpy as np

        return np.frombuffer(self.pcm[: self.n_samples * 2], dtype="<i2").astype(np.float32) / 32768.0

    @classmethod
    def silence(cls, seconds: float, sample_rate: int = RECOGNITION_RATE) -> "Clip":
        return cls(bytes(2 * int(seconds * sample_rate)), sample_rate)

    def __add__(self, other: "Clip") -> "Clip":
        if other.sample_rate != self.sample_rate:
            other = resample(other, self.sample_rate)
        return Clip(self.pcm + other.pcm, self.sample_rate)


def read_wav(path: str | Path) -> Clip:
    """A WAV file as a mono 16-bit clip (stereo is mixed down, 8/24/32-bit converted)."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise VoiceError(f"{path}: no such audio file") from None
    except (wave.Error, EOFError) as exc:
        raise VoiceError(f"{path}: not a PCM WAV file ({exc}); convert it to 16-bit WAV") from None
    return pcm_to_clip(raw, width, channels, rate)


def pcm_to_clip(raw: bytes, width: int, channels: int, rate: int) -> Clip:
    if width == 1:
        samples = array.array("h", ((b - 128) << 8 for b in raw))
    elif width == 2:
        samples = array.array("h")
        samples.frombytes(raw[: len(raw) // 2 * 2])
        if sys.byteorder == "big":
            samples.byteswap()
    elif width in (3, 4):
        samples = array.array(
            "h", (int.from_bytes(raw[i + width - 2 : i + width], "little", signed=True) for i in range(0, len(raw) - width + 1, width))
        )
    else:
        raise VoiceError(f"unsupported WAV sample width {width * 8} bits; use 16-bit WAV")
    if channels > 1:
        samples = array.array("h", (sum(samples[i : i + channels]) // channels for i in range(0, len(samples), channels)))
    return Clip.from_samples(samples, rate)


def write_wav(path: str | Path, clip: Clip) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(clip.sample_rate)
        wav.writeframes(clip.pcm)
    return path


def resample(clip: Clip, rate: int = RECOGNITION_RATE) -> Clip:
    """Linear-interpolation resampling (speech to 16 kHz for recognition)."""
    if clip.sample_rate == rate or clip.n_samples == 0:
        return Clip(clip.pcm, rate) if clip.n_samples == 0 else clip
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        src = np.frombuffer(clip.pcm[: clip.n_samples * 2], dtype="<i2").astype(np.float64)
        n_out = int(round(len(src) * rate / clip.sample_rate))
        positions = np.arange(n_out) * (clip.sample_rate / rate)
        out = np.interp(positions, np.arange(len(src)), src)
        return Clip(np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes(), rate)
    src = clip.samples()
    n_out = int(round(len(src) * rate / clip.sample_rate))
    step = clip.sample_rate / rate
    out = array.array("h", bytes(2 * n_out))
    last = len(src) - 1
    for i in range(n_out):
        pos = i * step
        j = int(pos)
        if j >= last:
            out[i] = src[last]
        else:
            frac = pos - j
            out[i] = int(round(src[j] * (1 - frac) + src[j + 1] * frac))
    return Clip.from_samples(out, rate)


# -- inputs ---------------------------------------------------------------------------------------


class AudioInput(Protocol):
    """A source of fixed-size frames (int16 mono bytes of ``frame_ms`` at ``sample_rate``)."""

    sample_rate: int
    frame_ms: int
    started: bool

    def start(self) -> None: ...
    def frames(self) -> Iterator[bytes]: ...
    def stop(self) -> None: ...


class _FrameQueueInput:
    """Shared machinery: frames arrive on a queue; ``frames()`` yields them until ``stop()``."""

    def __init__(self, sample_rate: int, frame_ms: int):
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.frame_bytes = 2 * sample_rate * frame_ms // 1000
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._stopped = threading.Event()
        self.started = False

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def frames(self) -> Iterator[bytes]:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            yield frame

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self._queue.put(None)


class WavInput(_FrameQueueInput):
    """A fake microphone fed from WAV files: their audio in frames, then silence until ``stop()``.

    ``realtime=True`` paces frames as a microphone would; ``speed`` > 1 feeds faster (``0`` = as fast
    as the consumer reads). ``gap_s`` of silence is put between files and before the first one.
    ``trailing_silence_s`` limits the silence after the last file (``None``: until stop()).
    """

    def __init__(
        self,
        paths_or_clips: Sequence[str | Path | Clip],
        *,
        sample_rate: int = RECOGNITION_RATE,
        frame_ms: int = FRAME_MS,
        realtime: bool = True,
        speed: float = 1.0,
        gap_s: float = 0.3,
        trailing_silence_s: float | None = None,
    ):
        super().__init__(sample_rate, frame_ms)
        self.sources = list(paths_or_clips)
        self.realtime = realtime and speed > 0
        self.speed = speed if speed > 0 else 1.0
        self.gap_s = gap_s
        self.trailing_silence_s = trailing_silence_s
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None

    def _clip(self, source: str | Path | Clip) -> Clip:
        clip = source if isinstance(source, Clip) else read_wav(source)
        return resample(clip, self.sample_rate)

    def _pcm(self) -> bytes:
        gap = bytes(2 * int(self.gap_s * self.sample_rate))
        out = bytearray(gap)
        for source in self.sources:
            out += self._clip(source).pcm + gap
        return bytes(out)

    def start(self) -> None:
        if self.started:
            return
        pcm = self._pcm()  # read every file now: a bad file is an error at start, not mid-utterance
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._feed, args=(pcm,), daemon=True, name="wav-input")
        self._thread.start()
        self.started = True

    def _feed(self, pcm: bytes) -> None:
        step = self.frame_bytes
        period = self.frame_ms / 1000 / self.speed
        silence = bytes(step)
        sent = 0
        offset = 0
        silent_frames_left = None if self.trailing_silence_s is None else int(self.trailing_silence_s * 1000 / self.frame_ms)
        while not self._stopped.is_set():
            if offset < len(pcm):
                frame = pcm[offset : offset + step].ljust(step, b"\0")
                offset += step
            else:
                if silent_frames_left is not None:
                    if silent_frames_left <= 0:
                        break
                    silent_frames_left -= 1
                frame = silence
            if self.realtime:
                due = self.started_at + sent * period
                delay = due - time.monotonic()
                if delay > 0:
                    if self._stopped.wait(delay):
                        break
            elif self._queue.qsize() > 64:  # as fast as read, without filling memory with silence
                time.sleep(0.001)
                continue
            self._queue.put(frame)
            sent += 1
        self._queue.put(None)


def _sounddevice():
    """sounddevice, or a one-line VoiceError naming what is missing."""
    try:
        import sounddevice
    except ImportError:
        raise VoiceError(f"voice needs the sounddevice package — {INSTALL_LINE}, or type") from None
    except OSError as exc:  # sounddevice raises OSError when the PortAudio library is missing
        raise VoiceError(
            f"no sound system: PortAudio is missing ({exc}) — install it (apt-get install libportaudio2), or type"
        ) from None
    return sounddevice


class MicInput(_FrameQueueInput):
    """The default (or named) microphone through sounddevice; same interface as ``WavInput``."""

    def __init__(self, device: int | str | None = None, *, sample_rate: int = RECOGNITION_RATE, frame_ms: int = FRAME_MS):
        super().__init__(sample_rate, frame_ms)
        self.device = device
        self._stream = None

    def start(self) -> None:
        """Open the microphone (again after stop(): a new turn). One-line VoiceError when it cannot."""
        if self._stream is not None:
            return
        if self._stopped.is_set():  # reopened for a new turn: a fresh queue, nothing of the old one
            self._stopped.clear()
            self._queue = queue.Queue()
        sd = _sounddevice()
        try:
            info = sd.query_devices(self.device, "input")
        except (ValueError, sd.PortAudioError):
            raise VoiceError("no microphone found — plug one in, or type") from None
        try:
            self._stream = sd.RawInputStream(
                samplerate=self.sample_rate,
                blocksize=self.frame_bytes // 2,
                device=self.device,
                channels=1,
                dtype="int16",
                callback=self._callback,
            )
            self._stream.start()
            self.started = True
        except sd.PortAudioError as exc:
            self._stream = None
            name = info.get("name", "the microphone") if isinstance(info, dict) else "the microphone"
            raise VoiceError(
                f"cannot open {name}: {str(exc).splitlines()[0]} — it may be busy or unplugged; close the other app or plug it in again, or type"
            ) from None

    def _callback(self, indata, frames, time_info, status) -> None:  # sounddevice's thread
        if not self._stopped.is_set():
            self._queue.put(bytes(indata))

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # an unplugged device can fail to close; stopping must not raise
                pass
        self.started = False
        super().stop()


# -- outputs --------------------------------------------------------------------------------------


class AudioOutput(Protocol):
    def play(self, clip: Clip) -> None: ...
    def wait(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class WavOutput:
    """Writes what would be played to numbered WAV files in ``folder`` (and keeps the clips)."""

    folder: Path
    prefix: str = "reply"
    played: list[Path] = field(default_factory=list)
    clips: list[Clip] = field(default_factory=list)
    first_audio_at: float | None = None
    stopped: bool = False

    def play(self, clip: Clip) -> None:
        if self.stopped:
            return
        if self.first_audio_at is None:
            self.first_audio_at = time.monotonic()
        self.clips.append(clip)
        self.played.append(write_wav(Path(self.folder) / f"{self.prefix}-{len(self.played) + 1:03d}.wav", clip))

    def wait(self) -> None:
        return

    def stop(self) -> None:
        self.stopped = True


class SpeakerOutput:
    """The default (or named) speaker through sounddevice. ``play`` queues; ``stop`` cuts off at once."""

    def __init__(self, device: int | str | None = None):
        self.device = device
        self._queue: queue.Queue[Clip | None] = queue.Queue()
        self._stopped = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self.first_audio_at: float | None = None
        self._sd = None

    def open(self) -> None:
        sd = _sounddevice()
        try:
            sd.query_devices(self.device, "output")
        except (ValueError, sd.PortAudioError):
            raise VoiceError("no speaker found — plug one in, or read the reply") from None
        self._sd = sd
        self._stopped = threading.Event()  # each opening has its own queue and stop flag
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(self._queue, self._stopped), daemon=True, name="speaker")
        self._thread.start()

    def play(self, clip: Clip) -> None:
        if self._thread is None:
            self.open()
        self._idle.clear()
        self._queue.put(clip)

    def _run(self, clips: "queue.Queue[Clip | None]", stopped: threading.Event) -> None:
        sd = self._sd
        while True:
            clip = clips.get()
            if clip is None:
                break
            if stopped.is_set():
                continue
            if self.first_audio_at is None:
                self.first_audio_at = time.monotonic()
            try:
                sd.play(clip.to_numpy(), clip.sample_rate, device=self.device)
                sd.wait()
            except sd.PortAudioError:  # unplugged mid-reply: the rest is shown, not spoken
                stopped.set()
            if clips.empty() and clips is self._queue:
                self._idle.set()
        if clips is self._queue:
            self._idle.set()

    def wait(self) -> None:
        self._idle.wait()

    def stop(self) -> None:
        self._stopped.set()
        while not self._queue.empty():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._sd is not None:
            try:
                self._sd.stop()
            except Exception:
                pass
        if self._thread is not None:
            self._queue.put(None)
            self._thread = None
        self._idle.set()
