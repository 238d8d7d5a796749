"""The meaning layer, first slice: what a learner's message *does*, read by meaning.

:func:`read_message` reads one message into a :class:`Reading`: the acts it does (the
ids of ``rubrics/acts/*.yaml``, see :mod:`simulator.content.acts`) with a score each, and
how it was read.

* ``"embeddings"``: the built-in model (SmolLM2-135M, in its worker process) turns each
  sentence of the message into a mean-pooled vector; one ridge classifier per act, learned
  from the act files' own example lines (positives against the act's near misses and the
  other acts' lines; a companion act's line counts as a soft no, see :data:`COMPANIONS`),
  scores it, blended with the terms classifiers (:class:`TermsModel`: ridge on TF-IDF of
  word stems, stem pairs and letter n-grams, learned from the same lines; :data:`BLEND`).
  A message does an act when one of its sentences scores above :data:`THRESHOLD`. The act files' example vectors are cached
  on disk in the user data folder, keyed by the model file and the text, so they are
  computed once; the last messages read are kept in memory.
* A sentence that is one of the act files' own lines is read as the file says (a trainer
  corrects a misreading by adding the line as a positive or a negative).
* ``"stems"``, the fallback when the built-in runtime is not installed (the app works
  without the ``[local]`` extra) or fails: the terms classifiers alone, or without numpy
  the nearest example lines by word stems (pure Python). It is marked as such in every
  reading it makes.

The thresholds, penalties, blend, companions and companion target were chosen on the
labelled set's ``tune`` lines only (``benchmarks/meaning.py``); its ``held`` lines measure
them. Per-act thresholds were tried (two-fold on tune) and gained nothing beyond noise.

Computing a reading takes tens to hundreds of milliseconds on the built-in model: call it
from a worker thread, never the UI loop. (Later: read the draft while the learner types, at
the pauses that prime the draft today, so only the last words cost anything after Enter.)
Nothing here imports llama_cpp, numpy or litellm until a message is read.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence

from ..content.acts import Act, load_acts
from ..core import locations
from ..core.text import split_sentences

if TYPE_CHECKING:
    from .sessions import Turn

Method = Literal["embeddings", "stems"]

# chosen on the tune split (benchmarks/meaning.py); never on held
THRESHOLD = 0.175  # an act's score (0 no … 1 yes) above which a sentence does it
RIDGE = 0.3  # the ridge penalty of the embeddings' classifiers
TERMS_RIDGE = 1.0  # the ridge penalty of the terms classifiers
BLEND = 0.2  # the embeddings' share of an act's score; the rest is the terms classifiers'
COMPANION_TARGET = 0.3  # what another act's line teaches about a companion act (0 = "does not")
STEMS_K = 8  # nearest examples the stems fallback votes with (without numpy)
STEMS_THRESHOLD = 0.2  # the stems fallback's threshold
MESSAGE_CACHE = 256  # messages whose vectors are kept in memory
EMBED_BATCH = 16  # lines per embed request: a slow machine never looks like a stuck worker

# Acts one sentence often does together (the act files say so: an apology for bad news also
# names it, a policy quoted is usually a refusal, an offer is often made as a commitment...;
# on the tune lines each pair co-occurs in a quarter or more of the messages doing one of
# them). A positive line of one act is not taught as a plain "no" for its companion: its
# target there is COMPANION_TARGET, so "I'm so sorry about your father" (name-cause) does
# not teach the apology reader that it is no apology.
COMPANIONS = frozenset(frozenset(pair) for pair in (
    ("summarise", "check-understanding"), ("apologise", "name-cause"), ("own-mistake", "name-cause"),
    ("quote-policy", "refuse"), ("commit", "offer-fix"), ("set-expectation", "offer-fix"),
    ("acknowledge-feeling", "name-cause"), ("set-expectation", "commit"), ("apologise", "acknowledge-feeling"),
    ("explain-why", "name-cause"), ("blame", "brush-off"), ("refuse", "brush-off"),
    ("open-question", "specific-question"),
))


@dataclass(frozen=True)
class Reading:
    """What one learner message does, read once for the customer, the grade and the coach."""

    text: str
    acts: tuple[str, ...]  # the acts it does, highest score first
    scores: tuple[tuple[str, float], ...]  # every known act and its score (0 … 1), highest first
    method: Method  # "embeddings", or "stems" (the fallback)

    def does(self, act: str) -> bool:
        return act in self.acts

    def score(self, act: str) -> float:
        return dict(self.scores).get(act, 0.0)


# -- training lines -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    """One labelled line: the acts it does and the acts it is known not to do."""

    text: str
    does: frozenset[str]
    does_not: frozenset[str] = frozenset()  # for an act file's near misses: that act
    full: bool = False  # every act labelled (a labelled message), else only those named


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9$']+", text.lower().replace("’", "'")))


def known_lines(examples: Sequence[Example]) -> dict[str, Example]:
    """The example lines by their words: a trainer's own line is read as the file says."""
    return {_norm(e.text): e for e in examples}


