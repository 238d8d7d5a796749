"""The voice round trip (issue 22): learner lines spoken by synthetic voices, recognised, compared.

Each of the >= 50 lines in tests/data/voice_lines.yaml is spoken in every voice of ``VOICES``
(Piper's joe voice at two speeds and pitches, espeak-ng's US voice at two speeds), recognised by the
app's recognizer, and the word error rate taken after normalising both sides the same way (lower
case, punctuation off, contractions expanded, numbers as words). What a learner notices: what they
said is what appears in the box. The overall rate must be <= 15%; the figure per voice is printed.
The same set, with more voices, is benchmarks/voice.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from simulator.voice import Recognizer, Synthesizer, VoiceSpec
from simulator.voice.recognize import ErrorCount

LINES_FILE = Path(__file__).parent / "data" / "voice_lines.yaml"
MAX_WER = 0.15

VOICES = (
    VoiceSpec("piper:joe"),
    VoiceSpec("piper:joe", speed=0.85, pitch=0.9),  # a slower, lower caller
    VoiceSpec("espeak:en-us"),
    VoiceSpec("espeak:en-us", speed=0.85),
)


def load_lines() -> list[str]:
    data = yaml.safe_load(LINES_FILE.read_text(encoding="utf-8"))
    return [str(line) for line in data["lines"]]


@dataclass
class VoiceResult:
    voice: VoiceSpec
    count: ErrorCount
    recognise_s: float
    audio_s: float


def roundtrip(lines: list[str], voices, synth: Synthesizer, recognizer: Recognizer) -> list[VoiceResult]:
    results = []
    for voice in voices:
        count, recognise_s, audio_s = ErrorCount(), 0.0, 0.0
        for line in lines:
            heard = recognizer.transcribe(synth.speak(line, voice))
            count.add(line, heard.text)
            recognise_s += heard.seconds
            audio_s += heard.audio_s
        results.append(VoiceResult(voice, count, recognise_s, audio_s))
    return results


def overall(results: list[VoiceResult]) -> float:
    errors = sum(r.count.errors for r in results)
    words = sum(r.count.reference_words for r in results)
    return errors / words


def table(results: list[VoiceResult]) -> str:
    rows = [f"{'voice':34s} {'lines':>5s} {'words':>5s} {'WER':>6s}  recognised in"]
    for r in results:
        rows.append(
            f"{r.voice.label:34s} {r.count.lines:5d} {r.count.reference_words:5d} {r.count.wer:6.1%}  "
            f"{r.recognise_s / max(1, r.count.lines):.2f} s a line ({r.audio_s / max(1, r.count.lines):.1f} s of audio)"
        )
    rows.append(f"{'all':34s} {sum(r.count.lines for r in results):5d} {sum(r.count.reference_words for r in results):5d} {overall(results):6.1%}")
    return "\n".join(rows)


def test_the_set_is_at_least_fifty_varied_learner_lines():
    lines = load_lines()
    assert len(lines) >= 50
    assert len(set(lines)) == len(lines)
    text = " ".join(lines).lower()
    for kind in ("sorry", "?", "dollars", "margaret", "june", "discount"):
        assert kind in text


def test_words_are_compared_not_spelling_digits_or_punctuation():
    from simulator.voice import word_error_rate

    assert word_error_rate("Your refund of forty two dollars will arrive in five working days.", "Your refund of $42 will arrive in 5 working days") == 0
    assert word_error_rate("Your reference number is four seven one nine.", "Your reference number is 4719.") == 0
    assert word_error_rate("I can book that for the twenty first of June at ten o'clock.", "I can book that for the 21st of June at 10:00") == 0
    assert word_error_rate("I'm sorry, I didn't catch that.", "I am sorry I did not catch that") == 0
    assert word_error_rate("Your balance is one hundred and twenty dollars.", "Your balance is $120.") == 0
    assert word_error_rate("I apologise for the mistake.", "I apologize for the mistake") == 0
    assert word_error_rate("Let me check that for you.", "Let me check for you.") == pytest.approx(1 / 6)
    assert word_error_rate("Thank you.", "") == 1.0


def test_what_the_learner_says_is_what_appears_in_the_box_at_most_15_percent_word_errors(capsys):
    lines = load_lines()
    results = roundtrip(lines, VOICES, Synthesizer(), Recognizer().load())
    report = table(results)
    with capsys.disabled():
        print("\n" + report)
        for r in results:
            for rate, ref, hyp in r.count.worst[:2]:
                print(f"  {r.voice.label}: {rate:.0%} {ref!r} -> {hyp!r}")
    assert len(lines) * len(VOICES) >= 150
    assert overall(results) <= MAX_WER, report
