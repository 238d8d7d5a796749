"""Fault injection: headless sessions killed at random moments, against a model server
that fails at random, then resumed and graded.

    python benchmarks/faults.py [--sessions 50] [--seed 7]

Each session is ``roleplay run`` in its own process, pointed at the fake OpenAI-compatible
server (``tests/fakeserver.py``), which answers every chat request with a random fault
(500, 429 with Retry-After, a stream dropped mid-way, a malformed body) or a slow or
normal reply. Most processes get SIGKILL at a random moment. Then each session is read
back, resumed in-process (the unanswered message sent again), ended and graded through
the same faulty server. Reported (goal for each: 0):

* sessions lost: a session folder that cannot be read back;
* turns lost: exchanges the process had printed as finished that the journal lacks
  (the reply being streamed at the kill may be lost, nothing before it);
* state mismatches: ``session.json`` and the journal disagree (turns or outcome);
* orphaned calls: requests that reached the server after an evaluation had returned.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fakeserver import FakeServer, drop_mid_stream, malformed, ok, slow, status  # noqa: E402

from simulator.core.locations import seed_workspace  # noqa: E402
from simulator.practice.sessions import RECORD, list_session_folders, read_session  # noqa: E402

JUDGE = json.dumps({"score": 4, "reason": "Named the problem.", "evidence": [], "improvement": "Ask earlier.",
                    "strengths": ["Calm"], "changes": ["Summarise"], "better_replies": []})
DIRECTOR = json.dumps({"frustration_change": 0, "reveal": [], "outcome": "continue", "why": "steady"})
SCRIPT = ["Hi, I'm sorry about the bill. What happened?", "Can you tell me when it went up?",
          "I can see why that is frustrating.", "Here is what I can do: I'll credit the difference today.",
          "Is there anything else I can help with?"]
PERSONA = "overcharged-loyal-customer"


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


async def resume_and_grade(folder: Path, workspace: Path, server: FakeServer) -> tuple[str, int]:
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
        if conversation.pending_text:
            try:
                await conversation.send(conversation.pending_text)
            except Exception:  # noqa: BLE001 - a fault that outlasts the retries: the text is handed back
                pass
        conversation.end("ended_by_learner", "resumed by the fault benchmark")
        record = conversation.record
    rubric = load_library(workspace).rubric_for(record.persona_snapshot())
    outcome = await evaluate(record, rubric, Gateway(settings.evaluator, **fast))
    seen = len(server.requests)
    await asyncio.sleep(0.5)  # anything still running would reach the server now
    return ("graded" if outcome.evaluation else "pending"), len(server.requests) - seen


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workspace = Path(tempfile.mkdtemp(prefix="faults-"))
    seed_workspace(workspace)
    lost = turns_lost = mismatches = orphans = killed = 0
    results: dict[str, int] = {}
    with FakeServer(reply_fn=reply) as server:
        server.enqueue(*[random_behaviour(rng) for _ in range(20000)])
        (workspace / "roleplay.yaml").write_text(
            f"persona:\n  model: openai/fake\n  api_base: {server.base_url}\n  api_key_env: FAKE_KEY\n"
            f"evaluator:\n  model: openai/fake\n  api_base: {server.base_url}\n  api_key_env: FAKE_KEY\n")
        os.environ["FAKE_KEY"] = "sk-fault-bench-000000000000"  # for the resumes and gradings in this process
        env = dict(os.environ)
        script = workspace / "script.txt"
        script.write_text("\n\n".join(SCRIPT) + "\n")
        for n in range(args.sessions):
            before = set(list_session_folders(workspace))
            proc = subprocess.Popen([sys.executable, "-m", "simulator", "run", "--workspace", str(workspace),
                                     "--persona", PERSONA, "--script", str(script)],
                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            kill_at = rng.uniform(2.0, 10.0) if rng.random() < 0.8 else None
            try:
                stdout, _ = proc.communicate(timeout=kill_at)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                stdout, _ = proc.communicate()
                killed += 1
            finished = proc.returncode == 0 and "saved in" in stdout
            folders = [f for f in list_session_folders(workspace) if f not in before]
            if not folders:
                continue  # killed before the session began: nothing to lose
            folder = folders[0]
            try:
                record = read_session(folder)
            except Exception as exc:  # noqa: BLE001
                lost += 1
                print(f"{n:3} LOST {folder.name}: {exc}")
                continue
            missing = max(0, printed_exchanges(stdout, finished) - answered(record))
            turns_lost += missing
            if problem := mismatch(folder):
                mismatches += 1
                print(f"{n:3} MISMATCH {folder.name}: {problem}")
            grade, late = asyncio.run(resume_and_grade(folder, workspace, server))
            orphans += late
            results[grade] = results.get(grade, 0) + 1
            print(f"{n:3} {'killed' if kill_at and not finished else 'ran   '} answered {answered(record)} "
                  f"lost {missing} {grade}{f' orphans {late}' if late else ''}")
    print(f"\n{args.sessions} sessions, {killed} killed; requests served {len(server.requests)}; "
          f"evaluations {results}")
    print(f"sessions lost {lost}; turns lost {turns_lost}; state mismatches {mismatches}; orphaned calls {orphans}")
    return 0 if not (lost or turns_lost or mismatches or orphans) else 1


if __name__ == "__main__":
    raise SystemExit(main())