def _as_written(piece: str, row: list[float], acts: list[str], known: dict[str, Example]) -> list[float]:
    example = known.get(_norm(piece))
    if example is None:
        return row
    return [1.0 if act in example.does else 0.0 if act in example.does_not else v for act, v in zip(acts, row)]


def targets(examples: Sequence[Example], acts: Sequence[str]) -> list[list[float]]:
    """What each example line teaches each act's classifier: 1 for a line that does it, 0
    for one that does not (a near miss, another act's line), :data:`COMPANION_TARGET` for a
    line of a companion act (see :data:`COMPANIONS`) that may do it too."""
    rows = []
    for e in examples:
        row = []
        for act in acts:
            if act in e.does:
                row.append(1.0)
            elif act in e.does_not or e.full:
                row.append(0.0)
            else:
                row.append(COMPANION_TARGET if any(frozenset((d, act)) in COMPANIONS for d in e.does) else 0.0)
        rows.append(row)
    return rows


def examples_of(acts: dict[str, Act]) -> list[Example]:
    """The act files' own lines: each positive does its act; each negative does not."""
    out: list[Example] = []
    for act in acts.values():
        out += [Example(line, frozenset({act.id})) for line in act.examples.positive]
        out += [Example(line, frozenset(), frozenset({act.id})) for line in act.examples.negative]
    return out


# -- embeddings ---------------------------------------------------------------------------------

class Embedder(Protocol):
    key: str  # names the model (file, size, time), for the cache

    def embed(self, texts: list[str]) -> list[list[float]]: ...


class BuiltinEmbedder:
    """The built-in GGUF's mean-pooled embeddings, computed in the model's worker process."""

    def __init__(self) -> None:
        from ..models.local_models import BUILTIN_NAME, builtin_path

        path = builtin_path()
        if path is None:
            raise RuntimeError("the built-in model is not installed")
        self.name = BUILTIN_NAME
        # the file's name and size: the same model on every desk, so shipped vectors (SHIPPED) are found
        self.key = hashlib.sha256(f"{path.name}|{path.stat().st_size}".encode()).hexdigest()[:16]

    def embed(self, texts: list[str]) -> list[list[float]]:
        from ..models import local_process

        return local_process.embed(self.name, texts)


def embeddings_available() -> bool:
    """The built-in model, llama-cpp-python and numpy are installed (nothing is imported)."""
    import importlib.util

    from ..models.local_models import builtin_path

    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "numpy")) and \
        builtin_path() is not None


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


SHIPPED = Path(__file__).parent / "vectors"  # the bundled lines, embedded (conditions.ship_vectors writes them)


