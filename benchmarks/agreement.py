"""Agreement with a trainer: the grade from evidence against whole sessions a trainer rated (issue 19).

    python benchmarks/agreement.py [--method auto|embeddings|stems] [--sessions] [--json]

``tests/data/rated_sessions.yaml`` holds whole scripted sessions with the bundled personas, each
rated 1-5 per criterion of the core rubric by reading it against the rubric's levels, with an
overall 1-5 and pass / not yet. For every session this builds the finished
:class:`~simulator.practice.sessions.SessionRecord` the app would hold (the persona's opening,
each learner line with its response time, each customer reply with the frustration after it,
the hidden facts revealed at the learner turn that earned them, the outcome on the last reply:
:func:`simulator.practice.scripted.scripted_record`), reads every learner turn once with the
meaning layer and keeps the reading on the turn (``Turn.acts``, ``Turn.read_by``) as the app does
when a message is sent, then grades it as the app does when the evaluator is the built-in model
(``benchmarks/grading.py``'s ``grade``: evidence only, no judge).

Printed, for the ``tune`` and the ``held`` sessions apart:

* Spearman's rho (ties get their average rank) between the trainer's rating and the evidence
  score, per criterion over the sessions where the trainer saw evidence of it (a criterion in
  the session's ``not_observed`` is left out; ``n`` says how many remain), and their mean over
  the criteria. Goal: mean >= 0.7.
* The same for the overall score (the trainer's 1-5 against the grade's weighted mean). Goal: >= 0.8.
* How often the verdicts agree (pass / not yet), and the mean with not-observed criteria
  counted at the trainer's 3.

How the learner turns were read is printed too: ``embeddings`` (the built-in model, when
llama-cpp-python, numpy and the model are installed; the lines' vectors are cached in the data
folder's ``cache/embeddings-bench``, as ``benchmarks/meaning.py`` does), or ``stems`` (the
fallback, or ``--method stems``); if embedding fails the turns are read by stems, and counted so.
The commit measured is printed with any uncommitted change under ``simulator/``, since the
grader may be changing while this runs.

The held sessions are only ever scored in aggregate: ``--sessions`` lists the tune sessions one
by one (trainer against grade, per criterion), never the held ones. Do not tune on held.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.grading import grade  # noqa: E402
from simulator.content.library import load_library  # noqa: E402
from simulator.core import locations  # noqa: E402
from simulator.core.errors import ModelError  # noqa: E402
from simulator.practice import meaning  # noqa: E402
from simulator.practice.scripted import scripted_record  # noqa: E402

RATED = REPO / "tests" / "data" / "rated_sessions.yaml"
SPLITS = ("tune", "held")
GOAL_CRITERIA, GOAL_OVERALL = 0.7, 0.8
DEFAULT_SECONDS = 15.0  # a learner turn without `seconds` (scripted_record's default too)


# -- Spearman with ties ---------------------------------------------------------------------------

def ranks(values: list[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rho: Pearson's r of the ranks. NaN when either side does not vary (or n < 3)."""
    if len(x) != len(y) or len(x) < 3:
        return math.nan
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else math.nan


