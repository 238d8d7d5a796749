"""First paint of the library screen in a real terminal, next to a bare Textual app.

Run: python benchmarks/firstpaint.py [--runs N] [--workspace DIR]

Each run starts a new process in a detached tmux window of 80x24 and polls the pane
(every 10 ms) until the first persona name ("Walter Nakamura") is on screen; the time
from starting the window to that moment is the run's figure. Three series are run
interleaved, so all see the same load on the machine, and their medians printed:

* library: `python -m simulator` on a copy of the bundled personas and rubrics (or on
  ``--workspace``), its index of the table's rows saved by an unmeasured first run, as
  on every start while no persona or rubric file changes;
* library, files changed: the same without the saved index, as on the first start after
  a persona or rubric file changed (or the very first start);
* bare textual: a bare Textual app, one DataTable showing the same name (written below).

It uses its own tmux server (``-L``), started once and kept alive for the run, so no run
pays for starting tmux, and its own data and config folders. Skipped, with a message,
when tmux is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
NAME = "Walter Nakamura"  # the first persona of the bundled library (by difficulty, then title)
SOCKET = f"roleplay-firstpaint-{os.getpid()}"
TIMEOUT_S = 30.0

BARE = r"""
from textual.app import App
from textual.widgets import DataTable, Footer, Static

class Bare(App):
    def compose(self):
        yield Static("bare textual app")
        yield DataTable()
        yield Footer()

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("Name", "Title")
        table.add_row("Walter Nakamura", "First time on the banking app")

Bare().run()
"""


def tmux(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)


def first_paint(command: str, env: dict[str, str], around=None, linger=None) -> float:
    """Seconds from starting a tmux window running ``command`` to NAME on screen (the
    window is closed then, or once ``linger()`` is true)."""
    with around() if around is not None else contextlib.nullcontext():
        return _first_paint(command, env, linger)


def _first_paint(command: str, env: dict[str, str], linger) -> float:
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    session = "paint"
    start = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(REPO), f"env {exports} {command}")
    try:
        while time.perf_counter() - start < TIMEOUT_S:
            if NAME in tmux("capture-pane", "-p", "-t", session).stdout:
                seconds = time.perf_counter() - start
                while linger is not None and not linger() and time.perf_counter() - start < TIMEOUT_S:
                    time.sleep(0.05)
                return seconds
            time.sleep(0.01)
        raise SystemExit(f"firstpaint: '{NAME}' did not appear within {TIMEOUT_S:.0f} s: {command}")
    finally:
        tmux("kill-session", "-t", session)


def measure(runs: int, workspace: Path | None = None) -> dict[str, list[float]]:
    """Seconds to the first persona name, per run: the library screen (with its saved
    index, and without it, as on the first start after a file changed) and a bare Textual
    app, interleaved. Needs tmux."""
    work = Path(tempfile.mkdtemp(prefix="roleplay-firstpaint-"))
    ws = workspace
    if ws is None:
        ws = work / "ws"
        shutil.copytree(REPO / "personas", ws / "personas")
        shutil.copytree(REPO / "rubrics", ws / "rubrics")
    bare = work / "bare.py"
    bare.write_text(BARE)
    env = {"ROLEPLAY_WORKSPACE": str(ws.resolve()), "ROLEPLAY_CONFIG_DIR": str(work / "config"),
           "ROLEPLAY_DATA_DIR": str(work / "data"), "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}
    app = f"{shlex.quote(PY)} -m simulator"
    cache = work / "data" / "cache"

    @contextlib.contextmanager
    def without_index():  # as on the first start after a persona or rubric file changed
        aside = work / "data" / "cache-aside"
        cache.rename(aside)
        try:
            yield
        finally:
            shutil.rmtree(cache, ignore_errors=True)
            aside.rename(cache)

    series = {"library": (app, None), "library, files changed": (app, without_index),
              "bare textual": (f"{shlex.quote(PY)} {bare}", None)}
    times: dict[str, list[float]] = {name: [] for name in series}
    tmux("new-session", "-d", "-s", "keep", "-x", "80", "-y", "24")  # the server, kept for the whole run
    try:
        # unmeasured: warms the disk cache and .pyc files, and saves the library's index
        first_paint(app, env, linger=lambda: any(cache.glob("library-*.json")))
        if not cache.is_dir():
            raise SystemExit("firstpaint: the library's index was not saved — is the data folder writable?")
        first_paint(series["bare textual"][0], env)
        for i in range(runs):
            order = list(series.items()) if i % 2 == 0 else list(series.items())[::-1]
            for name, (command, around) in order:
                times[name].append(first_paint(command, env, around))
    finally:
        tmux("kill-server")
        shutil.rmtree(work, ignore_errors=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs of each app (default 11)")
    parser.add_argument("--workspace", type=Path, help="workspace to open (default: a copy of the bundled one)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("firstpaint: skipped — tmux is not installed (apt-get install tmux)")
        return 0
    times = measure(args.runs, args.workspace)
    print(f"first paint in tmux, 80x24, time to '{NAME}' on screen, {args.runs} runs each, interleaved:")
    for name, values in times.items():
        print(f"  {name:<22} median {statistics.median(values):.2f} s  "
              f"(min {min(values):.2f}, max {max(values):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
