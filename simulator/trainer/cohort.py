"""Cohorts: grade many sessions at once, and report on a group of learners.

``roleplay evaluate DIR …`` grades every ended session found (a session folder, a folder of
them, or a workspace), those not graded yet or waiting for a judge (``--all`` grades every
one again), ``CONCURRENCY`` at a time, with a progress bar; the gateway retries each call;
a judge that still fails leaves the session graded from evidence and "judge pending". The
summary at the end names what failed and why.

``roleplay report DIR … [--format md|csv|html]``: per learner (the name saved with each
session) and per persona: sessions, pass rate, the mean score per criterion, the weakest
criteria, and the change between a learner's first and latest graded sessions. The HTML
page stands alone (inline styles and SVG charts, no network).
"""

from __future__ import annotations

import asyncio
import html
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..review.index import SessionSummary

CONCURRENCY = 4


def session_folders(paths: list[Path]) -> list[Path]:
    """The session folders under each path: itself, its children, or its sessions/."""
    from ..practice.sessions import is_session_folder

    found: list[Path] = []
    for path in map(Path, paths):
        if is_session_folder(path):
            found.append(path)
            continue
        base = path / "sessions" if (path / "sessions").is_dir() else path
        found += sorted(p for p in base.iterdir() if p.is_dir() and is_session_folder(p))
    return list(dict.fromkeys(found))


@dataclass
class GradeSummary:
    graded: int = 0
    from_evidence: int = 0
    skipped: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (session, why)


async def grade_folders(folders: list[Path], judge, *, regrade: bool = False, concurrency: int = CONCURRENCY,
                        on_progress: Callable[[int, int, str], None] | None = None) -> GradeSummary:
    """Grade the ended sessions among ``folders`` that need it (all with ``regrade``)."""
    from ..core.errors import RoleplayError
    from ..grading.evaluator import evaluate
    from ..practice.sessions import read_session

    summary = GradeSummary()
    todo = []
    for folder in folders:
        try:
            record = read_session(folder)
        except (RoleplayError, OSError) as exc:
            summary.problems.append((folder.name, f"unreadable: {exc}"))
            continue
        if not record.ended or not (regrade or record.evaluation_pending):
            summary.skipped += 1
            continue
        todo.append(record)
    limit = asyncio.Semaphore(max(1, concurrency))
    done = 0

    async def one(record) -> None:
        nonlocal done
        async with limit:
            try:
                outcome = await evaluate(record, record.rubric_snapshot(), judge)
            except (RoleplayError, OSError) as exc:
                summary.problems.append((record.session_id, str(exc)))
            else:
                summary.graded += 1
                if outcome.pending_reason:
                    summary.problems.append((record.session_id, f"judge failed, graded from evidence: "
                                                                f"{outcome.pending_reason}"))
                elif outcome.evaluation and outcome.evaluation.by_evidence:
                    summary.from_evidence += 1
        done += 1
        if on_progress:
            on_progress(done, len(todo), record.session_id)

    await asyncio.gather(*(one(r) for r in todo))
    return summary


def run_evaluate(args: Any, workspace: Path) -> int:
    """``roleplay evaluate DIR …``: grade every session found that needs it, with a progress bar
    and a summary of what failed and why."""
    import sys

    from ..core.errors import RoleplayError
    from ..core.text import bar
    from ..grading.run import evaluator_settings
    from ..models.gateway import Gateway

    missing = [p for p in args.session if not Path(p).exists()]
    if missing:
        raise RoleplayError(f"{missing[0]}: no such folder — give session folders, folders of them, or workspaces")
    folders = session_folders([Path(p) for p in args.session])
    if not folders:
        raise RoleplayError("no sessions found in " + ", ".join(args.session))
    judge = Gateway(evaluator_settings(args, workspace))

    def progress(done: int, total: int, session: str) -> None:
        print(f"{bar(done, total)} {done}/{total} graded · {session}", file=sys.stderr, flush=True)

    summary = asyncio.run(grade_folders(folders, judge, regrade=args.all, on_progress=progress))
    print(f"{summary.graded} graded ({summary.from_evidence} from evidence), {summary.skipped} already graded or "
          f"unfinished, {len(summary.problems)} with problems", file=sys.stderr)
    for session, why in summary.problems:
        print(f"  {session}: {why}", file=sys.stderr)
    return 1 if summary.problems else 0


