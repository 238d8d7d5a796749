"""Learning records at scale: 1,000 graded sessions queued offline, then synced to a local
Ralph LRS (tests/lrs_server.py: its own venv, file-system backend, Basic auth).

Run: python benchmarks/lrs_sync.py [--sessions 1000]

Ralph runs with ``single_file=True`` (tests/lrs_server.py): its fs backend appending to one file.
Started as the README says (a file per POST), Ralph itself slows down past some hundred POSTs
(it rewrites its history file on every read), which would measure Ralph, not roleplay.

Two runs, each on a fresh Ralph and a fresh workspace of ``--sessions`` graded sessions (one
graded session copied under new ids):
  A. ``roleplay sync --queue-only`` (timed), then ``roleplay sync`` (timed): the time to sync;
  B. ``roleplay sync`` killed with SIGKILL once some batches are marked sent, then
     ``roleplay sync`` again: every statement stored once (read back: count and distinct ids).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from lrs_server import RalphServer  # noqa: E402


def roleplay(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True, env=env)
    return time.perf_counter() - started, done


def desk(root: Path, ralph: RalphServer, sessions: int) -> tuple[dict[str, str], int]:
    """A workspace of ``sessions`` graded sessions configured for ``ralph``; its environment and
    the statements per session."""
    env = {**os.environ, "ROLEPLAY_CONFIG_DIR": str(root / "config"), "ROLEPLAY_DATA_DIR": str(root / "data"),
           "ROLEPLAY_WORKSPACE": str(root / "ws"), "ROLEPLAY_LRS_PASSWORD": ralph.password, "ROLEPLAY_LEARNER": ""}
    os.environ.update({k: env[k] for k in ("ROLEPLAY_CONFIG_DIR", "ROLEPLAY_DATA_DIR")})
    from fakes import ScriptedModel
    from test_records import copy_sessions

    from simulator.content.library import load_library
    from simulator.core import locations
    from simulator.grading.evaluator import evaluate
    from simulator.models.config import SMALL
    from simulator.practice.scripted import save_record, scripted_record

    workspace = root / "ws"
    locations.seed_workspace(workspace)
    (workspace / "roleplay.yaml").write_text(
        f"version: 1\nlrs:\n  endpoint: {ralph.endpoint}\n  username: {ralph.username}\n"
        "  password_env: ROLEPLAY_LRS_PASSWORD\n", encoding="utf-8")
    library = load_library(workspace)
    persona = library.persona("overcharged-loyal-customer")
    record = scripted_record(persona, library.rubric_for(persona),
                             ["I'm sorry about the bill. When did it go up?", "I'll credit it today."],
                             ["In March.", "Okay, thanks."], outcome="resolved")
    record.session_id = "20261201-000000-template-0000"
    record.learner = "bench"
    save_record(record, workspace)
    asyncio.run(evaluate(record, record.rubric_snapshot(), ScriptedModel(capabilities=SMALL)))
    copy_sessions(workspace, record, sessions - 1)
    return env, 3 + sum(1 for c in record.latest_evaluation().criteria if c.observed)


def sync_and_count(env: dict[str, str], ralph: RalphServer, expected: int) -> tuple[float, str, int]:
    """``roleplay sync``: its time and summary line; every statement read back, each once."""
    took, done = roleplay(env, "sync")
    assert done.returncode == 0, done.stderr
    every = ralph.statements()
    count, distinct = len(every), len({s["id"] for s in every})
    assert count == distinct == expected, (count, distinct, expected)
    return took, done.stdout.strip(), count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roleplay-lrs-bench-") as tmp:
        root = Path(tmp)
        with RalphServer(root / "ralph-a", single_file=True) as ralph:
            env, per = desk(root / "a", ralph, args.sessions)
            expected = args.sessions * per
            queue_s, queued = roleplay(env, "sync", "--queue-only")
            assert queued.returncode == 0, queued.stderr
            sync_s, said, count = sync_and_count(env, ralph, expected)
            print(f"A. {args.sessions:,} sessions, {expected:,} statements: queued in {queue_s:.1f} s "
                  f"({queued.stdout.strip()}); synced in {sync_s:.1f} s ({said}); read back {count:,}, each once")
        with RalphServer(root / "ralph-b", single_file=True) as ralph:
            env, per = desk(root / "b", ralph, args.sessions)
            journal = root / "b" / "ws" / "outbox" / "journal.jsonl"
            proc = subprocess.Popen([sys.executable, "-m", "simulator", "sync"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            batches = -(-args.sessions * per // 100)  # the sender posts 100 statements at a time
            while proc.poll() is None:
                if journal.is_file() and journal.read_bytes().count(b'"type":"sent"') >= max(1, batches // 3):
                    break
                time.sleep(0.005)
            if proc.poll() is not None:
                raise SystemExit("the sync ended before it could be killed: try more --sessions")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            sent_before = journal.read_bytes().count(b'"type":"sent"')
            count_killed = ralph.count()
            again_s, said, count = sync_and_count(env, ralph, expected)
            print(f"B. sync killed (SIGKILL) after {sent_before} batches marked sent, {count_killed:,} statements "
                  f"stored; the next sync took {again_s:.1f} s ({said}); read back {count:,} of {expected:,}, "
                  "each once")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
