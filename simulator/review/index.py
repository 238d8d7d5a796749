"""The history index: one summary row per session folder, for lists that stay fast.

``sessions/.index.json`` holds a row per session folder with the sizes and modification
times of the files it was read from. Listing the sessions reads that one file and looks at
each folder's files (two ``stat`` calls); only a folder whose files changed, or that is new,
is read again. The session files stay the truth: delete the index and it is rebuilt from
them; a folder that disappears leaves the index. A session that cannot be read (corrupt,
truncated, from a newer format) is a row with ``status`` "unreadable" and the reason, never
dropped.

Evaluation status (``status``): ``open`` (not ended: can be resumed), ``pending`` (ended,
not graded yet), ``failed`` (grading failed and left a reason, or the saved evaluation is
damaged), ``evidence`` (graded by the evidence rules; ``reason`` says so when a judge is
still pending), ``graded`` (graded by a judge model), ``unreadable``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.storage import atomic_write_text
from ..practice.sessions import JOURNAL, RECORD, SessionRecord, answered_turns, read_session, sessions_dir

INDEX = ".index.json"
INDEX_VERSION = 3
STATUSES = ("open", "pending", "failed", "evidence", "graded", "unreadable")
FIGURES = ("apologies", "open_share", "median_response_time_s", "jargon", "reading_ease")


@dataclass
class SessionSummary:
    """What the history, progress and export need of one session, without reading it whole."""

    folder: str  # the folder's name (the session id unless renamed)
    session_id: str
    status: str
    reason: str = ""
    started_at: str = ""
    ended_at: str | None = None
    persona_id: str = ""
    persona_name: str = ""
    persona_title: str = ""
    outcome: str | None = None
    duration_s: float | None = None
    learner_turns: int = 0
    score: float | None = None
    passed: bool | None = None
    pass_mark: float | None = None
    scale: list[int] = field(default_factory=list)
    method: str | None = None  # "judge" or "evidence"
    criteria: dict[str, int] = field(default_factory=dict)  # criterion id -> score, latest evaluation
    criterion_names: dict[str, str] = field(default_factory=dict)
    figures: dict[str, float | None] = field(default_factory=dict)  # FIGURES, from the measured part
    branched_from: dict[str, Any] | None = None
    learner: str | None = None
    stamp: list[int] = field(default_factory=list)  # sizes and mtimes of the files read

    @property
    def graded(self) -> bool:
        return self.score is not None

    def on_five(self, score: float) -> float:
        """``score`` of this session's rubric scale, put on 1-5 (rubrics may differ)."""
        low, high = self.scale if len(self.scale) == 2 else (1, 5)
        return 1 + 4 * (score - low) / max(1, high - low)

    @property
    def duration_text(self) -> str:
        """"m:ss", or "–" when unknown."""
        if self.duration_s is None:
            return "–"
        return f"{int(self.duration_s // 60)}:{int(self.duration_s % 60):02d}"

    def started(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.started_at)
        except (TypeError, ValueError):
            return None


def _stamp(folder: str) -> list[int] | None:
    """Size and mtime (ns) of the journal and of session.json; None when neither exists."""
    out: list[int] = []
    for name in (JOURNAL, RECORD):
        try:
            st = os.stat(os.path.join(folder, name))
            out += [st.st_size, st.st_mtime_ns]
        except OSError:
            out += [-1, -1]
    return None if out[0] == -1 and out[2] == -1 else out


def _figures(measured: dict[str, Any]) -> dict[str, float | None]:
    questions = measured.get("questions") or 0
    return {"apologies": measured.get("apologies"),
            "open_share": round(measured.get("open_questions", 0) / questions, 2) if questions else None,
            "median_response_time_s": measured.get("median_response_time_s"),
            "jargon": len(measured.get("jargon_used") or []),
            "reading_ease": measured.get("reading_ease")}


def summarise(record: SessionRecord, folder: str, stamp: list[int]) -> SessionSummary:
    """The index row of a readable session."""
    from ..grading.metrics import measure

    latest = record.evaluations[-1] if record.evaluations and isinstance(record.evaluations[-1], dict) else None
    overall = record.latest_overall()
    if not record.ended:
        status, reason = "open", "unfinished: it can be resumed"
    elif latest is None:
        status, reason = ("failed", record.pending_reason) if record.pending_reason else ("pending", "not graded yet")
    elif overall is None:
        status, reason = "failed", "the saved evaluation is damaged: grade it again"
    elif latest.get("method") == "evidence":
        status = "evidence"
        reason = f"judge pending: {record.pending_reason}" if record.pending_reason else "graded by the evidence rules"
    else:
        status, reason = "graded", f"judged by {latest.get('judge_model', 'a model')}"
    measured = (latest or {}).get("measured") if overall is not None else None
    if not isinstance(measured, dict):
        measured = measure(record).to_dict()
    criteria = {c["id"]: c["score"] for c in (latest or {}).get("criteria", []) if isinstance(c, dict)
                and isinstance(c.get("score"), (int, float)) and "id" in c} if overall is not None else {}
    return SessionSummary(
        folder=folder, session_id=record.session_id, status=status, reason=reason or "",
        started_at=record.started_at, ended_at=record.ended_at, persona_id=record.persona_id,
        persona_name=str(record.persona.get("name") or record.persona_id),
        persona_title=str(record.persona.get("title") or ""), outcome=record.outcome,
        duration_s=measured.get("duration_s"), learner_turns=answered_turns(record.turns),
        score=overall[0] if overall else None, passed=overall[1] if overall else None,
        pass_mark=(latest or {}).get("overall", {}).get("pass_mark") if overall else None,
        scale=list((latest or {}).get("overall", {}).get("scale") or []) if overall else [],
        method=(latest or {}).get("method") if overall else None, criteria=criteria,
        criterion_names={c["id"]: c.get("name", c["id"]) for c in (latest or {}).get("criteria", [])
                         if isinstance(c, dict) and "id" in c} if overall is not None else {},
        figures=_figures(measured), branched_from=record.branched_from, learner=record.learner, stamp=stamp)