class VectorCache:
    """Vectors of example lines on disk (``<data>/cache/embeddings/<model>.npz``), keyed by
    the text's hash, plus the last :data:`MESSAGE_CACHE` messages' in memory. The bundled act
    files' lines ship already embedded (:data:`SHIPPED`), so a new desk's first message does not
    wait for a thousand lines; a trainer's own lines are embedded once. A cache that cannot be
    read or written only costs time."""

    def __init__(self, embedder: Embedder, folder: Path | None = None):
        self.embedder = embedder
        self.path = (folder or locations.data_dir() / "cache" / "embeddings") / f"{embedder.key}.npz"
        self._disk: dict[str, Any] | None = None
        self._memory: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        import numpy as np

        if self._disk is None:
            self._disk = {}
            self._shipped: set[str] = set()
            try:
                with np.load(SHIPPED / self.path.name, allow_pickle=False) as data:
                    for key, vector in zip(data["keys"], data["vectors"]):
                        self._disk[str(key)] = vector.astype(np.float32)
                        self._shipped.add(str(key))
            except (OSError, ValueError, KeyError):
                pass
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    for key, vector in zip(data["keys"], data["vectors"]):
                        self._disk[str(key)] = vector
            except (OSError, ValueError, KeyError):
                pass
        return self._disk

    def _save(self) -> None:
        import os
        import tempfile

        import numpy as np

        disk = {k: v for k, v in self._load().items() if k not in self._shipped}
        if not disk:
            return
        try:  # another process (a second app, a parallel test run) may have added lines since
            with np.load(self.path, allow_pickle=False) as data:
                for key, vector in zip(data["keys"], data["vectors"]):
                    disk.setdefault(str(key), vector)
        except (OSError, ValueError, KeyError):
            pass
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".npz", dir=self.path.parent)
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, keys=np.array(list(disk), dtype="U32"),
                         vectors=np.array(list(disk.values()), dtype=np.float32))
            os.replace(tmp, self.path)
        except OSError:
            pass

    def vectors(self, texts: Sequence[str], *, keep: bool) -> Any:
        """One row per text. ``keep``: on disk (the act files' lines); else in memory only."""
        import numpy as np

        with self._lock:
            disk = self._load()
            keys = [_text_key(t) for t in texts]
            found: dict[str, Any] = {}
            for key in keys:
                if key in disk:
                    found[key] = disk[key]
                elif key in self._memory:
                    self._memory.move_to_end(key)
                    found[key] = self._memory[key]
            missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        for at in range(0, len(missing), EMBED_BATCH):  # a few lines a request, kept as they come
            batch = missing[at:at + EMBED_BATCH]
            new = self.embedder.embed(batch)
            with self._lock:
                for text, vector in zip(batch, new):
                    key = _text_key(text)
                    found[key] = np.asarray(vector, dtype=np.float32)
                    if keep:
                        self._load()[key] = found[key]
                    else:
                        self._memory[key] = found[key]
                        while len(self._memory) > MESSAGE_CACHE:
                            self._memory.popitem(last=False)
                if keep:
                    self._save()
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 1), dtype=np.float32)


def _sentences(text: str) -> list[str]:
    """The pieces a message is read in: its sentences; one of one or two words ("Hello?",
    "Right.") is read with the next one. (Adding the whole message as a piece scored the same
    on tune and costs a second embedding of every word.)"""
    parts: list[str] = []
    carry = ""
    for sentence in split_sentences(text):
        if not re.search(r"\w", sentence):
            continue
        sentence = f"{carry} {sentence}".strip()
        carry = sentence if len(sentence.split()) <= 2 else ""
        if not carry:
            parts.append(sentence)
    if carry:
        parts.append(carry)
    return parts or [text.strip() or text]


