"""Progress over time, from the history index (no session file is read).

* **Per criterion**: the score of every graded session, oldest first, as a sparkline on the
  rubric's scale, with the mean of the first and of the latest (up to) three, never overlapping.
* **Sessions per week** for the last eight weeks (ISO weeks), and the **pass rate** of the
  graded sessions.
* **Figures that moved**: apologies per session, the share of open questions, the median
  response time, jargon words per session and reading ease, and of spoken sessions words per
  minute and fillers per 100 words (issue 22), as the mean of the first and of
  the latest (up to) five sessions that have them, never overlapping.
* **Weakest criterion**: the lowest mean over the latest five graded sessions (criteria seen
  in at least two), with two personas from the library that train it (those practised least
  first, then the easier), to start from the progress screen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from statistics import mean
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..content.persona import Persona
    from .index import SessionSummary

BARS = "▁▂▃▄▅▆▇█"
FIGURE_LABELS = {"apologies": ("apologies per session", "{:.1f}"), "open_share": ("open questions", "{:.0%}"),
                 "median_response_time_s": ("median response time", "{:.0f} s"),
                 "jargon": ("jargon words per session", "{:.1f}"), "reading_ease": ("reading ease", "{:.0f}"),
                 "words_per_minute": ("words per minute (spoken)", "{:.0f}"),
                 "fillers_per_100": ("fillers per 100 words", "{:.1f}")}
RECENT = 5


def sparkline(values: list[float], low: float, high: float) -> str:
    """One bar per value, from ▁ (``low``) to █ (``high``)."""
    span = max(high - low, 1e-9)
    return "".join(BARS[max(0, min(7, round((v - low) / span * 7)))] for v in values)


@dataclass
class CriterionTrend:
    id: str
    name: str
    scores: list[float]  # oldest first, normalised to 1-5
    first: float
    latest: float
    recent: float  # mean of the latest RECENT


@dataclass
class Progress:
    sessions: int = 0
    graded: int = 0
    passed: int = 0
    weeks: list[tuple[str, int]] = field(default_factory=list)  # (week starting, sessions), oldest first
    criteria: list[CriterionTrend] = field(default_factory=list)
    figures: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (first, latest)
    weakest: CriterionTrend | None = None
    suggested: list[tuple[str, str, str]] = field(default_factory=list)  # (persona id, name, difficulty)

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None

    def to_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "graded": self.graded, "passed": self.passed,
                "pass_rate": self.pass_rate, "weeks": [{"week_of": w, "sessions": n} for w, n in self.weeks],
                "criteria": [vars(c) for c in self.criteria],
                "figures": {k: {"first": a, "latest": b} for k, (a, b) in self.figures.items()},
                "weakest": self.weakest.id if self.weakest else None,
                "suggested": [{"persona_id": i, "name": n, "difficulty": d} for i, n, d in self.suggested]}


def progress(rows: list["SessionSummary"], personas: list["Persona"] | None = None, *,
             now: datetime | None = None) -> Progress:
    """Progress over ``rows`` (the history index, any order)."""
    readable = sorted((r for r in rows if r.status != "unreadable" and r.started()),
                      key=lambda r: (r.started_at, r.folder))
    graded = [r for r in readable if r.score is not None]
    p = Progress(sessions=len(readable), graded=len(graded), passed=sum(1 for r in graded if r.passed))
    now = now or datetime.now(timezone.utc)
    monday = (now - timedelta(days=now.weekday())).date()
    counts = Counter((r.started().astimezone(timezone.utc).date() - monday).days // 7 for r in readable)
    p.weeks = [((monday + timedelta(weeks=w)).isoformat(), counts.get(w, 0)) for w in range(-7, 1)]
    series: dict[str, list[float]] = {}
    names: dict[str, str] = {}
    for r in graded:
        for cid, score in r.criteria.items():
            series.setdefault(cid, []).append(r.on_five(score))
            names[cid] = r.criterion_names.get(cid, cid)
    for cid, scores in series.items():
        k = max(1, min(3, len(scores) // 2))  # the first and the latest k never overlap
        p.criteria.append(CriterionTrend(cid, names[cid], [round(s, 2) for s in scores], round(mean(scores[:k]), 2),
                                         round(mean(scores[-k:]), 2), round(mean(scores[-RECENT:]), 2)))
    p.criteria.sort(key=lambda c: c.name.lower())
    candidates = [c for c in p.criteria if len(c.scores) >= 2] or p.criteria
    if candidates:
        p.weakest = min(candidates, key=lambda c: (c.recent, c.name))
    for key in FIGURE_LABELS:
        values = [r.figures.get(key) for r in readable if r.figures.get(key) is not None]
        if len(values) >= 2:
            k = min(RECENT, len(values) // 2)
            p.figures[key] = (round(mean(values[:k]), 2), round(mean(values[-k:]), 2))
    if p.weakest and personas:
        practised = Counter(r.persona_id for r in readable)
        order = {"easy": 0, "medium": 1, "hard": 2}
        trains = sorted((x for x in personas if p.weakest.id in x.skills),
                        key=lambda x: (practised.get(x.id, 0), order.get(x.difficulty, 3), x.name))
        p.suggested = [(x.id, x.name, x.difficulty) for x in trains[:2]]
    return p


def progress_lines(p: Progress, width: int = 78) -> list[str]:
    """The progress report as text lines (the CLI and the progress screen)."""
    if not p.sessions:
        return ["No sessions yet: practise with a persona, then come back here."]
    rate = f", pass rate {p.pass_rate:.0%} ({p.passed} of {p.graded} graded)" if p.graded else ", none graded yet"
    lines = [f"{p.sessions} session{'s' if p.sessions != 1 else ''}{rate}",
             "Sessions per week (last 8): " + sparkline([n for _, n in p.weeks], 0, max(1, *(n for _, n in p.weeks)))
             + "  " + " ".join(str(n) for _, n in p.weeks), ""]
    if p.criteria:
        lines.append("Score per criterion, oldest → latest (1–5):")
        spark = min(max(8, width - 44), max(len(c.scores) for c in p.criteria))
        for c in p.criteria:
            move = c.latest - c.first
            arrow = "↑" if move >= 0.5 else "↓" if move <= -0.5 else "→"
            lines.append(f"  {c.name[:20]:<20} {sparkline(c.scores[-spark:], 1, 5):<{spark}} "
                         f"{c.first:.1f} {arrow} {c.latest:.1f}")
        lines.append("")
    if p.figures:
        lines.append("Measured, first sessions → latest:")
        for key, (first, latest) in p.figures.items():
            label, fmt = FIGURE_LABELS[key]
            lines.append(f"  {label:<26} {fmt.format(first)} → {fmt.format(latest)}")
        lines.append("")
    if p.weakest:
        lines.append(f"Weakest lately: {p.weakest.name} ({p.weakest.recent:.1f} of 5 over the latest sessions).")
        if p.suggested:
            lines.append("Personas that train it: " + "; ".join(f"{name} ({level})" for _, name, level in p.suggested))
    return lines