# -- the report ---------------------------------------------------------------------------------

@dataclass
class Group:
    """Figures for one learner or one persona."""

    name: str
    sessions: int = 0
    graded: int = 0
    passed: int = 0
    criteria: dict[str, float] = field(default_factory=dict)  # mean, on 1-5
    overall: float | None = None
    first: float | None = None  # a learner's first graded session's overall (1-5)
    latest: float | None = None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None

    def weakest(self, names: dict[str, str], count: int = 2) -> list[str]:
        return [names.get(c, c) for c, _ in sorted(self.criteria.items(), key=lambda kv: kv[1])[:count]]


def groups(rows: list["SessionSummary"], key: Callable[["SessionSummary"], str]) -> list[Group]:
    by: dict[str, list["SessionSummary"]] = defaultdict(list)
    for r in rows:
        if r.status != "unreadable":
            by[key(r)].append(r)
    out = []
    for name, members in sorted(by.items()):
        members.sort(key=lambda r: (r.started_at, r.folder))
        graded = [r for r in members if r.score is not None]
        g = Group(name=name, sessions=len(members), graded=len(graded), passed=sum(1 for r in graded if r.passed))
        scores: dict[str, list[float]] = defaultdict(list)
        for r in graded:
            for cid, score in r.criteria.items():
                scores[cid].append(r.on_five(score))
        g.criteria = {cid: round(mean(v), 2) for cid, v in sorted(scores.items())}
        if graded:
            overall = [r.on_five(r.score) for r in graded]
            g.overall, g.first, g.latest = round(mean(overall), 2), round(overall[0], 2), round(overall[-1], 2)
        out.append(g)
    return out


@dataclass
class Report:
    learners: list[Group]
    personas: list[Group]
    names: dict[str, str]
    sessions: int
    unreadable: list[tuple[str, str]]


def build_report(rows: list["SessionSummary"]) -> Report:
    names: dict[str, str] = {}
    for r in rows:
        names.update(r.criterion_names)
    return Report(learners=groups(rows, lambda r: r.learner or "(no name)"),
                  personas=groups(rows, lambda r: r.persona_name or r.persona_id), names=names,
                  sessions=sum(1 for r in rows if r.status != "unreadable"),
                  unreadable=[(r.folder, r.reason) for r in rows if r.status == "unreadable"])


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if value is None else fmt.format(value)


def report_markdown(report: Report) -> str:
    """The report as Markdown; every name in it (learners', personas', criteria's, the
    unreadable sessions' reasons) is escaped to stay in its cell (:func:`core.sanitize.md_cell`)."""
    from ..core.sanitize import md_cell

    lines = [f"# Cohort report: {report.sessions} sessions, {len(report.learners)} learners", ""]
    criteria = list(report.names)
    for title, items, is_learner in (("Learners", report.learners, True), ("Personas", report.personas, False)):
        lines += [f"## {title}", "", "| | sessions | graded | pass rate | mean (1-5) | "
                  + ("first → latest | " if is_learner else "") + "weakest |",
                  "|---|---|---|---|---|" + ("---|" if is_learner else "") + "---|"]
        for g in items:
            change = f"{_num(g.first)} → {_num(g.latest)} |" if is_learner else ""
            lines.append(f"| {md_cell(g.name)} | {g.sessions} | {g.graded} | {_num(g.pass_rate, '{:.0%}')} | "
                         f"{_num(g.overall)} | {change} {md_cell(', '.join(g.weakest(report.names)))} |")
        lines += ["", f"Mean score per criterion ({title.lower()}):", "",
                  "| | " + " | ".join(md_cell(report.names[c]) for c in criteria) + " |",
                  "|---|" + "---|" * len(criteria)]
        for g in items:
            lines.append(f"| {md_cell(g.name)} | " + " | ".join(_num(g.criteria.get(c), "{:.1f}") for c in criteria)
                         + " |")
        lines.append("")
    if report.unreadable:
        lines += ["## Unreadable sessions", ""] + [f"- {md_cell(f)}: {md_cell(why)}" for f, why in report.unreadable]
        lines.append("")
    return "\n".join(lines)


