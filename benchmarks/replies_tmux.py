"""Reply latency as the learner sees it: the app in a real terminal (tmux, 80x24), on the
built-in model, from Enter to the customer's reply on screen.

Run: python benchmarks/replies_tmux.py [--sessions 3] [--turns 4] [--persona ID]

Each session starts `python -m simulator` in a detached tmux window with its own data and
config folders, opens the persona's brief and the chat (the app primes the model while
the brief is read, as for a learner), waits until the model's worker is up, then types
each message and presses Enter; the pane is polled every 10 ms until the customer's reply
bubble is on screen below the message. Typing is sent in one go, so the draft priming
the app does at a pause in typing happens at the pause before Enter (0.6 s here, a
learner's pause). Prints the first reply's and the later replies' medians and maxima.
Skipped, with a message, when tmux is not installed.

The same run also plays each session in-process, without the terminal (``Conversation`` on
the built-in model, primed at the brief, and at the same pause before each message as the chat
screen does it: the draft's priming starts 0.4 s into the pause and may still run at Enter),
from ``send`` to the reply's text: what the terminal and the app add is
the difference of the two.
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
SOCKET = f"roleplay-replies-{os.getpid()}"
TIMEOUT_S = 60.0
PAUSE_BEFORE_ENTER_S = 0.6
POLL_S = float(os.environ.get("POLL_S", "0.01"))  # the pane is read this often (each read starts a tmux client)
MESSAGES = ["Hello, I'm sorry for the trouble. Can you tell me what happened?",
            "Thank you. When did you first notice it?",
            "I understand, that sounds really frustrating. What would fix this for you?",
            "Here is what I can do today: I will sort it out and confirm it in writing.",
            "Is there anything else I can help with?"]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True).stdout


class Control:
    """One tmux client in control mode (``tmux -C``): the pane is read through it, so polling
    starts no process (a ``tmux capture-pane`` process every 10 ms took CPU from the model)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["tmux", "-L", SOCKET, "-C", "attach", "-t", "bench"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                     encoding="utf-8", errors="replace")
        self.command("refresh-client -f no-output")  # no %output notices: only the answers to reads
        self.command("refresh-client -C 80x24")  # the window stays 80x24 with this client attached

    def command(self, line: str) -> list[str]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer: list[str] | None = None
        while True:
            got = self.proc.stdout.readline()
            if not got:
                raise RuntimeError("the tmux control client ended")
            got = got.rstrip("\n")
            if answer is None:
                if got.startswith("%begin"):
                    answer = []
                continue  # notices between answers
            if got.startswith(("%end", "%error")):
                return answer
            answer.append(got)

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=5)
            self.proc = None


CONTROL = Control()


def pane() -> list[str]:
    if CONTROL.proc is not None:
        return CONTROL.command("capture-pane -p -t bench")
    return tmux("capture-pane", "-p", "-t", "bench").splitlines()


def wait_for(test, timeout: float = TIMEOUT_S) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if test(pane()):
            return time.perf_counter() - t0
        time.sleep(POLL_S)
    raise TimeoutError("the screen did not show what was waited for:\n" + "\n".join(pane()))


def worker_up(folder: Path) -> bool:
    """Is a model worker running for the app in this window (its data folder is ours)?"""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            env = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"simulator.models.local_worker" in cmd and str(folder).encode() in env:
            return True
    return False


def reply_below(message: str, name: str):
    words = message.split()[-1]  # the message's last line in its bubble ends with it

    def test(lines: list[str]) -> bool:  # the reply's bubble holds words, not its "…" placeholder
        mine = [i for i, line in enumerate(lines) if words in line]
        return bool(mine) and any(f"{name}:" in line and line.split(f"{name}:", 1)[1].strip() not in ("", "…")
                                  for line in lines[mine[-1] + 1:])
    return test