def mean_of(values: list[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return statistics.fmean(real) if real else math.nan


# -- sessions as the app holds them ---------------------------------------------------------------

def record_for(session: dict[str, Any], library: Any) -> tuple[Any, Any]:
    """The finished record of one rated session, and the rubric it is graded on."""
    persona = library.persona(session["persona"])
    rubric = library.rubric_for(persona)
    learner = [t for t in session["turns"] if t["speaker"] == "learner"]
    customer = [t for t in session["turns"] if t["speaker"] == "customer"]
    frustration, level = [], persona.frustration.start
    for turn in customer:
        level = turn.get("frustration", level)
        frustration.append(level)
    record = scripted_record(persona, rubric, [t["text"] for t in learner], [t["text"] for t in customer],
                             frustration=frustration, revealed=session.get("revealed") or {},
                             outcome=session["outcome"],
                             response_times=[float(t.get("seconds", DEFAULT_SECONDS)) for t in learner])
    return record, rubric


class Readings:
    """Reads every learner turn once, by the method asked for, and keeps the reading on the turn.

    Embeddings of the rated lines are cached apart from the app's (``benchmarks/meaning.py``'s
    ``embedding_rows``: the data folder's ``cache/embeddings-bench``), so a second run costs only
    the grading; a batch whose embedding fails is read by stems and counted as such."""

    def __init__(self, workspace: Path, method: str):
        self.used: Counter[str] = Counter()
        self.failures: list[str] = []
        self.seconds = 0.0
        self.reader: Any = None
        if method != "stems" and (method == "embeddings" or meaning.embeddings_available()):
            try:
                self.reader = meaning.reader(workspace, method="embeddings")
            except (ModelError, RuntimeError, OSError) as exc:  # the runtime is missing or failed to start
                if method == "embeddings":
                    raise SystemExit(f"agreement.py: embeddings asked for but unavailable: {exc}") from None
                self.failures.append(f"embedding reader: {exc}")
        self.stems = meaning.reader(workspace, method="stems")

    def keep(self, records: list[Any]) -> None:
        turns = [t for r in records for t in r.turns if t.speaker == "learner"]
        texts = [t.text for t in turns]
        started = time.perf_counter()
        readings: list[Any] = []
        if self.reader is not None:
            from benchmarks.meaning import embedding_rows

            try:
                rows, _ = embedding_rows(self.reader, texts)
                readings = [meaning._reading(text, self.reader.acts, [float(v) for v in row], self.reader.threshold,
                                             "embeddings") for text, row in zip(texts, rows)]
            except (ModelError, RuntimeError, OSError) as exc:
                self.failures.append(str(exc))
        readings = readings or [self.stems.read(text) for text in texts]
        self.seconds = time.perf_counter() - started
        for turn, reading in zip(turns, readings):
            turn.acts, turn.read_by = list(reading.acts), reading.method
            self.used[reading.method] += 1

    def describe(self) -> str:
        total = sum(self.used.values())
        parts = ", ".join(f"{method} {n}/{total}" for method, n in self.used.most_common())
        model = ""
        if self.used.get("embeddings"):
            from simulator.models.local_models import BUILTIN_NAME

            model = f" (embeddings from the built-in {BUILTIN_NAME}, blended with stems as the app reads)"
        return f"learner turns read by: {parts}{model}; reading took {self.seconds:.1f} s"


def commit_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "simulator", "rubrics").splitlines() if line]
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted": dirty}


# -- the measurement ------------------------------------------------------------------------------

def measure(method: str) -> dict[str, Any]:
    state = commit_state()  # the code is imported by now: what is measured, even if the tree moves on
    workspace = Path(tempfile.mkdtemp()) / "ws"
    locations.seed_workspace(workspace)
    library = load_library(workspace)
    file = yaml.safe_load(RATED.read_text(encoding="utf-8"))
    sessions = file["sessions"]
    readings = Readings(workspace, method)
    criteria = list(library.rubric().criterion_ids)

    built = [record_for(session, library) for session in sessions]
    readings.keep([record for record, _ in built])
    graded: list[dict[str, Any]] = []
    started = time.perf_counter()
    for session, (record, rubric) in zip(sessions, built):
        evaluation = asyncio.run(grade(record, rubric))
        graded.append({
            "id": session["id"], "split": session["split"], "persona": session["persona"],
            "not_observed": list(session.get("not_observed") or []),
            "trainer": dict(session["rating"]), "trainer_overall": session["overall"]["score"],
            "trainer_passed": session["overall"]["verdict"] == "pass",
            "grade": {c.id: c.score for c in evaluation.criteria},
            "grade_overall": evaluation.overall.score, "grade_passed": evaluation.overall.passed,
        })
    elapsed = time.perf_counter() - started

    result: dict[str, Any] = {
        **state, "method": readings.describe(), "read_by": dict(readings.used),
        "read_failures": readings.failures[:5], "seed": file.get("seed"), "seconds": round(elapsed, 1),
        "sessions": {s: sum(g["split"] == s for g in graded) for s in SPLITS},
        "personas": len({g["persona"] for g in graded}), "criteria": {}, "splits": {},
    }
    for split in SPLITS:
        rows = [g for g in graded if g["split"] == split]
        per: dict[str, dict[str, Any]] = {}
        for c in criteria:
            seen = [g for g in rows if c not in g["not_observed"]]
            per[c] = {
                "rho": spearman([g["trainer"][c] for g in seen], [g["grade"][c] for g in seen]), "n": len(seen),
                "rho_all": spearman([g["trainer"][c] for g in rows], [g["grade"][c] for g in rows]),
            }
        result["criteria"][split] = per
        result["splits"][split] = {
            "mean": mean_of([p["rho"] for p in per.values()]),
            "mean_all": mean_of([p["rho_all"] for p in per.values()]),
            "overall": spearman([g["trainer_overall"] for g in rows], [g["grade_overall"] for g in rows]),
            "verdicts_agree": sum(g["trainer_passed"] == g["grade_passed"] for g in rows), "n": len(rows),
            "trainer_passes": sum(g["trainer_passed"] for g in rows),
            "grade_passes": sum(g["grade_passed"] for g in rows),
        }
    result["tune_sessions"] = [g for g in graded if g["split"] == "tune"]
    return result


