"""The history list with many sessions: time and memory.

    python benchmarks/history.py [--sessions 10000]

Creates a workspace with ``--sessions`` saved sessions (13 personas, graded from evidence,
each a copy of a real scripted session under its own id), then measures:

* cold: listing with no index (every session file read once, the index written);
* warm: listing again (the index read, each folder's two files looked at);
* one changed: a session graded again, then listed (only that one re-read);
* memory: peak Python allocations during a warm listing (tracemalloc), and the process's RSS;
* ``roleplay sessions`` and ``roleplay sessions --json`` as a new process, warm (what a user waits
  for at the prompt).

Goal: the list appears in under a second with 10,000 sessions, memory modest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.content.library import load_library  # noqa: E402
from simulator.core import locations  # noqa: E402
from simulator.grading.evaluator import evaluate  # noqa: E402
from simulator.models.config import SMALL  # noqa: E402
from simulator.practice.scripted import save_record, scripted_record  # noqa: E402
from simulator.practice.sessions import read_session  # noqa: E402
from simulator.review.index import INDEX, session_index  # noqa: E402

LINES = ["I'm sorry, that sounds really frustrating. What happened?",
         "So it stopped working after the last visit?",
         "Here's what I can do: I'll book a technician for tomorrow, or send a replacement. Which would you prefer?",
         "I'll also set a reminder so this doesn't happen again. Does that make sense?"]


class EvidenceOnly:
    model = "local/smollm2-135m"
    capabilities = SMALL


def make_workspace(count: int) -> Path:
    workspace = Path(tempfile.mkdtemp()) / "ws"
    locations.seed_workspace(workspace)
    library = load_library(workspace)
    templates = []
    for persona in library.personas.values():
        record = scripted_record(persona, library.rubric_for(persona), LINES, ["I see.", "Okay."], outcome="resolved")
        record.session_id = f"template-{persona.id}"
        save_record(record, workspace)
        asyncio.run(evaluate(record, library.rubric_for(persona), EvidenceOnly()))
        templates.append(record.folder)
    sessions = workspace / "sessions"
    for n in range(count):
        source = templates[n % len(templates)]
        new_id = f"2026{1 + n // 28000 % 12:02d}{1 + n // 1000 % 28:02d}-{n % 1000:06d}-{source.name[9:]}-{n:04x}"
        target = sessions / new_id
        target.mkdir()
        for name in ("journal.jsonl", "session.json"):
            (target / name).write_text((source / name).read_text().replace(source.name, new_id))
    for folder in templates:
        shutil.rmtree(folder)
    return workspace


def timed(fn, runs: int = 5) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10000)
    args = parser.parse_args()
    start = time.perf_counter()
    workspace = make_workspace(args.sessions)
    print(f"{args.sessions} sessions written in {time.perf_counter() - start:.1f} s")

    cold, rows = timed(lambda: (os.path.exists(p := workspace / "sessions" / INDEX) and p.unlink(),
                                session_index(workspace))[1], runs=1)
    print(f"cold (no index, every session read):  {cold:.2f} s for {len(rows)} rows")
    warm, rows = timed(lambda: session_index(workspace))
    print(f"warm (index read, folders looked at):  {warm * 1000:.0f} ms (median of 5)")
    one = rows[len(rows) // 2]
    record = read_session(workspace / "sessions" / one.folder)
    asyncio.run(evaluate(record, record.rubric_snapshot(), EvidenceOnly()))
    changed, _ = timed(lambda: session_index(workspace), runs=1)
    print(f"one session graded again, then listed: {changed * 1000:.0f} ms")
    tracemalloc.start()
    session_index(workspace)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"memory: peak {peak / 2**20:.1f} MiB allocated while listing; process RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; index file "
          f"{(workspace / 'sessions' / INDEX).stat().st_size / 2**20:.1f} MiB")
    env = {**os.environ, "ROLEPLAY_WORKSPACE": str(workspace)}
    cli = []
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "simulator", "sessions"], env=env, capture_output=True, text=True)
        cli.append(time.perf_counter() - start)
    print(f"`roleplay sessions` (new process, warm): {statistics.median(cli):.2f} s, "
          f"{out.stdout.count(chr(10))} lines")
    as_json = []
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "simulator", "sessions", "--json"], env=env, capture_output=True,
                             text=True)
        as_json.append(time.perf_counter() - start)
    print(f"`roleplay sessions --json` (new process, warm): {statistics.median(as_json):.2f} s, "
          f"{len(json.loads(out.stdout))} sessions (goal < 0.6 s with 10,000)")
    shutil.rmtree(workspace.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