def session(persona_name: str, turns: int) -> list[float]:
    folder = Path(tempfile.mkdtemp(prefix="roleplay-replies-"))
    shutil.copytree(REPO / "personas", folder / "ws" / "personas")
    shutil.copytree(REPO / "rubrics", folder / "ws" / "rubrics")
    (folder / "ws" / "sessions").mkdir()
    env = (f"ROLEPLAY_DATA_DIR={folder / 'data'} ROLEPLAY_CONFIG_DIR={folder / 'config'} ROLEPLAY_LEARNER=bench "
           f"ROLEPLAY_WORKSPACE={folder / 'ws'} ROLEPLAY_MODEL= ")
    tmux("new-window", "-t", "bench", "-k", f"cd {shlex.quote(str(REPO))} && env {env} {PY} -m simulator")
    wait_for(lambda lines: any("Walter Nakamura" in line for line in lines))
    # the persona's row: move down until it is highlighted in the footer, then its brief and the chat
    for _ in range(20):
        detail = pane()[-4:]
        if any(persona_name in line and "—" in line for line in detail):
            break
        tmux("send-keys", "-t", "bench", "Down")
        with contextlib.suppress(TimeoutError):  # the detail line follows the cursor: one row at a time
            wait_for(lambda lines: lines[-4:] != detail, timeout=2.0)
    tmux("send-keys", "-t", "bench", "Enter")
    wait_for(lambda lines: any("Start" in line or "start" in line for line in lines))
    time.sleep(1.0)  # a learner reads the brief (the app primes the model meanwhile)
    tmux("send-keys", "-t", "bench", "Enter")
    wait_for(lambda lines: any("Type your reply" in line for line in lines))
    t0 = time.perf_counter()
    while not worker_up(folder) and time.perf_counter() - t0 < TIMEOUT_S:
        time.sleep(0.05)
    time.sleep(2.0)  # the warm-up and the priming finish, as while a learner reads the opening line
    times = []
    for message in MESSAGES[:turns]:
        tmux("send-keys", "-t", "bench", "-l", message)
        tail = message[-12:]  # the pause is a learner's, after the text is in the box (the app takes each key in turn)
        wait_for(lambda lines: any(tail in line and "▊" in line for line in lines))
        time.sleep(PAUSE_BEFORE_ENTER_S)
        tmux("send-keys", "-t", "bench", "Enter")
        times.append(wait_for(reply_below(message, persona_name)))
        wait_for(lambda lines: not any("typing…" in line for line in lines))  # the reply is complete
        if any("ended" in line.lower() and "feedback" in line.lower() for line in pane()):
            break
        time.sleep(1.5)  # reading the reply
    tmux("send-keys", "-t", "bench", "C-q")
    time.sleep(0.5)
    shutil.rmtree(folder, ignore_errors=True)
    return times


def in_process(persona_name: str, turns: int) -> list[float]:
    """The same session without the terminal: send -> the reply's first text, in seconds."""
    import asyncio

    sys.path.insert(0, str(REPO))
    from simulator.content.library import load_library
    from simulator.models.config import load_settings
    from simulator.models import local_process
    from simulator.models.gateway import Gateway
    from simulator.practice.engine import Conversation, prime, ready_to_understand
    from simulator.tui.chat import ChatScreen

    DRAFT_PAUSE_S = ChatScreen.DRAFT_PAUSE_S

    folder = Path(tempfile.mkdtemp(prefix="roleplay-replies-"))
    workspace = folder / "ws"
    shutil.copytree(REPO / "personas", workspace / "personas")
    shutil.copytree(REPO / "rubrics", workspace / "rubrics")
    library = load_library(workspace)
    persona = next(p for p in library.personas.values() if p.name == persona_name)
    model = Gateway(load_settings(workspace).persona)

    async def play() -> list[float]:
        await prime(persona, model)  # while the brief is read
        await asyncio.to_thread(ready_to_understand, persona, workspace)
        conversation = Conversation.start(persona, library.rubric_for(persona), model, workspace=workspace)
        await conversation.prime()
        times = []
        for message in MESSAGES[:turns]:
            # the pause before Enter: as in the chat, the draft is primed DRAFT_PAUSE_S into it, and
            # Enter comes while that may still run
            await asyncio.sleep(DRAFT_PAUSE_S)
            priming = asyncio.create_task(conversation.prime(message))
            await asyncio.sleep(PAUSE_BEFORE_ENTER_S - DRAFT_PAUSE_S)
            started, first = time.perf_counter(), []
            await conversation.send(message, on_chunk=lambda _: first or first.append(time.perf_counter() - started))
            times.append(first[0])
            await priming
            if conversation.ended:
                break
            await conversation.prime()  # while the reply is read
        return times

    try:
        return asyncio.run(play())
    finally:
        # a new worker for each session, as each app starts one: the model's sampling starts from
        # the same state, so both sides draw the same replies (and as many rejected candidates)
        local_process.close_all()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--persona-name", default="Dana Whitaker")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        print("replies_tmux: no tmux — skipped")
        return 0
    tmux("new-session", "-d", "-s", "bench", "-x", "80", "-y", "24")
    if not os.environ.get("SPAWN_POLL"):  # SPAWN_POLL=1: read the pane with a tmux process each time, as before
        CONTROL.start()
    first, later, first_in, later_in = [], [], [], []
    try:
        for n in range(args.sessions):
            times = session(args.persona_name, args.turns)
            print(f"session {n + 1} in tmux: " + ", ".join(f"{t:.2f}" for t in times) + " s")
            first.append(times[0])
            later += times[1:]
            times = in_process(args.persona_name, args.turns)
            print(f"session {n + 1} in-process: " + ", ".join(f"{t:.2f}" for t in times) + " s")
            first_in.append(times[0])
            later_in += times[1:]
    finally:
        CONTROL.stop()
        tmux("kill-server")
    for label, a, b in (("Enter to the reply on screen (tmux 80x24)", first, later),
                        ("send to the reply's text (in-process)", first_in, later_in)):
        print(f"{label}, {args.persona_name}, built-in model: first reply median {statistics.median(a):.2f} s "
              f"(max {max(a):.2f}); later replies median {statistics.median(b):.2f} s (max {max(b):.2f}), "
              f"{len(b)} replies")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
