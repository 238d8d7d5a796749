"""Grading from evidence: its speed, and how it orders the labelled set.

    python benchmarks/grading.py [--runs 50]

* Speed: a 20-turn session (the labelled set's good and poor sessions, four times over)
  graded from evidence — measured figures, every criterion's score with its rule and
  quotes, the weakest turns — as the app does it when the evaluator is the built-in
  model. Goal: ≤ 100 ms (median and worst of ``--runs``).
* Validity: ``tests/data/grading_labelled.yaml``. Per criterion, the strong and the weak
  script's score on it (goal: strong ahead by 1 or more); the whole good, mediocre and poor
  sessions' overall scores (goal: in that order; good passes, poor fails); the session
  that talks to the grader (goal: does not pass).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.content.library import load_library  # noqa: E402
from simulator.core import locations  # noqa: E402
from simulator.grading.evaluator import evaluate  # noqa: E402
from simulator.practice.scripted import scripted_record  # noqa: E402

DATA = yaml.safe_load((REPO / "tests" / "data" / "grading_labelled.yaml").read_text())


class EvidenceOnly:
    """The evaluator as the app sees the built-in model: not asked to judge."""

    model = "local/smollm2-135m"

    @property
    def capabilities(self):
        from simulator.models.config import SMALL

        return SMALL


async def grade(record, rubric):
    return (await evaluate(record, rubric, EvidenceOnly(), save=False)).evaluation


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp()) / "ws"
    locations.seed_workspace(workspace)
    library = load_library(workspace)
    persona = library.persona(DATA["persona"])
    rubric = library.rubric_for(persona)
    sessions = DATA["sessions"]

    lines = (sessions["good"]["lines"] + sessions["poor"]["lines"]) * 2
    record = scripted_record(persona, rubric, lines, DATA["customer"], frustration=[6, 5, 4, 3, 2, 7, 8, 9, 9, 9] * 2)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        asyncio.run(grade(record, rubric))
        times.append((time.perf_counter() - start) * 1000)
    print(f"20-turn session graded from evidence: median {statistics.median(times):.1f} ms, "
          f"max {max(times):.1f} ms over {args.runs} runs (goal ≤ 100 ms)")

    ordered = 0
    print("\nstrong vs weak, on its criterion:")
    for pair in DATA["pairs"]:
        scores = []
        for side in ("strong", "weak"):
            script = list(DATA["baseline"])
            for number, line in (pair.get(side) or {}).items():
                script[int(number) - 1] = line
            state = {key: pair[f"{side}_{key}"] for key in ("outcome", "revealed", "response_times", "frustration")
                     if f"{side}_{key}" in pair}
            evaluation = asyncio.run(grade(scripted_record(persona, rubric, script, DATA["customer"], **state), rubric))
            scores.append(next(c.score for c in evaluation.criteria if c.id == pair["criterion"]))
        ok = scores[0] - scores[1] >= 1
        ordered += ok
        print(f"  {pair['criterion']:<20} strong {scores[0]}  weak {scores[1]}  {'ok' if ok else 'WRONG ORDER'}")
    print(f"  {ordered}/{len(DATA['pairs'])} pairs ordered correctly")

    print("\nwhole sessions:")
    for name, session in sessions.items():
        evaluation = asyncio.run(grade(scripted_record(
            persona, rubric, session["lines"], DATA["customer"], frustration=session.get("frustration"),
            revealed=session.get("revealed"), outcome=session.get("outcome", "ended_by_learner"),
            response_times=session.get("response_times")), rubric))
        overall = evaluation.overall
        weak = ", ".join(str(w.turn) for w in evaluation.weakest_turns) or "none"
        print(f"  {name:<20} {overall.score:.2f}  {'PASS' if overall.passed else 'NOT YET'}  "
              f"weakest turns: {weak}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