def cell(rho: float, n: int | None = None) -> str:
    text = "  n/a" if math.isnan(rho) else f"{rho:5.2f}"
    return f"{text} ({n:>2})" if n is not None else text


def report(result: dict[str, Any], sessions: bool) -> None:
    dirty = result["uncommitted"]
    print(f"Agreement with a trainer: {sum(result['sessions'].values())} rated sessions over {result['personas']} "
          f"personas (tune {result['sessions']['tune']}, held {result['sessions']['held']}; "
          f"held drawn with seed {result['seed']})")
    code = sorted(dirty, key=lambda path: (not path.startswith("simulator/"), path))
    print(f"commit {result['commit'][:12]}" + (f", with {len(dirty)} uncommitted change(s) under simulator/ and "
                                                f"rubrics/, measured as they are: {', '.join(code[:6])}"
                                                + (" …" if len(code) > 6 else "") if dirty else ", clean"))
    print(result["method"])
    if result["read_failures"]:
        print("  read by stems after a failure: " + "; ".join(result["read_failures"]))
    print(f"graded from evidence in {result['seconds']} s\n")
    print("Spearman's rho, trainer against the evidence grade (n: sessions where the trainer saw evidence)")
    print(f"{'criterion':22}{'tune':>12}{'held':>12}")
    for c in result["criteria"]["tune"]:
        print(f"{c:22}" + "".join(f"{cell(result['criteria'][s][c]['rho'], result['criteria'][s][c]['n']):>12}"
                                  for s in SPLITS))
    splits = result["splits"]
    print(f"{'MEAN over criteria':22}" + "".join(f"{cell(splits[s]['mean']):>12}" for s in SPLITS)
          + f"   goal >= {GOAL_CRITERIA}")
    print(f"{'OVERALL':22}" + "".join(f"{cell(splits[s]['overall'], splits[s]['n']):>12}" for s in SPLITS)
          + f"   goal >= {GOAL_OVERALL}")
    print(f"{'verdicts agree':22}" + "".join(f"{splits[s]['verdicts_agree']:>7}/{splits[s]['n']:<4}" for s in SPLITS)
          + "   (trainer passes " + ", ".join(f"{s} {splits[s]['trainer_passes']}" for s in SPLITS)
          + "; grade passes " + ", ".join(f"{s} {splits[s]['grade_passes']}" for s in SPLITS) + ")")
    print(f"{'mean, not-observed as 3':22}" + "".join(f"{cell(splits[s]['mean_all']):>12}" for s in SPLITS))
    if sessions:
        print("\ntune sessions, trainer/grade per criterion (held sessions are never listed):")
        names = list(result["criteria"]["tune"])
        print(f"{'session':36}" + "".join(f"{c[:6]:>7}" for c in names) + f"{'overall':>12}")
        for g in result["tune_sessions"]:
            marks = "".join(f"{g['trainer'][c]}/{g['grade'][c]}{'*' if c in g['not_observed'] else ' '}".rjust(7)
                            for c in names)
            print(f"{g['id'][:36]:36}{marks}{g['trainer_overall']:>5}/{g['grade_overall']:<6.2f}")
        print("(* not observed by the trainer)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("auto", "embeddings", "stems"), default="auto",
                        help="how learner turns are read: auto = embeddings when the built-in model is installed")
    parser.add_argument("--sessions", action="store_true", help="list the tune sessions one by one")
    parser.add_argument("--json", action="store_true", help="machine-readable output (held sessions in aggregate only)")
    args = parser.parse_args()
    result = measure(args.method)
    if args.json:
        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return None if math.isnan(value) else round(value, 4)
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        print(json.dumps(clean(result), indent=2))
    else:
        report(result, args.sessions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