def _read_row(path: str, name: str, stamp: list[int]) -> SessionSummary:
    from ..core.errors import NotFoundError, SessionError

    try:
        return summarise(read_session(Path(path)), name, stamp)
    except (SessionError, NotFoundError, OSError, ValueError) as exc:
        return SessionSummary(folder=name, session_id=name, status="unreadable", reason=str(exc), stamp=stamp)


def _load(path: Path) -> dict[str, SessionSummary]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != INDEX_VERSION:
            return {}
        known = set(SessionSummary.__dataclass_fields__)
        names = data.get("criterion_names") or {}
        rows = {}
        for row in data["sessions"]:
            summary = SessionSummary(**{k: v for k, v in row.items() if k in known})
            summary.criterion_names = {cid: names.get(cid) or summary.criterion_names.get(cid, cid)
                                       for cid in summary.criteria}
            rows[summary.folder] = summary
        return rows
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}  # missing or damaged: rebuilt from the session files


def session_index(workspace: Path, *, save: bool = True) -> list[SessionSummary]:
    """Every session folder's summary, newest first, reading only what changed since the
    index was last written (and writing it back when anything did)."""
    return folder_index(sessions_dir(workspace), save=save)


def folder_index(folder: Path, *, save: bool = True) -> list[SessionSummary]:
    """:func:`session_index` of any folder of session folders (a trainer's collection)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    cached = _load(folder / INDEX)
    rows: list[SessionSummary] = []
    changed = False
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            stamp = _stamp(entry.path)
            if stamp is None:
                continue
            row = cached.get(entry.name)
            if row is None or row.stamp != stamp:
                row = _read_row(entry.path, entry.name, stamp)
                changed = True
            rows.append(row)
    changed = changed or len(rows) != len(cached)
    rows.sort(key=lambda r: r.folder, reverse=True)  # ids start with the local start time
    if changed and save:
        try:
            names: dict[str, str] = {}
            for r in rows:
                names.update(r.criterion_names)
            atomic_write_text(folder / INDEX, json.dumps(
                {"version": INDEX_VERSION, "criterion_names": names,
                 "sessions": [{k: v for k, v in vars(r).items() if k != "criterion_names"} for r in rows]},
                ensure_ascii=False, separators=(",", ":")))
        except OSError:
            pass  # a read-only workspace still lists its sessions; the index is only a cache
    return rows


def filter_rows(rows: list[SessionSummary], *, persona: str | None = None, since: str | None = None,
                outcome: str | None = None, status: str | None = None, text: str | None = None
                ) -> list[SessionSummary]:
    """Rows matching every filter given: ``persona`` (id, or part of the name), ``since``
    (YYYY-MM-DD, on the start date), ``outcome``, ``status``, and ``text`` (any of the shown
    fields, case-insensitive)."""
    out = []
    for r in rows:
        if persona and persona != r.persona_id and persona.lower() not in r.persona_name.lower():
            continue
        if since and (r.started_at or "")[:10] < since:
            continue
        if outcome and (r.outcome or "open") != outcome:
            continue
        if status and r.status != status:
            continue
        if text:
            hay = " ".join([r.persona_id, r.persona_name, r.persona_title, r.outcome or "open", r.status,
                            r.started_at or ""]).lower().replace("_", " ")
            if not all(word in hay for word in text.lower().split()):
                continue
        out.append(r)
    return out


def summary_line(r: SessionSummary) -> str:
    """One row of `roleplay sessions`: id, date, persona, duration, outcome, score, status."""
    if r.status == "unreadable":
        return f"{r.folder}  unreadable: {r.reason}"
    started = r.started()
    when = started.astimezone().strftime("%Y-%m-%d %H:%M") if started else "?"
    duration = r.duration_text
    score = f"{r.score:.2f} {'pass' if r.passed else 'not yet'}" if r.score is not None else "–"
    return (f"{r.folder}  {when}  {r.persona_name[:22]:<22} {duration:>6}  {(r.outcome or 'open').replace('_', ' '):<16}"
            f" {score:<12} {r.status}")
