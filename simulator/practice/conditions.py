"""A persona's conditions read by meaning: which hidden fact a learner's message earns, whether
it calms or angers this customer, which fact it asks for, and how much of ``resolved_when``
the learner has done so far.

Each condition is learned from lines, not matched by its words:

* **reveal** (per hidden fact): the fact's ``earned_by`` lines and its ``reveal_when`` text
  earn it; its ``not_earned_by`` lines, the other facts' lines and the act files' example
  lines (ordinary agent speech) do not;
* **calms** / **rises**: ``calmed_by`` + ``calms_when`` / ``raised_by`` + ``rises_when``;
* a question **asks for a fact**: the fact's own words, nearest by meaning.

A message is read in its sentences (as :mod:`.meaning` reads them); a sentence's score for a
condition is the share of its :data:`K` nearest lines (cosine of centred sentence embeddings
of the built-in model, blended with the same vote over word stems) that are the condition's.
The message meets the condition when its best sentence scores at least :data:`THRESHOLD`
(chosen on the condition probes' ``tune`` lines, ``benchmarks/conditions.py``). Without the
built-in runtime the stems vote alone decides, marked ``"stems"``.

``resolved_when`` is cut into its parts ("does not raise the limit", "uncovers the call", …):
a part that names a hidden fact is done when the fact has come out; one the customer does
("she agrees not to act on the 4pm call") when the learner asked her for it; one the agent
does not do is left to the giving-up rules; one the agent does when a learner sentence shares
two of its content words, or, for all of those together, when the learner's words cover 40%
of theirs (the built-in model's sentence vectors do not tell these parts apart: measured).
The customer counts the conversation resolved only when every part is done and this message
offers, commits to or closes on something (:func:`Resolution.missing` names what is left).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..content.acts import load_acts
from ..content.persona import Persona
from ..core.text import stems
from . import meaning

K = 5  # nearest lines that vote
THRESHOLD = 0.2  # a condition's share of the vote its best sentence needs (chosen on the tune probes)
BLEND = 0.4  # the embeddings' share of the vote; the rest is the stems vote (tune probes)
RESOLVING_ACTS = frozenset({"offer-fix", "commit", "give-step", "set-expectation", "close", "summarise", "warn",
                            "explain-why", "reassure"})
_CUSTOMER = re.compile(r"(she|he|they|the customer)\b", re.IGNORECASE)  # a part the customer does
_NOT = re.compile(r"^(does not|doesn't|do not|don't|never|without|no longer)\b", re.IGNORECASE)  # what the agent does NOT do


@dataclass(frozen=True)
class Line:
    text: str
    label: tuple[str, int] | None  # ("reveal", i), ("calms", 0), ("rises", 0); None: background


@dataclass(frozen=True)
class Met:
    """One condition a message meets, with its score (0 … 1)."""

    kind: str  # "reveal" | "calms" | "rises"
    index: int
    score: float


@dataclass(frozen=True)
class ConditionReading:
    """What a message does to this persona's conditions."""

    reveal: tuple[int, ...] = ()  # hidden facts it earns, best first
    calms: bool = False
    rises: bool = False
    fact: int | None = None  # the fact a question asks for, if one is near enough
    scores: tuple[Met, ...] = ()
    method: meaning.Method = "stems"


@dataclass
class Resolution:
    """The parts of ``resolved_when`` and which are done."""

    parts: list[str]
    done: list[bool] = field(default_factory=list)

    def missing(self) -> list[str]:
        return [p for p, d in zip(self.parts, self.done) if not d]

    @property
    def complete(self) -> bool:
        return bool(self.parts) and all(self.done)


def resolution_parts(text: str) -> list[str]:
    """``resolved_when`` cut at its commas, semicolons and a last "and" (a part keeps an "or")."""
    text = " ".join(text.split()).strip().rstrip(".")
    pieces = [p.strip() for p in re.split(r"[;,]\s*(?:and\s+|then\s+)?|\s+and then\s+", text) if p.strip()]
    out: list[str] = []
    for piece in pieces:
        piece = re.sub(r"^(the agent|they|agent)\s+", "", piece, flags=re.IGNORECASE)
        if len(stems(piece)) >= 1:
            out.append(piece)
    return out