class EmbeddingReader:
    """Ridge classifiers, one per act, on centred, normalised sentence embeddings, blended
    with the terms classifiers' score (:class:`TermsModel`; each alone scored lower on tune
    than the two together)."""

    method: Method = "embeddings"

    def __init__(self, acts: dict[str, Act], cache: VectorCache, extra: Sequence[Example] = (),
                 *, ridge: float = RIDGE, threshold: float = THRESHOLD, blend: float = BLEND):
        import numpy as np

        self.acts = list(acts)
        self.cache = cache
        self.threshold = threshold
        self.blend = blend
        examples = [*examples_of(acts), *extra]
        self.known = known_lines(examples)
        self.terms = TermsModel([e.text for e in examples], targets(examples, self.acts)) if blend < 1 else None
        raw = cache.vectors([e.text for e in examples], keep=True)
        self.mean = raw.mean(axis=0)
        x1 = np.hstack([self._features(raw), np.ones((len(examples), 1))])
        eye = np.eye(x1.shape[1]) * ridge
        eye[-1, -1] = 0.0  # the bias is not penalised
        y = np.array(targets(examples, self.acts))
        self.weights = np.linalg.solve(x1.T @ x1 + eye, x1.T @ y)  # every act at once

    def _features(self, raw: Any) -> Any:
        import numpy as np

        centred = raw - self.mean
        return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-9)

    def piece_scores(self, raw: Any, pieces: Sequence[str]) -> Any:
        """Scores per act (columns) of pieces (rows), given their raw embeddings too."""
        import numpy as np

        x = self._features(raw)
        learned = np.hstack([x, np.ones((len(x), 1))]) @ self.weights
        if self.terms is not None:
            learned = self.blend * learned + (1 - self.blend) * self.terms.scores(pieces)
        return np.array([_as_written(p, list(row), self.acts, self.known) for p, row in zip(pieces, learned)])

    def scores(self, texts: Sequence[str]) -> Any:
        """Each text's score per act (rows: texts; columns: acts), by its best piece."""
        import numpy as np

        pieces = [_sentences(t) for t in texts]
        flat = [p for ps in pieces for p in ps]
        s = self.piece_scores(self.cache.vectors(flat, keep=False), flat)
        out, at = np.zeros((len(texts), len(self.acts))), 0
        for i, ps in enumerate(pieces):
            out[i] = s[at:at + len(ps)].max(axis=0)
            at += len(ps)
        return out

    def read(self, text: str) -> Reading:
        row = self.scores([text])[0]
        return _reading(text, self.acts, [float(v) for v in row], self.threshold, self.method)


def _reading(text: str, acts: list[str], values: list[float], threshold: float, method: Method) -> Reading:
    ranked = sorted(zip(acts, (round(min(1.0, max(0.0, v)), 3) for v in values)), key=lambda p: -p[1])
    done = tuple(a for a, v in sorted(zip(acts, values), key=lambda p: -p[1]) if v >= threshold)
    return Reading(text=text, acts=done, scores=tuple(ranked), method=method)


# -- the stems fallback ---------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9$']+|\?")


def _terms(text: str) -> Counter[str]:
    """Word stems (first five letters, stop words kept: "you", "what", "sorry" carry acts)
    and stem pairs; a question mark is a term."""
    words = [w[:5] for w in _WORD.findall(text.lower().replace("’", "'"))]
    terms = Counter(words)
    terms.update(f"{a}_{b}" for a, b in zip(words, words[1:]))
    return terms


def _bag(text: str) -> Counter[str]:
    """The terms classifiers' terms: :func:`_terms` plus the letter triples and quadruples of
    each word (``<sorry>`` gives ``<so``, ``sor``, …), so "abotu", "recieve" and "apologize"
    still share most of their terms with the words they mean."""
    bag = _terms(text)
    for word in re.findall(r"[a-z0-9$']+", text.lower().replace("’", "'")):
        marked = f"<{word}>"
        for n in (3, 4):
            bag.update("#" + marked[i:i + n] for i in range(len(marked) - n + 1))
    return bag


