"""Voice practice's speech engine on this machine (issue 22), offline, on the CPU.

Run: python benchmarks/voice.py [--model tiny.en] [--runs 5] [--quick]

1. Word error rate per voice on the whole round-trip set (tests/data/voice_lines.yaml): each line
   spoken by Piper's joe voice and espeak-ng variants at several speeds, recognised, compared.
2. End of speech -> text: a ~5-second utterance fed in real time from a WAV microphone, the
   Listener ending the turn after the learner's pause (0.8 s), then recognition. Two figures:
   from the end of speech (audio time) to the text, which includes the pause, and from the
   moment the turn ended to the text (what recognition adds). Median of ``--runs``.
3. Time to the customer's first audio: a reply streamed word by word; from the moment its first
   sentence is complete to that sentence's audio being handed to the output. Median of ``--runs``.
4. Peak memory (RSS) of a process with the recognizer and the synthesizer loaded and used.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from test_voice_roundtrip import VOICES as TEST_VOICES, load_lines, roundtrip, table  # noqa: E402

from simulator.voice import (  # noqa: E402
    Listener,
    Recognizer,
    SentenceSplitter,
    Synthesizer,
    VoiceSpec,
    WavInput,
    WavOutput,
    word_error_rate,
    write_wav,
)

BENCH_VOICES = TEST_VOICES + (
    VoiceSpec("piper:joe", speed=1.2, pitch=1.1),
    VoiceSpec("espeak:en-gb"),
    VoiceSpec("espeak:en-gb-x-rp", speed=0.9),
    VoiceSpec("espeak:en-us+f3"),
)

FIVE_SECONDS = "I'm really sorry about the delay with your order. It left our warehouse on Monday and should reach you by Friday."
REPLIES = [
    "Oh, thank you, dear. I've been waiting on this line for twenty minutes and nobody has told me anything.",
    "That's not good enough. I was promised a refund last week!",
    "Right. So what happens now? Do I have to send the parcel back myself?",
    "I see. Well, can you at least tell me when the engineer is coming?",
    "Thank you. That's the first helpful thing anyone has said today.",
]


def wer_per_voice(recognizer: Recognizer, synth: Synthesizer, quick: bool) -> None:
    lines = load_lines()
    voices = TEST_VOICES if quick else BENCH_VOICES
    started = time.perf_counter()
    results = roundtrip(lines, voices, synth, recognizer)
    print(f"\n1. Word error rate, {len(lines)} lines x {len(voices)} voices ({time.perf_counter() - started:.0f} s)")
    print(table(results))


def end_of_speech_to_text(recognizer: Recognizer, synth: Synthesizer, runs: int) -> None:
    clip = synth.speak(FIVE_SECONDS, VoiceSpec("piper:joe"))
    print(f"\n2. End of speech -> text, a {clip.duration_s:.1f} s utterance in real time, pause 0.8 s, median of {runs}")
    with tempfile.TemporaryDirectory() as folder:
        wav = write_wav(Path(folder) / "five.wav", clip)
        for early in (True, False):
            total, after_end, wers, used_early = [], [], [], 0
            for _ in range(runs):
                mic = WavInput([wav], realtime=True, gap_s=0.5)
                listener = Listener(mic, pause_s=0.8)
                if early:
                    heard = recognizer.hear(listener)
                    utterance, text = heard.utterance, heard.recognised.text
                    used_early += heard.early
                else:
                    utterance = listener.listen()
                    text = recognizer.transcribe(utterance.clip).text
                done = time.monotonic()
                mic.stop()
                total.append(done - (mic.started_at + utterance.speech_end_s))
                after_end.append(done - utterance.ended_at)
                wers.append(word_error_rate(FIVE_SECONDS, text))
            how = f"recognition started at 0.3 s of quiet (Recognizer.hear; early text used {used_early}/{runs})" if early else "recognition after the turn ended (listen, then transcribe)"
            print(f"   {how}:")
            print(f"     end of speech -> text (includes the 0.8 s pause): {statistics.median(total):.2f} s (max {max(total):.2f})")
            print(f"     turn ended -> text:                               {statistics.median(after_end):.2f} s (max {max(after_end):.2f})")
            print(f"     word error rate: {statistics.mean(wers):.1%}")


LONG_REPLIES = [
    "I've been waiting on this line for twenty minutes and nobody has told me anything about my refund, which is really not good enough.",
    "My husband set up this account years ago and I have no idea what the password is or which email address he used for it.",
    "The engineer was supposed to come on Tuesday between eight and twelve but nobody turned up and nobody rang to say why.",
]


def first_audio(synth: Synthesizer, runs: int) -> None:
    print(f"\n3. First sentence ready -> its audio handed to the speaker, median of {runs} runs of each reply")
    for voice in (VoiceSpec("piper:joe"), VoiceSpec("piper:joe", speed=0.85, pitch=0.9), VoiceSpec("espeak:en-us")):
        for group, replies in (("short first sentences (1-6 words)", REPLIES), ("long one-sentence replies (22-25 words)", LONG_REPLIES)):
            print(f"   {voice.label:34s} {group:40s} {_first_audio_median(synth, voice, replies, runs)}")


def _first_audio_median(synth: Synthesizer, voice: VoiceSpec, replies: list[str], runs: int) -> str:
    times = []
    for _ in range(runs):
        for reply in replies:
            with tempfile.TemporaryDirectory() as folder:
                out = WavOutput(Path(folder))
                splitter = SentenceSplitter()
                for word in reply.split(" "):
                    ready = splitter.feed(word + " ")
                    if ready:
                        started = time.monotonic()
                        out.play(synth.speak_sentence(ready[0], voice))
                        times.append(out.first_audio_at - started)
                        break
                else:
                    first = splitter.flush()[0]
                    started = time.monotonic()
                    out.play(synth.speak_sentence(first, voice))
                    times.append(out.first_audio_at - started)
    return f"{statistics.median(times):.2f} s (max {max(times):.2f})"


MEMORY_PROBE = """
import json, resource, sys, time
sys.path.insert(0, %r)
from simulator.voice import Recognizer, Synthesizer, VoiceSpec
t = time.monotonic(); r = Recognizer(%r).load(); load_r = time.monotonic() - t
s = Synthesizer(); t = time.monotonic(); s.load(VoiceSpec("piper:joe")); load_s = time.monotonic() - t
for _ in range(3):
    clip = s.speak(%r, VoiceSpec("piper:joe"))
    r.transcribe(clip)
    s.speak("Thank you.", VoiceSpec("espeak:en-us"))
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "load_r": load_r, "load_s": load_s}))
"""


def memory(model: str) -> None:
    code = MEMORY_PROBE % (str(REPO), model, FIVE_SECONDS)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print("\n4. A process with the recognizer and the synthesizer loaded and used")
    print(f"   peak RSS {figures['rss_mb']:.0f} MB; recognizer loads in {figures['load_r']:.2f} s, Piper voice in {figures['load_s']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en", help="speech model (tiny.en, or base if its wheels are installed)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the test's four voices only")
    args = parser.parse_args()
    recognizer = Recognizer(args.model).load()
    synth = Synthesizer().load(VoiceSpec("piper:joe"))
    print(f"speech model {args.model}: loaded in {recognizer.load_seconds:.2f} s; int8, 2 threads, greedy")
    end_of_speech_to_text(recognizer, synth, args.runs)
    first_audio(synth, args.runs)
    memory(args.model)
    wer_per_voice(recognizer, synth, args.quick)


if __name__ == "__main__":
    main()