# -- stems vote (the word stems and pairs of meaning._terms) --------------------------------

class _Tfidf:
    def __init__(self, texts: Sequence[str]):
        bags = [meaning._terms(t) for t in texts]
        df: Counter[str] = Counter(t for bag in bags for t in bag)
        n = len(bags)
        self.idf = {t: math.log((1 + n) / (1 + d)) + 1 for t, d in df.items()}
        self.unseen = math.log(n + 1) + 1
        self.rows = [self.vector(b) for b in bags]

    def vector(self, bag: Counter[str]) -> dict[str, float]:
        v = {t: (1 + math.log(c)) * self.idf.get(t, self.unseen) for t, c in bag.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {t: x / norm for t, x in v.items()}

    def sims(self, text: str) -> list[float]:
        v = self.vector(meaning._terms(text))
        return [sum(x * row.get(t, 0.0) for t, x in v.items()) for row in self.rows]


def _vote(sims: Sequence[float], labels: Sequence[tuple[str, int] | None], k: int) -> dict[tuple[str, int], float]:
    order = sorted(range(len(sims)), key=lambda i: -sims[i])[:k]
    total = sum(max(0.0, sims[i]) for i in order) or 1.0
    out: dict[tuple[str, int], float] = {}
    for i in order:
        if labels[i] is not None:
            out[labels[i]] = out.get(labels[i], 0.0) + max(0.0, sims[i]) / total
    return out


# -- the matcher ------------------------------------------------------------------------------

def persona_lines(persona: Persona) -> list[Line]:
    lines: list[Line] = []
    for i, hidden in enumerate(persona.hidden):
        lines += [Line(t, ("reveal", i)) for t in [hidden.reveal_when, *hidden.earned_by]]
        lines += [Line(t, None) for t in hidden.not_earned_by]
    f = persona.frustration
    lines += [Line(t, ("calms", 0)) for t in [*f.calms_when, *f.calmed_by]]
    lines += [Line(t, ("rises", 0)) for t in [*f.rises_when, *f.raised_by]]
    return lines


class Matcher:
    """One persona's conditions, learned from its lines (see the module docstring)."""

    def __init__(self, persona: Persona, workspace: Path | None = None, *, method: meaning.Method | None = None,
                 threshold: float = THRESHOLD, blend: float = BLEND, k: int = K):
        self.persona = persona
        self.threshold, self.blend, self.k = threshold, blend, k
        acts = load_acts(workspace).acts
        background = [Line(e.text, None) for e in meaning.examples_of(acts) if e.does]
        self.lines = [*persona_lines(persona), *background]
        self.labels = [line.label for line in self.lines]
        self.stems = _Tfidf([line.text for line in self.lines])
        self.fact_stems = _Tfidf(list(persona.facts)) if persona.facts else None
        try:
            self.reader: meaning.Reader = meaning.reader(workspace, method=method)
        except Exception:  # the runtime failed while reading the act files' lines
            self.reader = meaning.reader(workspace, method="stems")
        self.method: meaning.Method = self.reader.method
        self._unit: Any = None
        self._facts: Any = None
        if self.method == "embeddings":
            try:
                self._unit = self._embed([line.text for line in self.lines], keep=True)
                self._facts = self._embed(list(persona.facts), keep=True) if persona.facts else None
            except Exception:  # a failing runtime: this persona is read by stems
                self.method = "stems"

    def _embed(self, texts: Sequence[str], *, keep: bool) -> Any:
        import numpy as np

        cache = getattr(self.reader, "cache")
        raw = cache.vectors(list(texts), keep=keep) - getattr(self.reader, "mean")
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)

    def _piece_votes(self, pieces: list[str]) -> list[dict[tuple[str, int], float]]:
        votes = []
        emb = None
        if self.method == "embeddings":
            try:
                emb = self._embed(pieces, keep=False) @ self._unit.T
            except Exception:
                self.method, emb = "stems", None
        for n, piece in enumerate(pieces):
            by_stems = _vote(self.stems.sims(piece), self.labels, self.k)
            if emb is None:
                votes.append(by_stems)
                continue
            by_meaning = _vote([float(x) for x in emb[n]], self.labels, self.k)
            keys = set(by_stems) | set(by_meaning)
            votes.append({key: self.blend * by_meaning.get(key, 0.0) + (1 - self.blend) * by_stems.get(key, 0.0)
                          for key in keys})
        return votes

    def read(self, text: str, *, revealed: Sequence[int] = ()) -> ConditionReading:
        pieces = meaning._sentences(text)
        votes = self._piece_votes(pieces)
        best: dict[tuple[str, int], float] = {}
        for vote in votes:
            for key, value in vote.items():
                best[key] = max(best.get(key, 0.0), value)
        reveal = []
        for (kind, i), score in sorted(best.items(), key=lambda p: -p[1]):
            if kind != "reveal" or score < self.threshold or i in revealed:
                continue
            if self._waits(i, revealed):
                continue
            reveal.append(i)
        scores = tuple(Met(kind, i, round(v, 3)) for (kind, i), v in sorted(best.items(), key=lambda p: -p[1]))
        return ConditionReading(reveal=tuple(reveal), calms=best.get(("calms", 0), 0.0) >= self.threshold,
                                rises=best.get(("rises", 0), 0.0) >= self.threshold,
                                fact=self.asked_fact(text, pieces), scores=scores, method=self.method)

    def _waits(self, i: int, revealed: Sequence[int]) -> bool:
        """A fact whose ``reveal_when`` starts "after …" waits for the facts before it."""
        when = self.persona.hidden[i].reveal_when.strip().lower()
        return when.startswith("after") and any(j not in revealed for j in range(i))

    def asked_fact(self, text: str, pieces: list[str] | None = None) -> int | None:
        """The fact a question asks for: the nearest fact by meaning and by words, when near enough."""
        if not self.persona.facts or self.fact_stems is None:
            return None
        questions = [p for p in (pieces or meaning._sentences(text)) if "?" in p] or [text]
        scores = [0.0] * len(self.persona.facts)
        for q in questions:
            by_words = self.fact_stems.sims(q)
            by_meaning = [0.0] * len(scores)
            if self._facts is not None and self.method == "embeddings":
                try:
                    by_meaning = [float(x) for x in (self._embed([q], keep=False) @ self._facts.T)[0]]
                except Exception:
                    pass
            for i in range(len(scores)):
                scores[i] = max(scores[i], 0.5 * by_words[i] + 0.5 * max(0.0, by_meaning[i]))
        best = max(range(len(scores)), key=lambda i: scores[i])
        return best if scores[best] >= FACT_FLOOR else None

    def resolution(self, learner_texts: Sequence[str], revealed: Sequence[int]) -> Resolution:
        """Which parts of ``resolved_when`` the learner's messages have done (module docstring)."""
        parts = resolution_parts(self.persona.end.resolved_when)
        done = [self._part_done(p, learner_texts, revealed) for p in parts]
        # what the agent does, said in other words than the file's ("update where your billing
        # emails go" for "fixes where future notices are sent"): the 135M model's sentence vectors
        # cannot tell these apart, so the agent's parts also count as done together when the
        # learner's words cover 40% of their content words (at least 4); the parts that name a
        # hidden fact or something the customer does are never done this way
        agent = [i for i, p in enumerate(parts) if self._kind(p) == "agent"]
        if agent and not all(done[i] for i in agent):
            wanted = set().union(*(stems(parts[i]) for i in agent)) - _GENERIC
            hit = wanted & stems(" ".join(learner_texts))
            if len(hit) >= 4 and len(hit) / max(1, len(wanted)) >= 0.4:
                for i in agent:
                    done[i] = True
        return Resolution(parts, done)

    def _kind(self, part: str) -> str:
        """"fact" (names a hidden fact), "customer" (she agrees…), "not" (does not…) or "agent"."""
        if self._fact_of(part) is not None:
            return "fact"
        if _CUSTOMER.match(part):
            return "customer"
        return "not" if _NOT.search(part) else "agent"

    def _fact_of(self, part: str) -> int | None:
        words = stems(part) - _GENERIC
        for i, hidden in enumerate(self.persona.hidden):  # "uncovers the 'safe account' call"
            if len(words & stems(hidden.fact)) >= max(2, len(words) // 2) and re.search(
                    r"\b(uncover|find|learn|discover|hear|get)", part, re.IGNORECASE):
                return i
        return None

    def _part_done(self, part: str, texts: Sequence[str], revealed: Sequence[int]) -> bool:
        kind = self._kind(part)
        if kind == "fact":
            return self._fact_of(part) in revealed
        if kind == "not":  # "does not raise the limit": the gives-up rules judge the opposite
            return True
        said = [p for t in texts for p in meaning._sentences(t)]
        words = stems(part) - _GENERIC
        if kind == "customer":  # "she agrees not to act on the 4pm call": the learner asked her for it
            return any("?" in t and stems(t) & words for t in texts) or self._near(part, said)
        return any(self._near(alternative, said) for alternative in re.split(r"\s+or\s+", part))

    def _near(self, part: str, sentences: Sequence[str]) -> bool:
        """A learner sentence shares two of the part's content words (all, when it has fewer).
        Not the sentence vectors: on parts of resolved_when the 135M model's cosine ranked the
        wrong sentence first (0.59 for a bill's figures against "credits the $45")."""
        words = stems(part) - _GENERIC
        return bool(words) and any(len(words & stems(s)) >= min(2, len(words)) for s in sentences)


