"""Persona conditions by meaning (issue 19): the condition probes (tests/data/condition_probes.yaml)
read by the engine's matcher (simulator/practice/conditions.py) beside the old stem rule
(two content stems shared with the condition's text).

    python benchmarks/conditions.py [--method embeddings|stems] [--sweep] [--json]

Prints, per method and split (tune / held): earned facts and behaviours found (recall) and false
ones (share of non-earning probes that were read as earning), per condition kind. Thresholds are
chosen on tune (--sweep shows the sweep); held is only reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.content.library import load_library  # noqa: E402
from simulator.core.text import stems  # noqa: E402
from simulator.practice import conditions  # noqa: E402

PROBES = ROOT / "tests" / "data" / "condition_probes.yaml"
KINDS = {"reveal_when": "reveal", "calms_when": "calms", "rises_when": "rises"}


def probes() -> tuple[list[dict], dict[str, dict[str, int]]]:
    data = yaml.safe_load(PROBES.read_text(encoding="utf-8"))
    return [p for p in data["probes"] if p["condition"] in KINDS], data.get("targets") or {}


def old_rule(persona, probe, index) -> bool:
    words = stems(probe["text"])
    if probe["condition"] == "reveal_when":
        return len(stems(persona.hidden[index].reveal_when) & words) >= 2
    return any(len(stems(t) & words) >= 2 for t in getattr(persona.frustration, probe["condition"]))


def says(matcher, probe, index, threshold: float) -> bool:
    before = list(range(index)) if index is not None else []
    reading = matcher.read(probe["text"], revealed=before)
    kind = KINDS[probe["condition"]]
    best = {(m.kind, m.index): m.score for m in reading.scores}
    if kind == "reveal":
        return best.get(("reveal", index), 0.0) >= threshold
    return best.get((kind, 0), 0.0) >= threshold


def table(rows: list[tuple[dict, bool]]) -> dict[str, dict[str, float]]:
    out = {}
    for split in ("tune", "held"):
        earn = [s for p, s in rows if p["split"] == split and p["earns"]]
        fake = [s for p, s in rows if p["split"] == split and not p["earns"]]
        out[split] = {"earned": sum(earn) / max(1, len(earn)), "false": sum(fake) / max(1, len(fake)),
                      "n_earn": len(earn), "n_not": len(fake)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--method", choices=("embeddings", "stems"))
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    library = load_library(ROOT)
    items, targets = probes()
    method = args.method or ("embeddings" if conditions.meaning.embeddings_available() else "stems")
    matchers, started = {}, time.perf_counter()
    rows_old, scored = [], []
    for p in items:
        persona = library.personas[p["persona"]]
        index = targets[p["persona"]][p["target"]] if p["condition"] == "reveal_when" else None
        if p["persona"] not in matchers:
            matchers[p["persona"]] = conditions.Matcher(persona, ROOT, method=method)
        m = matchers[p["persona"]]
        before = list(range(index)) if index is not None else []
        reading = m.read(p["text"], revealed=before)
        best = {(x.kind, x.index): x.score for x in reading.scores}
        kind = KINDS[p["condition"]]
        scored.append((p, best.get((kind, index if kind == "reveal" else 0), 0.0)))
        rows_old.append((p, old_rule(persona, p, index)))
    cost = (time.perf_counter() - started) / max(1, len(items))
    tune = [(s, p["earns"]) for p, s in scored if p["split"] == "tune"]

    def youden(t: float) -> float:
        pos = [s >= t for s, e in tune if e]
        neg = [s >= t for s, e in tune if not e]
        return sum(pos) / max(1, len(pos)) - 2 * sum(neg) / max(1, len(neg))  # a false reveal costs double

    grid = [round(0.05 * i, 2) for i in range(1, 20)]
    if args.sweep:
        for t in grid:
            print(f"  threshold {t:.2f}: tune score {youden(t):+.3f}")
    chosen = max(grid, key=youden)
    results = {"old stem rule": table(rows_old),
               f"{method} @ {conditions.THRESHOLD:.2f} (shipped)": table([(p, s >= conditions.THRESHOLD) for p, s in scored]),
               f"{method} @ {chosen:.2f} (best on tune)": table([(p, s >= chosen) for p, s in scored])}
    by_kind = {}
    for kind in KINDS:
        sub = [(p, s >= conditions.THRESHOLD) for p, s in scored if p["condition"] == kind]
        by_kind[kind] = table(sub)
    if args.json:
        print(json.dumps({"method": method, "results": results, "by_kind": by_kind, "seconds_per_probe": cost}, indent=1))
        return 0
    print(f"Condition probes: {len(items)} over {len(matchers)} personas; read by {method}; "
          f"{cost * 1000:.0f} ms per probe (first reads include building each persona's matcher)")
    print(f"{'method':38}{'split':>6}{'earned':>14}{'false':>14}")
    for name, res in results.items():
        for split, r in res.items():
            print(f"{name:38}{split:>6}{r['earned']:>8.0%} of {r['n_earn']:<3}{r['false']:>8.0%} of {r['n_not']:<3}")
    print("\nshipped threshold, by condition:")
    for kind, res in by_kind.items():
        for split, r in res.items():
            print(f"  {kind:14}{split:>6}{r['earned']:>8.0%} of {r['n_earn']:<3}{r['false']:>8.0%} of {r['n_not']:<3}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
