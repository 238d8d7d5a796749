"""Speed and memory figures for the README. Run: python benchmarks/bench.py

Measures, on this machine:
* `roleplay --help`, `roleplay validate` and `roleplay models` (no server listening) wall time
  (median of 5 runs, new process each), and how soon `roleplay models pull` gives up with
  no network;
* the TUI's first paint: in a real terminal (tmux, 80x24, until the first persona name is
  on screen, next to a bare Textual app; see firstpaint.py), and in-process headless
  (new process: import, build the app, first screen composed);
* litellm's import (kept off every start-up path: it loads in the background);
* the built-in model: load time, time to first token and tokens per second, through
  the gateway and litellm;
* a headless session on the built-in model (two learner turns, then grading on a
  two-criterion rubric): wall time and peak memory (max RSS).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import firstpaint  # benchmarks/, beside this file

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def timed(cmd: list[str], env: dict[str, str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


FIRST_PAINT = r"""
import asyncio, sys, time
t0 = time.perf_counter()
from pathlib import Path
from simulator.tui.app import RoleplayApp
async def main():
    app = RoleplayApp(Path(sys.argv[1]), model_factory=lambda s: None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(time.perf_counter() - t0, "litellm" in sys.modules)
asyncio.run(main())
"""

MODEL = r"""
import asyncio, time
t0 = time.perf_counter()
from simulator.models.gateway import litellm
litellm()
t_import = time.perf_counter() - t0
from simulator.models import local_process
t1 = time.perf_counter(); local_process.load("smollm2-135m"); t_load = time.perf_counter() - t1
from simulator.models.config import load_settings
from simulator.models.gateway import Gateway
async def main():
    s = load_settings(None).persona
    out = []
    for _ in range(3):
        stream = Gateway(s).stream([{"role": "user", "content": "Tell me a short story about a bill."}], max_tokens=100)
        t = time.perf_counter(); n = 0
        async for c in stream: n += 1
        r = stream.record
        out.append((r.first_token_s, r.tokens_out / max(1e-9, r.latency_s - (r.first_token_s or 0))))
    return out
res = asyncio.run(main())
import statistics
print(t_import, t_load, statistics.median(r[0] for r in res), statistics.median(r[1] for r in res))
"""


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="roleplay-bench-"))
    env = {**os.environ, "ROLEPLAY_CONFIG_DIR": str(work / "config"), "ROLEPLAY_DATA_DIR": str(work / "data")}
    env.pop("ROLEPLAY_MODEL", None)
    env.pop("ROLEPLAY_EVALUATOR_MODEL", None)
    ws = work / "ws"
    shutil.copytree(REPO / "personas", ws / "personas")
    shutil.copytree(REPO / "rubrics", ws / "rubrics")
    env["ROLEPLAY_WORKSPACE"] = str(ws)
    figures: dict[str, object] = {}

    figures["help_s"] = timed([PY, "-m", "simulator", "--help"], env)
    figures["validate_s"] = timed([PY, "-m", "simulator", "validate"], env)
    # nothing listening: the discovery probes (300 ms each, in parallel) are all it waits for
    figures["models_listing_s"] = timed([PY, "-m", "simulator", "models"], env)
    with tempfile.TemporaryDirectory() as nowhere:  # a port nobody listens on stands in for "no network"
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{s.getsockname()[1]}"
        start = time.perf_counter()
        subprocess.run([PY, "-m", "simulator", "models", "pull", "qwen2.5-0.5b"], capture_output=True,
                       env={**env, "HF_ENDPOINT": dead, "ROLEPLAY_DATA_DIR": nowhere})
        figures["models_pull_offline_s"] = time.perf_counter() - start  # goal: fails in seconds, not minutes
    paints = []
    for _ in range(3):
        out = subprocess.run([PY, "-c", FIRST_PAINT, str(ws)], env=env, capture_output=True, text=True, check=True)
        seconds, litellm_loaded = out.stdout.split()
        paints.append(float(seconds))
    figures["tui_first_frame_headless_s"] = statistics.median(paints)
    figures["litellm_loaded_at_first_paint"] = litellm_loaded == "True"
    if shutil.which("tmux"):  # the README's figure: a real terminal, next to a bare Textual app
        paint = {name: statistics.median(times) for name, times in firstpaint.measure(7).items()}
        figures["tui_first_paint_tmux_s"] = paint["library"]
        figures["tui_first_paint_tmux_files_changed_s"] = paint["library, files changed"]
        figures["bare_textual_first_paint_tmux_s"] = paint["bare textual"]
    else:
        print("bench: no tmux — the first paint in a real terminal is not measured")

    out = subprocess.run([PY, "-c", MODEL], env=env, capture_output=True, text=True, check=True)
    t_import, t_load, ttft, tps = map(float, out.stdout.split())
    figures.update(litellm_import_s=t_import, builtin_load_s=t_load, builtin_first_token_s=ttft,
                   builtin_tokens_per_s=tps)

    shutil.copy(REPO / "tests" / "corpus" / "rubrics" / "mini.yaml", ws / "rubrics" / "mini.yaml")
    import yaml

    data = yaml.safe_load((ws / "personas" / "overcharged-loyal-customer.yaml").read_text())
    data.update(rubric="mini", skills=["empathy", "questioning"])
    (ws / "personas" / "dana-mini.yaml").write_text(yaml.safe_dump(data))
    script = work / "script.txt"
    script.write_text("Hi Dana, I'm sorry about the surprise on your bill.\n\nCan you tell me what changed?\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run([PY, "-m", "simulator", "run", "--persona", "dana-mini", "--script", str(script), "--json"],
                         env=env, capture_output=True, text=True, check=True)
    figures["headless_session_with_grading_s"] = time.perf_counter() - start
    figures["headless_peak_rss_mb"] = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    record = json.loads(out.stdout)
    evaluation = record["evaluation"] or {}
    if evaluation:
        figures["grading_wall_s"] = evaluation["wall_time_s"]
        figures["grading_slowest_call_s"] = max(c["latency_s"] for c in evaluation["calls"])
    shutil.rmtree(work, ignore_errors=True)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value:.2f}" if isinstance(value, float) else f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