class TermsModel:
    """Ridge classifiers, one per act, on TF-IDF vectors of :func:`_bag` (numpy; solved in
    its dual form, one solve for every act: the lines are far fewer than the terms)."""

    BIAS = 3.0  # the constant term's feature value (penalised with the rest, as tuned)

    def __init__(self, texts: Sequence[str], y: Sequence[Sequence[float]], *, ridge: float = TERMS_RIDGE):
        import numpy as np

        bags = [_bag(t) for t in texts]
        df: Counter[str] = Counter(t for bag in bags for t in bag)
        self.index = {t: i for i, t in enumerate(df)}
        n = len(bags)
        self.idf = np.array([math.log((1 + n) / (1 + d)) + 1 for d in df.values()], dtype=np.float64)
        rows = [self._sparse(bag) for bag in bags]
        # the kernel (lines × lines) term by term: each term adds the products of the lines holding it
        holders: list[list[tuple[int, float]]] = [[] for _ in self.index]
        for i, (cols, vals) in enumerate(rows):
            for c, v in zip(cols.tolist(), vals.tolist()):
                holders[c].append((i, v))
        kernel = np.full((n, n), self.BIAS ** 2)
        for held in holders:
            if len(held) == 1:
                kernel[held[0][0], held[0][0]] += held[0][1] ** 2
            else:
                at = np.array([i for i, _ in held])
                v = np.array([x for _, x in held])
                kernel[np.ix_(at, at)] += np.outer(v, v)
        alphas = np.linalg.solve(kernel + ridge * np.eye(n), np.array(y, dtype=np.float64))
        self.weights = np.zeros((len(self.index), alphas.shape[1]))
        for (cols, vals), alpha in zip(rows, alphas):
            self.weights[cols] += np.outer(vals, alpha)
        self.bias = self.BIAS * alphas.sum(axis=0)

    def _sparse(self, bag: Counter[str]) -> tuple[Any, Any]:
        import numpy as np

        cols = np.array([self.index[t] for t in bag if t in self.index], dtype=np.int64)
        vals = np.array([1 + math.log(c) for t, c in bag.items() if t in self.index]) * self.idf[cols]
        return cols, vals / max(float(np.linalg.norm(vals)), 1e-9)

    def scores(self, texts: Sequence[str]) -> Any:
        """Each text's score per act (rows: texts; columns: acts)."""
        import numpy as np

        out = np.zeros((len(texts), len(self.bias)))
        for i, text in enumerate(texts):
            cols, vals = self._sparse(_bag(text))
            out[i] = vals @ self.weights[cols] + self.bias
        return out


def _numpy_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("numpy") is not None