FACT_FLOOR = 0.15  # a fact's blended similarity to the question before it is the one asked for (set on a dozen Mei-Ling questions, not a labelled set)
_GENERIC = stems("agent customer explains tells confirms offers asks her him them their they she he it this that "
                 "with agreement")

_matchers: dict[tuple[int, str, str], Matcher] = {}
_lock = threading.Lock()


def matcher(persona: Persona, workspace: Path | None = None) -> Matcher:
    """The persona's matcher, built once per persona file and method."""
    method: meaning.Method = "embeddings" if meaning.embeddings_available() else "stems"
    acts = load_acts(workspace).acts  # the same act files in any folder: the same matcher
    key = (hash(persona.model_dump_json()), meaning._fingerprint(acts), method)
    with _lock:
        found = _matchers.get(key)
    if found is None:
        found = Matcher(persona, workspace, method=method)
        with _lock:
            _matchers[key] = found
    return found


def ship_vectors(workspace: Path | None = None) -> Path:
    """Embed the bundled lines (the act files' examples, the personas' condition lines and
    facts) and write them where :class:`.meaning.VectorCache` looks first, so a new desk's
    first message does not wait for them (float16: half the size, cosines within 0.001).
    Run by ``.ci/vectors`` after those files change; a test says when a line is missing."""
    import numpy as np

    from ..content.library import load_library
    from ..core import locations

    root = workspace or locations.bundled_library()
    lines = {e.text for e in meaning.examples_of(load_acts(workspace).acts)}
    for persona in load_library(root).personas.values():
        lines |= {line.text for line in persona_lines(persona)} | set(persona.facts)
    ordered = sorted(lines)
    embedder = meaning.BuiltinEmbedder()
    vectors = np.asarray(embedder.embed(ordered), dtype=np.float16)
    meaning.SHIPPED.mkdir(exist_ok=True)
    target = meaning.SHIPPED / f"{embedder.key}.npz"
    np.savez_compressed(target, keys=np.array([meaning._text_key(t) for t in ordered], dtype="U32"), vectors=vectors)
    return target
