"""First paint of the library screen in a real terminal, next to elia and a bare Textual app.

Run: python benchmarks/firstpaint.py [--runs N] [--workspace DIR] [--elia PATH | --no-elia]

Each run starts a new process in a detached tmux window of 80x24 and polls the pane
(every 10 ms) until the first persona name ("Walter Nakamura") is on screen; the time
from starting the window to that moment is the run's figure. Four series are run
interleaved, so all see the same load on the machine, and their medians printed with
the ratio library / elia (issue 20's goal: at most 0.5):

* library: `python -m simulator` on a copy of the bundled personas and rubrics (or on
  ``--workspace``), its index of the table's rows saved by an unmeasured first run, as
  on every start while no persona or rubric file changes;
* library, files changed: the same without the saved index, as on the first start after
  a persona or rubric file changed (or the very first start);
* bare textual: a bare Textual app, one DataTable showing the same name (written below);
* elia: elia, the Textual LLM chat app (PyPI ``elia-chat``), until its home screen has
  loaded its (empty) chat history and shows its welcome box ("Welcome to Elia!"), the
  part of its first screen drawn last (its header shows some 70 ms earlier). It needs no
  API key for that. It is not a dependency of roleplay: unless ``--elia`` names an elia
  executable, the pinned elia (ELIA_VERSION below) is installed on first use into its own
  virtualenv under ``~/.cache/roleplay-bench/`` (``python -m venv`` + ``pip install``);
  when that cannot be done (no network) the series is skipped with a one-line message
  (``--no-elia`` leaves it out). It runs with its own
  HOME and XDG folders (made by an unmeasured first run, which creates its database and
  config file, as on every start after the first), so it never touches the user's.

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
ELIA_VERSION = "1.10.0"  # pinned, so that runs months apart compare the same elia
ELIA_MARKER = "Welcome to Elia!"  # the border title of its home screen's welcome box
ELIA_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "roleplay-bench" / f"elia-{ELIA_VERSION}"

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


class NoPaint(Exception):
    """The marker never came on screen: the process ended first, or the time ran out."""


def first_paint(command: str, env: dict[str, str], around=None, linger=None, marker: str = NAME) -> float:
    """Seconds from starting a tmux window running ``command`` to ``marker`` on screen
    (the window is closed then, or once ``linger()`` is true)."""
    with around() if around is not None else contextlib.nullcontext():
        try:
            return _first_paint(command, env, linger, marker)
        except NoPaint as e:
            raise SystemExit(f"firstpaint: {e}") from None


def _first_paint(command: str, env: dict[str, str], linger, marker: str) -> float:
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    session = "paint"
    start = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(REPO), f"env {exports} {command}")
    try:
        while time.perf_counter() - start < TIMEOUT_S:
            pane = tmux("capture-pane", "-p", "-t", session)
            if marker in pane.stdout:
                seconds = time.perf_counter() - start
                while linger is not None and not linger() and time.perf_counter() - start < TIMEOUT_S:
                    time.sleep(0.05)
                return seconds
            if pane.returncode != 0:  # the window is gone: the process ended
                raise NoPaint(f"'{marker}' did not appear, the process ended first: {command}")
            time.sleep(0.01)
        raise NoPaint(f"'{marker}' did not appear within {TIMEOUT_S:.0f} s: {command}")
    finally:
        tmux("kill-session", "-t", session)


def install_elia() -> tuple[Path | None, str]:
    """elia's executable in its own virtualenv (made, with elia ELIA_VERSION installed, on
    first use), or None and the one-line reason it could not be installed."""
    exe = ELIA_VENV / "bin" / "elia"
    if exe.exists():
        return exe, ""
    print(f"firstpaint: installing elia-chat=={ELIA_VERSION} into {ELIA_VENV} (once) ...", file=sys.stderr)
    shutil.rmtree(ELIA_VENV, ignore_errors=True)
    steps = (("python -m venv", [PY, "-m", "venv", str(ELIA_VENV)]),
             (f"pip install elia-chat=={ELIA_VERSION}",
              [str(ELIA_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "--retries", "1", "--timeout", "30",  # offline: fail in a minute, not after pip's retries
               f"elia-chat=={ELIA_VERSION}"]))
    for label, step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            done = subprocess.CompletedProcess(step, 1, "", str(e))
        if done.returncode != 0 or (step is steps[-1][1] and not exe.exists()):
            shutil.rmtree(ELIA_VENV, ignore_errors=True)  # no half-made venv for the next run to trust
            errors = [line for line in done.stderr.splitlines() if "ERROR" in line or "rror:" in line]
            last = (errors or done.stderr.strip().splitlines() or ["no output"])[-1].strip()
            return None, f"{label} failed: {last}"
    return exe, ""


def measure(runs: int, workspace: Path | None = None, elia: Path | None = None) -> dict[str, list[float]]:
    """Seconds to the first persona name, per run: the library screen (with its saved
    index, and without it, as on the first start after a file changed) and a bare Textual
    app, and, when ``elia`` names its executable, seconds to elia's home screen; all
    interleaved. Needs tmux."""
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

    home = work / "elia-home"  # elia's own HOME and XDG folders, never the user's
    elia_env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                "XDG_CACHE_HOME": str(home / "cache"), "XDG_STATE_HOME": str(home / "state"),
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # should it import litellm: no network fetch
                "TERM": "xterm-256color"}
    series = {"library": (app, None, env, NAME), "library, files changed": (app, without_index, env, NAME),
              "bare textual": (f"{shlex.quote(PY)} {bare}", None, env, NAME)}
    if elia is not None:
        series["elia"] = (f"env -u PYTHONPATH -u VIRTUAL_ENV {shlex.quote(str(elia))}", None, elia_env, ELIA_MARKER)
    times: dict[str, list[float]] = {name: [] for name in series}
    tmux("new-session", "-d", "-s", "keep", "-x", "80", "-y", "24")  # the server, kept for the whole run
    try:
        # unmeasured: warms the disk cache and .pyc files, and saves the library's index
        first_paint(app, env, linger=lambda: any(cache.glob("library-*.json")))
        if not cache.is_dir():
            raise SystemExit("firstpaint: the library's index was not saved — is the data folder writable?")
        first_paint(series["bare textual"][0], env)
        if elia is not None:  # unmeasured: creates elia's database and config file (it asks nothing)
            try:
                _first_paint(series["elia"][0], elia_env, None, ELIA_MARKER)
            except NoPaint as e:
                print(f"firstpaint: elia skipped — {e}", file=sys.stderr)
                del series["elia"], times["elia"]
        for i in range(runs):
            order = list(series.items()) if i % 2 == 0 else list(series.items())[::-1]
            for name, (command, around, run_env, marker) in order:
                times[name].append(first_paint(command, run_env, around, marker=marker))
    finally:
        tmux("kill-server")
        shutil.rmtree(work, ignore_errors=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs of each app (default 11)")
    parser.add_argument("--workspace", type=Path, help="workspace to open (default: a copy of the bundled one)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--elia", type=Path, metavar="PATH",
                       help=f"an elia executable to compare with (default: elia-chat=={ELIA_VERSION} in {ELIA_VENV}, "
                            "installed there on first use)")
    which.add_argument("--no-elia", action="store_true", help="leave elia out")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("firstpaint: skipped — tmux is not installed (apt-get install tmux)")
        return 0
    elia = None
    if args.elia is not None:
        elia = args.elia.expanduser().resolve()
        if not (elia.is_file() and os.access(elia, os.X_OK)):
            print(f"firstpaint: --elia {args.elia}: not an executable file; give the path of an installed "
                  f"`elia` (e.g. {ELIA_VENV / 'bin' / 'elia'})", file=sys.stderr)
            return 2
    elif not args.no_elia:
        elia, why = install_elia()
        if elia is None:
            print(f"firstpaint: elia skipped — could not install elia-chat=={ELIA_VERSION} ({why}); "
                  "give an installed one with --elia PATH", file=sys.stderr)
    times = measure(args.runs, args.workspace, elia)
    print(f"first paint in tmux, 80x24, time to '{NAME}' on screen, {args.runs} runs each, interleaved:")
    for name, values in times.items():
        print(f"  {name:<22} median {statistics.median(values):.2f} s  "
              f"(min {min(values):.2f}, max {max(values):.2f})"
              + (f"  ('{ELIA_MARKER}', {elia})" if name == "elia" else ""))
    if "elia" in times:
        ratio = statistics.median(times["library"]) / statistics.median(times["elia"])
        print(f"  library / elia         {ratio:.2f}x  (goal: at most 0.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