@dataclass
class StemsReader:
    """The fallback, no model needed: the terms classifiers (:class:`TermsModel`) when numpy
    is installed, else the nearest example lines by TF-IDF over word stems (pure Python)."""

    acts_by_id: dict[str, Act]
    extra: Sequence[Example] = ()
    k: int = STEMS_K
    threshold: float | None = None  # None: THRESHOLD with the classifiers, STEMS_THRESHOLD nearest
    nearest: bool | None = None  # None: nearest lines only when numpy is missing
    method: Method = "stems"
    _vectors: list[tuple[dict[str, float], Example]] = field(default_factory=list, init=False)
    _idf: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.acts = list(self.acts_by_id)
        examples = [*examples_of(self.acts_by_id), *self.extra]
        self.known = known_lines(examples)
        if self.nearest is None:
            self.nearest = not _numpy_installed()
        if self.threshold is None:
            self.threshold = STEMS_THRESHOLD if self.nearest else THRESHOLD
        self.model = None if self.nearest else TermsModel([e.text for e in examples], targets(examples, self.acts))
        if self.nearest:
            bags = [_terms(e.text) for e in examples]
            df: Counter[str] = Counter(t for bag in bags for t in bag)
            n = len(bags)
            self._idf = {t: math.log((1 + n) / (1 + d)) + 1 for t, d in df.items()}
            self._vectors = [(self._vector(bag), e) for bag, e in zip(bags, examples)]

    def _vector(self, bag: Counter[str]) -> dict[str, float]:
        v = {t: (1 + math.log(c)) * self._idf.get(t, math.log(len(self._idf) + 1) + 1) for t, c in bag.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {t: x / norm for t, x in v.items()}

    def piece(self, text: str) -> list[float]:
        """Each act's score of one piece: the classifiers', or the act's share of the
        similarity of the :data:`STEMS_K` nearest example lines."""
        if self.model is not None:
            return [float(v) for v in self.model.scores([text])[0]]
        v = self._vector(_terms(text))
        sims = sorted(((sum(x * u.get(t, 0.0) for t, x in v.items()), e) for u, e in self._vectors),
                      key=lambda p: -p[0])[: self.k]
        total = sum(s for s, _ in sims) or 1.0
        out = []
        for act in self.acts:
            yes = sum(s for s, e in sims if act in e.does)
            out.append(yes / total)
        return out

    def scores(self, texts: Sequence[str]) -> list[list[float]]:
        rows = []
        for text in texts:
            pieces = [_as_written(p, self.piece(p), self.acts, self.known) for p in _sentences(text)]
            rows.append([max(col) for col in zip(*pieces)])
        return rows

    def read(self, text: str) -> Reading:
        assert self.threshold is not None
        return _reading(text, self.acts, self.scores([text])[0], self.threshold, self.method)


# -- the reader a workspace uses ---------------------------------------------------------------

class Reader(Protocol):
    method: Method
    acts: list[str]

    def read(self, text: str) -> Reading: ...


_readers: dict[tuple[str, str], Reader] = {}
_readers_lock = threading.Lock()


_fingerprints: dict[int, tuple[dict[str, Act], str]] = {}


def _fingerprint(acts: dict[str, Act]) -> str:
    """The acts' example lines in a few letters. Worked out once per (shared) set of acts."""
    known = _fingerprints.get(id(acts))
    if known is not None and known[0] is acts:
        return known[1]
    found = hashlib.sha256(repr(sorted((a.id, a.examples.positive, a.examples.negative)
                                       for a in acts.values())).encode()).hexdigest()[:16]
    if len(_fingerprints) > 32:  # sets of acts a trainer edited away
        _fingerprints.clear()
    _fingerprints[id(acts)] = (acts, found)
    return found


def reader(workspace: Path | None = None, *, method: Method | None = None) -> Reader:
    """The reader of ``workspace``'s acts (built once per set of example lines): embeddings
    when the built-in runtime is installed, else the stems fallback."""
    acts = load_acts(workspace).acts
    if method is None:
        method = "embeddings" if embeddings_available() else "stems"
    key = (method, _fingerprint(acts))
    with _readers_lock:
        found = _readers.get(key)
        if found is None:
            found = _readers[key] = (EmbeddingReader(acts, VectorCache(BuiltinEmbedder()))
                                     if method == "embeddings" else StemsReader(acts))
        return found


def read_message(text: str, workspace: Path | None = None) -> Reading:
    """What the learner's ``text`` does (see the module's docstring). Blocking: call it from
    a worker. A failing runtime (a crashed worker) falls back to stems for this message."""
    from ..core.errors import ModelError

    try:
        return reader(workspace).read(text)
    except (ModelError, RuntimeError, OSError):
        return reader(workspace, method="stems").read(text)


def reading_of(turn: "Turn", workspace: Path | None = None) -> Reading:
    """The reading of a learner turn: the one made when it was sent (its ``acts``), else read
    now (a session saved before the meaning layer, or one written by a test)."""
    if turn.read_by in ("embeddings", "stems"):
        method: Method = "embeddings" if turn.read_by == "embeddings" else "stems"
        return Reading(text=turn.text, acts=tuple(turn.acts), scores=tuple((a, 1.0) for a in turn.acts),
                       method=method)
    return read_message(turn.text, workspace)


def readings_of(turns: Sequence["Turn"], workspace: Path | None = None) -> dict[int, Reading]:
    """Every learner turn's reading, by turn index: what the grade, the coach and the advice
    read instead of the learner's words."""
    return {t.index: reading_of(t, workspace) for t in turns if t.speaker == "learner"}