def report_csv(report: Report) -> str:
    """The report as CSV, its text cells inert in a spreadsheet (:func:`core.sanitize.csv_cell`)."""
    from ..core.sanitize import csv_text

    criteria = list(report.names)
    rows: list[list[Any]] = [["group", "name", "sessions", "graded", "pass_rate", "mean", "first", "latest",
                              "weakest", *criteria]]
    for kind, items in (("learner", report.learners), ("persona", report.personas)):
        for g in items:
            rows.append([kind, g.name, g.sessions, g.graded, None if g.pass_rate is None else round(g.pass_rate, 3),
                         g.overall, g.first if kind == "learner" else None, g.latest if kind == "learner" else None,
                         "; ".join(g.weakest(report.names)), *[g.criteria.get(c) for c in criteria]])
    return csv_text(rows)


def _bars(items: list[tuple[str, float | None]], *, high: float = 5.0, width: int = 560) -> str:
    """A horizontal bar chart as inline SVG (no script, no network)."""
    row, label_w = 26, 190
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * row
        w = 0 if value is None else max(2, (value / high) * (width - label_w - 50))
        colour = "#c0392b" if value is not None and value < 3 else "#d68910" if value is not None and value < 3.5 \
            else "#1e8449"
        rows.append(f'<text x="0" y="{y + 17}" font-size="13">{html.escape(label[:28])}</text>'
                    f'<rect x="{label_w}" y="{y + 4}" width="{w:.0f}" height="16" fill="{colour}"/>'
                    f'<text x="{label_w + w + 6:.0f}" y="{y + 17}" font-size="12">{_num(value, "{:.1f}")}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{len(items) * row + 4}" '
            f'role="img">{"".join(rows)}</svg>')


def report_html(report: Report) -> str:
    """A page that stands alone: the tables and charts of the Markdown report."""
    criteria = list(report.names)
    cohort = {c: mean([g.criteria[c] for g in report.learners if c in g.criteria]) for c in criteria
              if any(c in g.criteria for g in report.learners)}
    parts = [f"<h1>Cohort report</h1><p>{report.sessions} sessions, {len(report.learners)} learners, "
             f"{len(report.personas)} personas.</p>",
             "<h2>Mean score per learner (1–5)</h2>", _bars([(g.name, g.overall) for g in report.learners]),
             "<h2>Cohort mean per criterion (1–5)</h2>", _bars([(report.names[c], v) for c, v in cohort.items()])]
    for title, items, is_learner in (("Learners", report.learners, True), ("Personas", report.personas, False)):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in
                       ["", "sessions", "pass rate", "mean", *(["first → latest"] if is_learner else []), "weakest",
                        *(report.names[c] for c in criteria)])
        body = []
        for g in items:
            cells = [g.name, str(g.sessions), _num(g.pass_rate, "{:.0%}"), _num(g.overall),
                     *([f"{_num(g.first)} → {_num(g.latest)}"] if is_learner else []),
                     ", ".join(g.weakest(report.names)), *(_num(g.criteria.get(c), "{:.1f}") for c in criteria)]
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        parts.append(f"<h2>{title}</h2><table><tr>{head}</tr>{''.join(body)}</table>")
    if report.unreadable:
        parts.append("<h2>Unreadable sessions</h2><ul>" + "".join(
            f"<li>{html.escape(f)}: {html.escape(why)}</li>" for f, why in report.unreadable) + "</ul>")
    style = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left}"
             "th{background:#f3f3f3}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cohort report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def run_report(args: Any) -> int:
    """``roleplay report DIR … [--format md|csv|html] [-o FILE]``."""

    from ..core.errors import RoleplayError
    from ..core.storage import write_out
    from ..review.index import folder_index

    rows = []
    for path in map(Path, args.paths):
        if not path.is_dir():
            raise RoleplayError(f"{path}: no such folder — give folders of sessions (or workspaces)")
        base = path / "sessions" if (path / "sessions").is_dir() else path
        rows += folder_index(base)
    if not rows:
        raise RoleplayError("no sessions found in " + ", ".join(args.paths))
    report = build_report(rows)
    text = {"md": report_markdown, "csv": report_csv, "html": report_html}[args.format](report)
    write_out(text, args.output, "report", force=getattr(args, "force", False))
    return 0
