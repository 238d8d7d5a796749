"""The child process that speaks with Piper (run as ``python -m simulator.voice.piper_worker THREADS``).

Piper (piper-tts) is GPL-3.0-or-later; this project is Apache-2.0. So, as espeak-ng runs as its own
program, Piper runs here, in its own process, and the app (:class:`.synthesize.Synthesizer`) never
imports it: it writes requests to this process's stdin and reads the audio from its stdout.

Requests, one JSON line each:

* ``{"op": "load", "voice": "joe", "model": "/…/en_US-joe-medium.onnx"}``: load that voice now;
* ``{"op": "speak", "voice": …, "model": …, "speed": 1.0, "pitch": 1.0, "text": "Hello."}``.

Each is answered by one JSON line, ``{"rate": 22050, "bytes": N}`` followed by N bytes of mono 16-bit
little-endian PCM (0 for a load), or ``{"error": "one line"}``. Voices stay loaded for the process's
life. It exits when its stdin closes (the app has gone).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

from simulator.voice.errors import INSTALL_LINE


class _Voices:
    def __init__(self, threads: int):
        self.threads = threads
        self.loaded: dict[str, Any] = {}

    def get(self, name: str, model: str):
        if name in self.loaded:
            return self.loaded[name]
        try:
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            config = PiperConfig.from_dict(json.loads(Path(f"{model}.json").read_text(encoding="utf-8")))
            session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
            voice = PiperVoice(session=session, config=config)
        except ImportError as exc:
            raise _Failed(f"the piper voice needs piper-tts ({exc}) — {INSTALL_LINE}") from None
        except (OSError, ValueError, RuntimeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise _Failed(f"the piper voice {name} cannot be loaded ({first}) — reinstall: {INSTALL_LINE}") from None
        self.loaded[name] = voice
        return voice

    def speak(self, name: str, model: str, text: str, speed: float, pitch: float) -> tuple[bytes, int]:
        from piper.config import SynthesisConfig

        from simulator.voice.audio import Clip, resample

        voice = self.get(name, model)
        # Pitch by resampling: audio made at rate r and played at r * pitch is higher by `pitch` and
        # shorter by it too, so the phonemes are made longer by the same factor first.
        length = (1.0 / speed) * pitch
        config = SynthesisConfig(length_scale=length * (voice.config.length_scale or 1.0))
        pcm = bytearray()
        rate = voice.config.sample_rate
        for chunk in voice.synthesize(text, syn_config=config):
            pcm += chunk.audio_int16_bytes
            rate = chunk.sample_rate
        clip = Clip(bytes(pcm), rate)
        if pitch != 1.0:
            clip = resample(Clip(clip.pcm, int(round(rate * pitch))), rate)
        return clip.pcm, clip.sample_rate


class _Failed(Exception):
    """A request that failed in a way the learner is told in one line; the worker carries on."""


def _reply(out: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    out.write(json.dumps(header).encode("utf-8") + b"\n" + payload)
    out.flush()


def serve(requests: BinaryIO, out: BinaryIO, threads: int) -> None:
    voices = _Voices(threads)
    for line in requests:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            if request.get("op") == "load":
                voices.get(request["voice"], request["model"])
                _reply(out, {"rate": 0, "bytes": 0})
            else:
                pcm, rate = voices.speak(request["voice"], request["model"], request["text"],
                                         float(request.get("speed", 1.0)), float(request.get("pitch", 1.0)))
                _reply(out, {"rate": rate, "bytes": len(pcm)}, pcm)
        except _Failed as exc:
            _reply(out, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - any failure is one sentence lost, said in one line
            first = (str(exc).splitlines() or [""])[0]
            _reply(out, {"error": f"the piper voice failed ({type(exc).__name__}: {first})"})


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    # The replies own the real stdout; anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, out, threads)


if __name__ == "__main__":
    main()
