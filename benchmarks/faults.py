"""Fault injection: sessions killed, starved of disk, fed damaged files, and the built-in
model's worker crashed; then each one read back and played on.

    python benchmarks/faults.py [--phase all|server|worker|disk|damaged] [--sessions N] [--seed 7]

Every phase reports the same four figures (goal for each: 0) and a line of its own:

* sessions lost: a session folder that cannot be read back (or, for the lists, a session
  a list left out);
* turns lost: exchanges the process had printed as finished that the journal lacks
  (the reply being made at the fault may be lost, nothing before it);
* tracebacks: "Traceback" in any process's stdout or stderr (and the model workers' log);
* not responding: after the fault, neither the same session nor the next one plays
  (or a command did not exit as documented).

Phases (``--sessions`` sets the count of each phase run):

* ``server`` (12): ``roleplay run`` in its own process against the fake OpenAI-compatible
  server (``tests/fakeserver.py``) answering every chat request with a random fault (500,
  429 with Retry-After, a stream dropped mid-way, a malformed body) or a slow or normal
  reply; most processes get SIGKILL at a random moment. Each session is then resumed
  in-process (the unanswered message sent again), ended and graded through the same
  faulty server. Also: state mismatches (``session.json`` and the journal disagree) and
  orphaned calls (requests reaching the server after an evaluation returned).
* ``worker`` (6): ``roleplay run`` on the built-in model (its own worker process); at a
  random moment after the worker appears (every third run: as the session ends, while the
  run grades it) the worker is killed with SIGILL or SIGSEGV (alternately).
  The run must exit 0 (the kill cost nothing) or 1 with one line naming the signal and
  "the session so far is saved in …"; then the session is resumed in-process on the
  built-in model (or, when it had ended, a new one started) and a reply must come back.
* ``disk`` (12 runs, 6 on a small disk, 4 pulls): ``roleplay run`` against the fake server
  with normal replies, its file size capped (RLIMIT_FSIZE, SIGXFSZ ignored: writes fail with
  EFBIG as on a full disk) at a random size between 2 KiB and the largest file a whole
  session writes; when run as root (CI), half as many more with the sessions folder on a
  tmpfs of a random size up to what a whole session takes (ENOSPC on whichever write comes
  when it is full). The run must stop with one ``roleplay:`` line or finish, the session keep
  every turn it printed as finished, and with room again it must resume and play on (or be
  graded, when it had ended). Then ``roleplay models pull`` of a fake 1 MiB GGUF from a local
  hub under a random cap: one line, the part kept; the pull without the cap resumes it and
  the file matches (also: parts lost, files that do not match).
* ``damaged`` (12 random damages): good sessions beside damaged ones (the named kinds: a
  journal cut mid-line, ``"text": null``, missing keys, garbage bytes, JSON nested 100,000
  deep, wrong types, a ``session.json`` that is a list, a 0-byte journal alone, not UTF-8;
  plus random wrong types and dropped keys), under each kind of damaged ``.index.json``
  (none, garbage, nested, a list, cut short, rows of wrong types): ``roleplay sessions``
  (also ``--json``), ``progress``, ``export --all --format csv`` and ``report DIR`` must
  exit 0, list every good session whole and every damaged one (unreadable with a reason
  where the command lists them); then a new session must play and be listed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import csv
import glob
import hashlib
import io
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fakeserver import FakeServer, drop_mid_stream, malformed, ok, slow, status  # noqa: E402

from simulator.core.errors import RoleplayError  # noqa: E402
from simulator.core.locations import seed_workspace  # noqa: E402
from simulator.practice.sessions import RECORD, list_session_folders, read_session  # noqa: E402

JUDGE = json.dumps({"score": 4, "reason": "Named the problem.", "evidence": [], "improvement": "Ask earlier.",
                    "strengths": ["Calm"], "changes": ["Summarise"], "better_replies": []})
DIRECTOR = json.dumps({"frustration_change": 0, "reveal": [], "outcome": "continue", "why": "steady"})
SCRIPT = ["Hi, I'm sorry about the bill. What happened?", "Can you tell me when it went up?",
          "I can see why that is frustrating.", "Here is what I can do: I'll credit the difference today.",
          "Is there anything else I can help with?"]
PERSONA = "overcharged-loyal-customer"
FAKE_KEY = "sk-fault-bench-000000000000"
WORKER_CMD = b"simulator.models.local_worker"
TIMEOUT_S = 300  # a process still running after this is not responding


@dataclass
class Figures:
    """One phase's result: the four figures every phase reports, its own figures (also
    goals of 0) and what it did (not goals)."""

    phase: str
    lost: int = 0
    turns_lost: int = 0
    tracebacks: int = 0
    unresponsive: int = 0
    own: dict[str, int] = field(default_factory=dict)
    did: str = ""

    def bad(self) -> int:
        return self.lost + self.turns_lost + self.tracebacks + self.unresponsive + sum(self.own.values())

    def read_back(self, n: int, folder: Path, stdout: str, finished: bool):
        """The session as saved, the exchanges printed as finished that it lacks counted;
        None (counted as lost) when it cannot be read."""
        try:
            record = read_session(folder)
        except Exception as exc:  # noqa: BLE001 - any failure to read is a lost session
            self.lost += 1
            print(f"  {self.phase} {n:3} LOST {folder.name}: {type(exc).__name__}: {exc}")
            return None
        missing = max(0, printed_exchanges(stdout, finished) - answered(record))
        self.turns_lost += missing
        return record

    def responds(self, n: int, coroutine):
        """What ``coroutine`` returns; None, counted as not responding, when it raises."""
        try:
            return asyncio.run(coroutine)
        except Exception as exc:  # noqa: BLE001 - counted and said, the run goes on
            self.unresponsive += 1
            print(f"  {self.phase} {n:3} NOT RESPONDING: {type(exc).__name__}: {exc}")
            return None

    def line(self) -> str:
        own = "".join(f", {k} {v}" for k, v in self.own.items())
        return (f"{self.phase}: {self.did} — sessions lost {self.lost}, turns lost {self.turns_lost}, "
                f"tracebacks {self.tracebacks}, not responding {self.unresponsive}{own}")


def tracebacks(*texts: str) -> int:
    return sum(t.count("Traceback") for t in texts)


def isolate(base: Path) -> None:
    """Config and data folders of our own (the worker's log, downloads, the registry), no
    model chosen from outside: the built-in model is the default."""
    os.environ["ROLEPLAY_CONFIG_DIR"] = str(base / "config")
    os.environ["ROLEPLAY_DATA_DIR"] = str(base / "data")
    os.environ["ROLEPLAY_LEARNER"] = ""
    for var in ("ROLEPLAY_MODEL", "ROLEPLAY_EVALUATOR_MODEL", "ROLEPLAY_WORKSPACE"):
        os.environ.pop(var, None)


def fake_workspace(base: Path, server: FakeServer) -> Path:
    """A workspace whose persona and evaluator are the fake server."""
    workspace = Path(tempfile.mkdtemp(prefix="ws-", dir=base))
    seed_workspace(workspace)
    (workspace / "roleplay.yaml").write_text(
        f"persona:\n  model: openai/fake\n  api_base: {server.base_url}\n  api_key_env: FAKE_KEY\n"
        f"evaluator:\n  model: openai/fake\n  api_base: {server.base_url}\n  api_key_env: FAKE_KEY\n")
    return workspace


def write_script(workspace: Path, lines: list[str]) -> Path:
    script = workspace / "script.txt"
    script.write_text("\n\n".join(lines) + "\n")
    return script


def run_command(workspace: Path, script: Path) -> list[str]:
    return [sys.executable, "-m", "simulator", "run", "--workspace", str(workspace), "--persona", PERSONA,
            "--script", str(script)]


def new_folder(workspace: Path, before: set[Path]) -> Path | None:
    folders = [f for f in list_session_folders(workspace) if f not in before]
    return folders[0] if folders else None


def reply(body: dict) -> str:
    text = json.dumps(body.get("messages", []))
    if "latest_agent_message" in text:
        return DIRECTOR
    if "JSON" in text:
        return JUDGE
    return "That bill still makes no sense to me, and I want it fixed."


def random_behaviour(rng: random.Random):
    roll = rng.random()
    if roll < 0.10:
        return status(500)
    if roll < 0.15:
        return status(429, retry_after=0)
    if roll < 0.20:
        return drop_mid_stream(after_chunks=1)
    if roll < 0.23:
        return malformed()
    if roll < 0.55:
        return slow(delay=0.08)
    return ok()


def printed_exchanges(stdout: str, finished: bool) -> int:
    """Exchanges the process printed as done: every "Agent:" line followed by another (or the end)."""
    agents = stdout.count("\nAgent: ")
    return agents if finished else max(0, agents - 1)


def unanswered(stdout: str, finished: bool) -> str | None:
    """The learner message printed last when its reply never came (None when all were answered)."""
    said = [line[len("Agent: "):] for line in stdout.splitlines() if line.startswith("Agent: ")]
    return said[-1] if said and printed_exchanges(stdout, finished) < len(said) else None


def answered(record) -> int:
    turns = [t for t in record.turns if t.speaker in ("learner", "customer")]
    return sum(1 for a, b in zip(turns, turns[1:]) if a.speaker == "learner" and b.speaker == "customer")


def mismatch(folder: Path) -> str | None:
    journal = read_session(folder)
    try:
        snapshot = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None  # killed before the first snapshot: the journal alone is the truth
    turns = [(t["speaker"], t["text"]) for t in snapshot["turns"]]
    if turns != [(t.speaker, t.text) for t in journal.turns][:len(turns)] or len(turns) < len(journal.turns) - 1:
        return "turns differ"
    if snapshot.get("outcome") not in (None, journal.outcome):
        return "outcome differs"
    return None


async def play_on(folder: Path, workspace: Path, text: str | None) -> str:
    """Resume the session and send its pending text (else ``text``, else a new message); a
    session that has ended is followed by a new one instead. Raises unless a reply came
    back and the journal holds it."""
    from simulator.content.library import load_library
    from simulator.models.config import load_settings
    from simulator.models.gateway import Gateway
    from simulator.practice.engine import Conversation

    record = read_session(folder)
    settings = load_settings(workspace)
    model = Gateway(settings.persona, backoff_initial=0.01, backoff_max=0.05)
    if record.ended:
        library = load_library(workspace)
        persona = library.persona(PERSONA)
        conversation = Conversation.start(persona, library.rubric_for(persona), model, workspace=workspace,
                                          models={"persona": settings.persona.model})
    else:
        conversation = Conversation.resume(record, model)
    before = answered(conversation.record)
    turn = await conversation.send(conversation.pending_text or text or SCRIPT[-1])
    conversation.end("ended_by_learner", "played on by the fault benchmark")
    if not turn.text.strip() or answered(read_session(conversation.record.folder)) != before + 1:
        raise RuntimeError("the reply is not in the journal")
    return "played on"


async def resume_and_grade(folder: Path, workspace: Path, server: FakeServer,
                           text: str | None = None) -> tuple[str, int]:
    """Resume the session (its pending text, else ``text``, sent again), end it and grade it;
    the grade and the calls that reached the server after the evaluation returned."""
    from simulator.content.library import load_library
    from simulator.grading.evaluator import evaluate
    from simulator.models.config import load_settings
    from simulator.models.gateway import Gateway
    from simulator.practice.engine import Conversation

    record = read_session(folder)
    settings = load_settings(workspace)
    fast = {"backoff_initial": 0.01, "backoff_max": 0.05}
    if not record.ended:
        conversation = Conversation.resume(record, Gateway(settings.persona, **fast))
        if conversation.pending_text or text:
            try:
                await conversation.send(conversation.pending_text or text)
            except RoleplayError:  # a fault that outlasts the retries: the text is handed back
                pass
        conversation.end("ended_by_learner", "resumed by the fault benchmark")
        record = conversation.record
    rubric = load_library(workspace).rubric_for(record.persona_snapshot())
    outcome = await evaluate(record, rubric, Gateway(settings.evaluator, **fast))
    seen = len(server.requests)
    await asyncio.sleep(0.5)  # anything still running would reach the server now
    return ("graded" if outcome.evaluation else "pending"), len(server.requests) - seen


# -- server: a faulty model server and SIGKILL ------------------------------------------------

def phase_server(base: Path, sessions: int, rng: random.Random) -> Figures:
    fig = Figures("server")
    mismatches = orphans = killed = 0
    results: dict[str, int] = {}
    with FakeServer(reply_fn=reply) as server:
        server.enqueue(*[random_behaviour(rng) for _ in range(20000)])
        workspace = fake_workspace(base, server)
        script = write_script(workspace, SCRIPT)
        for n in range(sessions):
            before = set(list_session_folders(workspace))
            proc = subprocess.Popen(run_command(workspace, script), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            kill_at = rng.uniform(2.0, 10.0) if rng.random() < 0.8 else None
            try:
                stdout, stderr = proc.communicate(timeout=kill_at or TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                stdout, stderr = proc.communicate()
                killed += 1
                if kill_at is None:
                    fig.unresponsive += 1
            fig.tracebacks += tracebacks(stdout, stderr)
            finished = proc.returncode == 0 and "saved in" in stdout
            folder = new_folder(workspace, before)
            if folder is None:
                continue  # killed before the session began: nothing to lose
            lost_before = fig.turns_lost
            if (record := fig.read_back(n, folder, stdout, finished)) is None:
                continue
            missing = fig.turns_lost - lost_before
            if problem := mismatch(folder):
                mismatches += 1
                print(f"  server {n:3} MISMATCH {folder.name}: {problem}")
            if (result := fig.responds(n, resume_and_grade(folder, workspace, server))) is None:
                continue
            if fig.read_back(n, folder, "", True) is None:  # the session as the resume left it
                continue
            grade, late = result
            orphans += late
            results[grade] = results.get(grade, 0) + 1
            print(f"  server {n:3} {'killed' if kill_at and not finished else 'ran   '} answered {answered(record)} "
                  f"lost {missing} {grade}{f' orphans {late}' if late else ''}", flush=True)
        served = len(server.requests)
    fig.own = {"state mismatches": mismatches, "orphaned calls": orphans}
    fig.did = (f"{sessions} sessions, {killed} killed with SIGKILL, {served:,} requests served, "
               f"evaluations {' '.join(f'{k} {v}' for k, v in sorted(results.items()))}")
    return fig


# -- worker: the built-in model's worker killed with SIGILL or SIGSEGV ------------------------

def worker_of(pid: int) -> int | None:
    """The child of ``pid`` running the model worker (children of any of its threads)."""
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            children = Path(path).read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                if WORKER_CMD in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
            except OSError:
                continue
    return None


def no_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Reader(threading.Thread):
    """Collects one pipe of a process as it comes."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.parts = pipe, []
        self.start()

    def run(self) -> None:
        for chunk in iter(lambda: self.pipe.read(1), ""):
            self.parts.append(chunk)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def log_size() -> int:
    from simulator.models.local_process import log_file

    return log_file().stat().st_size if log_file().is_file() else 0


def phase_worker(base: Path, sessions: int, rng: random.Random) -> Figures:
    from simulator.models.local_process import close_all, log_file

    fig = Figures("worker")
    workspace = Path(tempfile.mkdtemp(prefix="ws-", dir=base))
    seed_workspace(workspace)
    script = write_script(workspace, SCRIPT[:4])
    landed = {"mid-session": 0, "after it ended": 0, "missed": 0}
    crashed = bad_lines = 0
    span = 10.0  # how long a worker lives in a run: the kill comes at a random moment within it
    log_start = log_size()
    for n in range(sessions):
        sig = (signal.SIGILL, signal.SIGSEGV)[n % 2]
        before = set(list_session_folders(workspace))
        proc = subprocess.Popen(run_command(workspace, script), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, preexec_fn=no_core_dumps)
        out, err = Reader(proc.stdout), Reader(proc.stderr)
        started = time.monotonic()
        kill_at = where = seen = None
        while proc.poll() is None:
            now = time.monotonic()
            if now - started > TIMEOUT_S:
                proc.kill()
                fig.unresponsive += 1
                break
            if kill_at is None:
                if worker_of(proc.pid):
                    seen, kill_at = now, now + rng.uniform(0.1, span)
            elif where is None and (now >= kill_at if n % 3 != 2 else "] saved in" in out.text) and (
                    pid := worker_of(proc.pid)):
                where = "after it ended" if "] saved in" in out.text else "mid-session"
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    where = None
            time.sleep(0.02)
        proc.wait()
        if where is None and seen is not None:  # the run ended before the kill: learn how long one lasts
            span = time.monotonic() - seen
        out.join(10)
        err.join(10)
        stdout, stderr = out.text, err.text
        landed[where or "missed"] += 1
        fig.tracebacks += tracebacks(stdout, stderr)
        finished = proc.returncode == 0 and "] saved in" in stdout
        said = [line for line in stderr.splitlines() if line.startswith("roleplay: ")]
        if proc.returncode == 1:
            crashed += 1
            if crashed <= 2:
                print(f"  worker {n:3} said: {' / '.join(said)}")
            if not (len(said) == 2 and re.search(rf"crashed \({sig.name}\b", said[0])
                    and said[1].startswith("roleplay: the session so far is saved in ")):
                bad_lines += 1
                print(f"  worker {n:3} UNEXPECTED LINES: {said or stderr[-300:]!r}")
        elif proc.returncode != 0:
            fig.unresponsive += 1  # the app itself went down
            print(f"  worker {n:3} EXIT {proc.returncode}: {stderr[-300:]!r}")
        folder = new_folder(workspace, before)
        state = f"exit {proc.returncode}"
        lost_before = fig.turns_lost
        if folder is not None and (record := fig.read_back(n, folder, stdout, finished)) is not None:
            state += f", answered {answered(record)}, lost {fig.turns_lost - lost_before}, "
            state += fig.responds(n, play_on(folder, workspace, unanswered(stdout, finished))) or "NOT RESPONDING"
        print(f"  worker {n:3} {sig.name:7} {where or 'missed':14} {state}", flush=True)
    close_all()
    if log_file().is_file():
        with log_file().open("rb") as log:
            log.seek(log_start)
            fig.tracebacks += tracebacks(log.read().decode("utf-8", "replace"))
    fig.own = {"wrong lines": bad_lines}
    fig.did = (f"{sessions} sessions on the built-in model, worker killed {landed['mid-session']} times "
               f"mid-session and {landed['after it ended']} after it ended ({landed['missed']} missed), "
               f"{crashed} runs stopped with the crash line")
    return fig


# -- disk: writes fail as on a full disk --------------------------------------------------------

def capped(cap: int):
    """For the child: files stop growing at ``cap`` bytes (a write past it fails with EFBIG)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))
    return limit


def largest_file(folder: Path) -> int:
    return max((p.stat().st_size for p in folder.rglob("*") if p.is_file()), default=0)


def one_line(stderr: str) -> bool:
    """The failure said as one ``roleplay:`` line (progress lines before it are fine)."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    said = [line for line in lines if line.startswith("roleplay: ")]
    return bool(said) and said[-1] == lines[-1] and (len(said) == 1 or "session so far" in said[-1])


async def graded_on(folder: Path, workspace: Path, server: FakeServer, record, text: str | None) -> str:
    """With space again: the session plays on (``text`` sent again, else a new message) and
    is graded; or, when it had ended, is graded. Raises unless it was."""
    grade, _ = await resume_and_grade(folder, workspace, server, text or SCRIPT[-1])
    if grade != "graded" or answered(read_session(folder)) < answered(record) + (not record.ended):
        raise RuntimeError(f"{grade}, answered {answered(read_session(folder))}")
    return "played on and graded" if not record.ended else "graded"


def can_mount() -> bool:
    """Can we mount a small tmpfs (root, as in CI)? Then a disk that fills as a whole is tried too."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = Path(tempfile.mkdtemp(prefix="mount-probe-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                             capture_output=True).returncode == 0
    if mounted:
        subprocess.run(["umount", str(probe)], check=False)
    probe.rmdir()
    return mounted


@contextlib.contextmanager
def small_disk(folder: Path, size: int):
    """``folder`` on a tmpfs of ``size`` bytes: a disk that fills as a whole (ENOSPC on any file);
    the function it yields gives it room again."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "roleplay-faults", str(folder)], check=True)
    try:
        yield lambda: subprocess.run(["mount", "-o", "remount,size=64m", str(folder)], check=True)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def disk_run(fig: Figures, n: int, label: str, workspace: Path, server: FakeServer, counts: dict[str, int],
             preexec=None, lift=None) -> None:
    """One ``roleplay run`` on a disk that fills (``preexec`` caps its files, or the folder is
    small), then, with room again (``lift``), its session checked and played on."""
    before = set(list_session_folders(workspace))
    try:
        proc = subprocess.run(run_command(workspace, workspace / "script.txt"), capture_output=True, text=True,
                              timeout=TIMEOUT_S, preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        fig.unresponsive += 1
        return
    if lift:
        lift()
    fig.tracebacks += tracebacks(proc.stdout, proc.stderr)
    finished = proc.returncode == 0 and "] saved in" in proc.stdout
    lost_before = fig.turns_lost
    state = f"{label} exit {proc.returncode}"
    if proc.returncode != 0:
        counts["stopped"] += 1
        if proc.returncode != 1 or not one_line(proc.stderr):
            counts["wrong lines"] += 1
            print(f"  disk {n:3} {label} exit {proc.returncode}: {proc.stderr[-400:]!r}")
        state += f" ({proc.stderr.strip().splitlines()[-1].replace(str(workspace), '')[:110]}…)"
    folder = new_folder(workspace, before)
    if folder is not None and "Customer: " not in proc.stdout:  # the start itself failed: nothing was played
        counts["empty"] += 1
        state += f", left {' '.join(f'{p.name} {p.stat().st_size} B' for p in folder.iterdir())}"
        try:
            read_session(folder)
        except Exception as exc:  # noqa: BLE001 - listed as unreadable from now on
            counts["unreadable"] += 1
            state += f": unreadable ({str(exc).replace(str(folder), '')[:60]}…)"
    elif folder is not None and (record := fig.read_back(n, folder, proc.stdout, finished)) is not None:
        state += f", answered {answered(record)}, lost {fig.turns_lost - lost_before}, "
        state += fig.responds(n, graded_on(folder, workspace, server, record,
                                           unanswered(proc.stdout, finished))) or "NOT RESPONDING"
    print(f"  disk {n:3} {state}", flush=True)


def phase_disk(base: Path, sessions: int, rng: random.Random) -> Figures:
    fig = Figures("disk")
    counts = {"stopped": 0, "wrong lines": 0, "empty": 0, "unreadable": 0}
    mount = can_mount()
    with FakeServer(reply_fn=reply) as server:
        workspace = fake_workspace(base, server)
        write_script(workspace, SCRIPT)
        before = set(list_session_folders(workspace))
        subprocess.run(run_command(workspace, workspace / "script.txt"), capture_output=True, timeout=TIMEOUT_S,
                       check=True)
        folder = new_folder(workspace, before)
        largest = largest_file(folder)  # the largest file one whole session writes
        room = sum(-(-p.stat().st_size // 4096) * 4096 for p in folder.iterdir())  # what a whole session takes
        for n in range(sessions):
            cap = rng.randint(2048, int(largest * 1.1))
            disk_run(fig, n, f"files capped at {cap:>6,} B", workspace, server, counts, preexec=capped(cap))
        for n in range(sessions, sessions + (sessions // 2 if mount else 0)):
            size = rng.randint(4096, room)
            small = fake_workspace(base, server)
            write_script(small, SCRIPT)
            with small_disk(small / "sessions", size) as lift:
                disk_run(fig, n, f"a disk of {size:>7,} B", small, server, counts, lift=lift)
    pulls = pull_under_cap(base, max(1, sessions // 3), rng, fig)
    fig.own = {"wrong lines": counts["wrong lines"] + pulls["wrong lines"], "parts lost": pulls["parts lost"],
               "files not matching": pulls["not matching"]}
    whole = (f"{sessions // 2} on a disk of 4 KiB–{room // 1024} KiB that fills as a whole" if mount
             else "none on a small disk (mounting a tmpfs needs root)")
    fig.did = (f"{sessions} runs with each file capped at 2 KiB–{int(largest * 1.1) // 1024} KiB, {whole} "
               f"({counts['stopped']} stopped by the full disk, {counts['empty']} of them before the session began, "
               f"{counts['unreadable']} leaving an unreadable empty folder), "
               f"{pulls['runs']} pulls capped ({pulls['stopped']} stopped, every one resumed)")
    return fig


def pull_under_cap(base: Path, runs: int, rng: random.Random, fig: Figures) -> dict[str, int]:
    """``roleplay models pull`` under a cap, then without: one line and the part kept, then
    the rest fetched and the file checked."""
    from test_download import FakeHub

    from simulator.models.local_models import RECOMMENDED

    rec = RECOMMENDED[0]
    data = b"GGUF" + random.Random(rng.random()).randbytes(1 << 20)
    hub = FakeHub({rec.filename: data})
    counts = {"runs": runs, "stopped": 0, "wrong lines": 0, "parts lost": 0, "not matching": 0}
    try:
        for n in range(runs):
            home = Path(tempfile.mkdtemp(prefix="pull-", dir=base))
            env = {**os.environ, "HF_ENDPOINT": hub.url, "ROLEPLAY_DATA_DIR": str(home)}
            pull = [sys.executable, "-m", "simulator", "models", "pull", rec.name]
            cap = rng.randint(4096, len(data) - 1)
            hub.ranges.clear()
            out = subprocess.run(pull, capture_output=True, text=True, env=env, timeout=TIMEOUT_S,
                                 preexec_fn=capped(cap))
            fig.tracebacks += tracebacks(out.stdout, out.stderr)
            target = home / "models" / rec.name / rec.filename
            part = target.with_name(target.name + ".part")
            kept = part.read_bytes() if part.is_file() else b""
            if out.returncode == 1:
                counts["stopped"] += 1
            if out.returncode != 1 or not one_line(out.stderr):
                counts["wrong lines"] += 1
                print(f"  pull {n} cap {cap:,} exit {out.returncode}: {out.stderr[-300:]!r}")
            if not kept or data[:len(kept)] != kept or target.exists():
                counts["parts lost"] += 1
            again = subprocess.run(pull, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
            fig.tracebacks += tracebacks(again.stdout, again.stderr)
            resumed = hub.ranges == [f"bytes={len(kept)}-"] if kept else True
            matches = target.is_file() and hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
            if again.returncode != 0:
                fig.unresponsive += 1
            if not matches:
                counts["not matching"] += 1
            print(f"  pull {n} cap {cap:>9,} exit {out.returncode}, part {len(kept):,} B kept; again: exit "
                  f"{again.returncode}, {'resumed' if resumed else 'fetched anew'}, "
                  f"{'file matches' if matches else 'FILE DOES NOT MATCH'}", flush=True)
    finally:
        hub.close()
    return counts


# -- damaged: damaged session files beside good ones --------------------------------------------

WRONG = [None, True, 0, -1, 2.5, 10 ** 30, "", "x", [], [None], {}, {"a": None}]
DEEP = "[" * 100_000 + "]" * 100_000


def _events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]


def _write_events(folder: Path, events: list) -> None:
    (folder / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def _change_turns(folder: Path, change) -> None:
    """``change(turn)`` on every turn of the journal and of session.json."""
    events = _events(folder)
    for event in events:
        if event.get("type") == "turn":
            change(event)
    _write_events(folder, events)
    snapshot = json.loads((folder / RECORD).read_text())
    for turn in snapshot["turns"]:
        change(turn)
    (folder / RECORD).write_text(json.dumps(snapshot))


def _learner_text_null(turn: dict) -> None:
    if turn.get("speaker") == "learner":
        turn["text"] = None


def _cut(at: float):
    """The journal cut ``at`` of the way through (a crash mid-write), no session.json."""
    def cut(folder: Path) -> None:
        data = (folder / "journal.jsonl").read_bytes()
        (folder / "journal.jsonl").write_bytes(data[:int(len(data) * at)])
        (folder / RECORD).unlink()
    return cut


def _garbage(folder: Path) -> None:
    garbage = random.Random(folder.name).randbytes(3000)
    (folder / "journal.jsonl").write_bytes(garbage)
    (folder / RECORD).write_bytes(garbage[::-1])


def _deep(folder: Path) -> None:
    lines = (folder / "journal.jsonl").read_text().splitlines(keepends=True)
    (folder / "journal.jsonl").write_text("".join(lines[:2] + [DEEP + "\n"] + lines[2:]))
    (folder / RECORD).write_text(DEEP)


def _snapshot_a_list(folder: Path) -> None:
    (folder / "journal.jsonl").unlink()
    (folder / RECORD).write_text(json.dumps(json.loads((folder / RECORD).read_text())["turns"]))


def _empty_journal(folder: Path) -> None:
    (folder / "journal.jsonl").write_bytes(b"")
    (folder / RECORD).unlink()


def _not_utf8(folder: Path) -> None:
    lines = (folder / "journal.jsonl").read_bytes().splitlines(keepends=True)
    lines[3] = lines[3][:20] + b"\xff\xfe" + lines[3][22:]  # in the second learner turn
    (folder / "journal.jsonl").write_bytes(b"".join(lines))
    (folder / RECORD).unlink()


def _header_wrong(folder: Path) -> None:
    events = _events(folder)
    events[0]["persona"], events[0]["turns"] = ["not", "a", "persona"], "x"
    _write_events(folder, events)
    snapshot = json.loads((folder / RECORD).read_text())
    snapshot["persona"], snapshot["turns"] = "Dana", {"0": None}
    (folder / RECORD).write_text(json.dumps(snapshot))


NAMED = {
    "journal cut in its header": _cut(0.3),
    "journal cut in its end": _cut(0.995),
    "text null": lambda f: _change_turns(f, _learner_text_null),
    "missing keys": lambda f: _change_turns(f, lambda t: t.pop("speaker" if t["index"] == 1 else "index", None)),
    "wrong types": lambda f: _change_turns(f, lambda t: t.update(state="calm", index=str(t.get("index")))),
    "garbage bytes": _garbage,
    "nested 100,000 deep": _deep,
    "session.json a list": _snapshot_a_list,
    "journal of 0 bytes": _empty_journal,
    "not UTF-8": _not_utf8,
    "header of wrong types": _header_wrong,
}


def _scramble(doc, rng: random.Random):
    """``doc`` with one place somewhere inside set to a wrong type or dropped."""
    doc = copy.deepcopy(doc)
    node = doc
    for _ in range(rng.randrange(5)):
        inner = [v for v in (node.values() if isinstance(node, dict) else node) if isinstance(v, (dict, list)) and v]
        if not inner:
            break
        node = rng.choice(inner)
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        if rng.random() < 0.3:
            del node[key]
        else:
            node[key] = copy.deepcopy(rng.choice(WRONG))
    elif isinstance(node, list) and node:
        node[rng.randrange(len(node))] = copy.deepcopy(rng.choice(WRONG))
    return doc


def random_damage(rng: random.Random):
    def damage(folder: Path) -> None:
        events = _events(folder)
        if rng.random() < 0.6:
            n = rng.randrange(len(events))
            events[n] = _scramble(events[n], rng)
            _write_events(folder, events)
        if rng.random() < 0.6:
            (folder / RECORD).write_text(json.dumps(_scramble(json.loads((folder / RECORD).read_text()), rng)))
    return damage


def index_variants(good_index: str) -> dict[str, bytes | None]:
    data = json.loads(good_index)
    wrong = copy.deepcopy(data)
    for row in wrong["sessions"]:
        row.update(learner_turns="many", score="x", criteria=[1], persona_name=None, started_at=5)
    return {"no index": None, "garbage": random.Random(1).randbytes(2000), "nested": DEEP.encode(),
            "a list": b"[]", "cut short": good_index.encode()[:len(good_index) // 2],
            "rows of wrong types": json.dumps(wrong).encode()}


def saved(workspace: Path, persona_id: str, n: int, lines: list[str]):
    from simulator.content.library import load_library
    from simulator.practice.scripted import save_record, scripted_record

    library = load_library(workspace)
    persona = library.persona(persona_id)
    record = scripted_record(persona, library.rubric_for(persona), lines, ["Okay, go on."], outcome="resolved")
    record.session_id = f"20261101-{9 + n // 60:02}{n % 60:02}00-{persona_id}-0001"
    return save_record(record, workspace)


def check_listing(command: str, out: subprocess.CompletedProcess, good: dict[str, int],
                  damaged: dict[str, str | None]) -> list[str]:
    """What ``command``'s output gets wrong: a good session left out or not whole, a damaged
    one left out, or an unreadable one without its reason. ``good``: folder -> learner turns;
    ``damaged``: folder -> the reader's reason (None: readable)."""
    text = out.stdout
    readable = len(good) + sum(1 for r in damaged.values() if r is None)
    problems = []
    if command == "progress":
        if not text.startswith(f"{readable} session"):
            problems.append(f"counts {text.splitlines()[:1]}, not {readable} sessions")
        return problems
    if command == "sessions --json":
        rows = {r["folder"].rsplit("/", 1)[-1]: r for r in json.loads(text)}
        for name, turns in good.items():
            if name not in rows or rows[name]["learner_turns"] != turns:
                problems.append(f"good {name}: {rows.get(name, {}).get('learner_turns', 'missing')} turns")
        for name, reason in damaged.items():
            if name not in rows or (reason and not rows[name].get("unreadable")):
                problems.append(f"damaged {name} left out, or not said unreadable")
        return problems
    if command == "export --all --format csv":
        table = list(csv.DictReader(io.StringIO(text)))
        rows = {r["session_id"]: r for r in table}  # a readable damaged session may carry any id
        for name, turns in good.items():
            if name not in rows or rows[name]["learner_turns"] != str(turns):
                problems.append(f"good {name} not whole")
        for name, reason in damaged.items():
            if reason and (name not in rows or rows[name]["status"] != "unreadable" or not rows[name]["note"]):
                problems.append(f"damaged {name} not listed as unreadable with a reason")
        if len(table) != len(good) + len(damaged):
            problems.append(f"{len(table)} rows for {len(good) + len(damaged)} sessions")
        return problems
    lines = text.splitlines()
    if command == "sessions":
        for name in good:
            if not any(line.startswith(name) and "unreadable" not in line for line in lines):
                problems.append(f"good {name} not listed")
        for name, reason in damaged.items():
            line = next((line for line in lines if line.startswith(name)), None)
            if line is None or (reason and not re.search(r"unreadable: \S", line)):
                problems.append(f"damaged {name}: {line!r}")
        return problems
    # report: the cohort counts every readable session, and names every unreadable one with its reason
    if not text.startswith(f"# Cohort report: {readable} sessions"):
        problems.append(f"counts {lines[:1]}, not {readable} sessions")
    unreadable = text.split("## Unreadable sessions", 1)[-1] if "## Unreadable sessions" in text else ""
    for name, reason in damaged.items():
        if reason and not re.search(rf"^- {re.escape(name)}: \S", unreadable, re.M):
            problems.append(f"damaged {name} not named with a reason")
    return problems


def phase_damaged(base: Path, sessions: int, rng: random.Random) -> Figures:
    fig = Figures("damaged")
    wrong_listings = reader_errors = 0
    with FakeServer(reply_fn=reply) as server:
        workspace = fake_workspace(base, server)
        folder = workspace / "sessions"
        good = {}
        for n, persona in enumerate([PERSONA, "rude-missing-parcel", PERSONA]):
            record = saved(workspace, persona, n, SCRIPT[:2 + n])
            good[record.folder.name] = 2 + n
        damages = [*NAMED.items(), *((f"random {i}", random_damage(rng)) for i in range(sessions))]
        damaged: dict[str, str | None] = {}
        kinds = {}
        for n, (kind, damage) in enumerate(damages, start=len(good)):
            record = saved(workspace, PERSONA, n, SCRIPT[:3])
            damage(record.folder)
            kinds[record.folder.name] = kind
            try:
                read_session(record.folder)
                damaged[record.folder.name] = None
            except RoleplayError as exc:
                damaged[record.folder.name] = str(exc)
            except Exception as exc:  # noqa: BLE001 - the reader itself failed: a traceback in the app
                damaged[record.folder.name] = f"{type(exc).__name__}: {exc}"
                reader_errors += 1
                print(f"  damaged {kind}: the reader raised {type(exc).__name__}: {str(exc)[:100]}")
        commands = ["sessions", "sessions --json", "progress", "export --all --format csv", f"report {folder}"]
        env = {**os.environ, "FAKE_KEY": FAKE_KEY}

        def cli(command: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "simulator", "--workspace", str(workspace),
                                   *command.split()], capture_output=True, text=True, env=env, timeout=TIMEOUT_S)

        cli("sessions")  # writes the index the variants are made from
        index = folder / ".index.json"
        good_index = index.read_text() if index.is_file() else json.dumps(
            {"version": 3, "sessions": [{"folder": name, "session_id": name, "status": "graded"} for name in good]})
        runs = 0
        for variant, content in index_variants(good_index).items():
            for command in commands:
                if content is None:
                    (folder / ".index.json").unlink(missing_ok=True)
                else:
                    (folder / ".index.json").write_bytes(content)
                out = cli(command)
                runs += 1
                fig.tracebacks += tracebacks(out.stdout, out.stderr)
                if out.returncode != 0:
                    fig.unresponsive += 1
                    print(f"  damaged [{variant}] {command}: exit {out.returncode}: {out.stderr[-300:]!r}")
                    continue
                name = "report" if command.startswith("report") else command
                problems = check_listing(name, out, good, damaged)
                lost = sum(1 for p in problems if p.startswith("good"))
                fig.lost += lost
                wrong_listings += len(problems) - lost
                for p in problems:
                    print(f"  damaged [{variant}] {name}: {p}")
        readable = sum(1 for r in damaged.values() if r is None)
        print(f"  damaged: {len(damaged)} damaged folders ({readable} still readable), e.g.")
        for name, reason in list(damaged.items())[:len(NAMED)]:
            print(f"    {kinds[name]:22} {(reason or 'readable').replace(str(folder) + '/', '')[:120]}")
        # still responding: a new session plays, and is listed
        before = set(list_session_folders(workspace))
        played = subprocess.run(run_command(workspace, write_script(workspace, SCRIPT[:2])), capture_output=True,
                                text=True, env=env, timeout=TIMEOUT_S)
        fig.tracebacks += tracebacks(played.stdout, played.stderr)
        new = new_folder(workspace, before)
        listed = cli("sessions")
        if played.returncode != 0 or new is None or not any(
                line.startswith(new.name) and "unreadable" not in line for line in listed.stdout.splitlines()):
            fig.unresponsive += 1
            print(f"  damaged: a new session did not play or is not listed: {played.stderr[-300:]!r}")
    fig.own = {"wrong listings": wrong_listings, "reader errors": reader_errors}
    fig.did = (f"{len(good)} good sessions beside {len(damaged)} damaged ({len(NAMED)} named kinds, "
               f"{sessions} random), {len(index_variants(good_index))} kinds of .index.json, {runs} commands run")
    return fig


PHASES = {"server": (phase_server, 12), "worker": (phase_worker, 6), "disk": (phase_disk, 12),
          "damaged": (phase_damaged, 12)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", default="all", choices=["all", *PHASES],
                        help="which faults to inject (default: all)")
    parser.add_argument("--sessions", type=int, metavar="N",
                        help="sessions (runs, random damages) per phase; default: "
                             + ", ".join(f"{name} {n}" for name, (_, n) in PHASES.items()))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="faults-"))
    isolate(base)
    os.environ["FAKE_KEY"] = FAKE_KEY  # for the runs, and the resumes and gradings in this process
    results = []
    for name, (phase, default) in PHASES.items():
        if args.phase in ("all", name):
            started = time.monotonic()
            fig = phase(base, args.sessions if args.sessions is not None else default, random.Random(args.seed))
            fig.did += f", {time.monotonic() - started:.0f} s"
            results.append(fig)
            print(fig.line(), flush=True)
    print()
    for fig in results:
        print(fig.line())
    bad = sum(f.bad() for f in results)
    print(f"total: sessions lost {sum(f.lost for f in results)}, turns lost {sum(f.turns_lost for f in results)}, "
          f"tracebacks {sum(f.tracebacks for f in results)}, not responding "
          f"{sum(f.unresponsive for f in results)}; {'all 0' if not bad else f'{bad} faults found'}")
    if bad:
        print(f"the sessions and logs are kept in {base}")
        return 1
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
