"""The history index: one summary row per session folder, for lists that stay fast.

``sessions/.index.json`` holds a row per session folder with the size, modification time,
inode and change time of the files it was read from (a file rewritten in place with its
old size and modification time put back still has a new change time; one replaced has a
new inode). Listing the sessions reads that one file and looks at each folder's files (two
``stat`` calls); only a folder whose files changed, or that is new, is read again. The
session files stay the truth: delete the index and it is rebuilt from them; a row of it
that is not as this module writes it (a wrong type), or an index nested too deeply, is
read again from the session files; a folder that disappears leaves the index. A session
that cannot be read (corrupt, truncated, of the wrong types, from a newer format) is a
row with ``status`` "unreadable" and the reason, never dropped.

Evaluation status (``status``): ``open`` (not ended: can be resumed), ``pending`` (ended,
not graded yet), ``failed`` (grading failed and left a reason, or the saved evaluation is
damaged), ``evidence`` (graded by the evidence rules; ``reason`` says so when a judge is
still pending), ``graded`` (graded by a judge model), ``unreadable``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.storage import atomic_write_text
from ..practice.sessions import (
    JOURNAL,
    RECORD,
    SessionRecord,
    answered_turns,
    fields_problem,
    in_range,
    read_session,
    sessions_dir,
)

INDEX = ".index.json"
INDEX_VERSION = 5  # 4: the first line is the digest of the rest; 5: evaluations
STATUSES = ("open", "pending", "failed", "evidence", "graded", "unreadable")
FIGURES = ("apologies", "open_share", "median_response_time_s", "jargon", "reading_ease",
           "words_per_minute", "fillers_per_100")  # the last two: spoken sessions only


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
    pass_mark: int | float | None = None
    scale: list[int] = field(default_factory=list)
    method: str | None = None  # "judge" or "evidence"
    criteria: dict[str, int | float] = field(default_factory=dict)  # criterion id -> score, latest evaluation
    criterion_names: dict[str, str] = field(default_factory=dict)
    figures: dict[str, int | float | None] = field(default_factory=dict)  # FIGURES, from the measured part
    branched_from: dict[str, Any] | None = None
    learner: str | None = None
    evaluations: int = 0  # evaluations saved (a regrade adds one): what the LRS outbox queues
    stamp: list[int] = field(default_factory=list)  # size, mtime, inode, ctime of each file read (_stamp)

    @property
    def graded(self) -> bool:
        return self.score is not None

    def listing(self, folder: Path) -> dict[str, Any]:
        """The row as ``roleplay sessions --json`` prints it: every field but the file stamps,
        the session folder's path, and why it cannot be read when it cannot. Shallow (no
        ``dataclasses.asdict`` deep copy: 10,000 rows took seconds)."""
        row = {k: v for k, v in vars(self).items() if k != "stamp"}
        row["folder"] = os.path.join(folder, self.folder)
        if self.status == "unreadable":
            row["unreadable"] = self.reason
        return row

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


ROW_KEYS = frozenset(f.name for f in fields(SessionSummary))  # what an index row holds


def _stamp(folder: str) -> list[int] | None:
    """Size, mtime, inode and ctime (ns) of the journal and of session.json; None when
    neither exists."""
    out: list[int] = []
    for name in (JOURNAL, RECORD):
        try:
            st = os.stat(os.path.join(folder, name))
            out += [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
        except OSError:
            out += [-1, -1, -1, -1]
    return None if out[0] == -1 and out[4] == -1 else out


def _number(value: Any) -> Any:
    """``value`` when it is a number (not true/false), else None: a saved evaluation's
    figures are shown only when they are what they say."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and in_range(value) else None


def _figures(measured: dict[str, Any]) -> dict[str, float | None]:
    questions, jargon = _number(measured.get("questions")), measured.get("jargon_used")
    return {"apologies": _number(measured.get("apologies")),
            "open_share": round((_number(measured.get("open_questions")) or 0) / questions, 2) if questions else None,
            "median_response_time_s": _number(measured.get("median_response_time_s")),
            "jargon": len(jargon) if isinstance(jargon, list) else 0,
            "reading_ease": _number(measured.get("reading_ease"))} | _speech_figures(measured.get("speech"))


def _speech_figures(speech: Any) -> dict[str, float | None]:
    """Words per minute and fillers per 100 words of a spoken session (issue 22); none when typed."""
    if not isinstance(speech, dict):
        return {}
    return {"words_per_minute": _number(speech.get("words_per_minute")),
            "fillers_per_100": _number(speech.get("fillers_per_100_words"))}


def summarise(record: SessionRecord, folder: str, stamp: list[int]) -> SessionSummary:
    """The index row of a readable session."""
    from ..grading.metrics import measure

    latest = record.latest_evaluation()
    if not record.ended:
        status, reason = "open", "unfinished: it can be resumed"
    elif not record.evaluations:
        status, reason = ("failed", record.pending_reason) if record.pending_reason else ("pending", "not graded yet")
    elif latest is None:
        status, reason = "failed", "the saved evaluation is damaged: grade it again"
    elif latest.by_evidence:
        status = "evidence"
        reason = f"judge pending: {record.pending_reason}" if record.pending_reason else "graded by the evidence rules"
    else:
        status, reason = "graded", f"judged by {latest.judge_model or 'a model'}"
    measured = latest.measured if latest and latest.measured else measure(record).to_dict()
    overall = latest.overall if latest else None
    return SessionSummary(
        folder=folder, session_id=record.session_id, status=status, reason=str(reason or ""),
        started_at=record.started_at, ended_at=record.ended_at, persona_id=record.persona_id,
        persona_name=str(record.persona.get("name") or record.persona_id),
        persona_title=str(record.persona.get("title") or ""), outcome=record.outcome,
        duration_s=_number(measured.get("duration_s")), learner_turns=answered_turns(record.turns),
        score=float(overall.score) if overall else None, passed=overall.passed if overall else None,
        pass_mark=overall.pass_mark if overall else None,
        scale=list(overall.scale) if overall and len(overall.scale) == 2 else [],
        method=latest.method if latest else None,
        criteria={c.id: c.score for c in latest.criteria} if latest else {},
        criterion_names={c.id: c.label for c in latest.criteria} if latest else {},
        figures=_figures(measured), branched_from=record.branched_from, learner=record.learner,
        evaluations=len(record.evaluations), stamp=stamp)


def _read_row(path: str, name: str, stamp: list[int]) -> SessionSummary:
    from ..core.errors import RoleplayError

    try:
        record = read_session(Path(path))
    except (RoleplayError, OSError) as exc:
        return SessionSummary(folder=name, session_id=name, status="unreadable", reason=str(exc), stamp=stamp)
    try:
        return summarise(record, name, stamp)
    except Exception as exc:  # noqa: BLE001 - one session this cannot summarise is one row, never a broken list
        return SessionSummary(folder=name, session_id=name, status="unreadable", stamp=stamp,
                              reason=f"{path}: cannot be summarised ({type(exc).__name__}: {exc}) — "
                                     "please report this with the session folder")


def _load(path: Path) -> dict[str, SessionSummary]:
    """The saved rows that are as :func:`folder_index` writes them; none when the file is
    missing or damaged (a damaged row alone is left out: its session is read again)."""
    try:
        digest, _, text = path.read_text(encoding="utf-8").partition("\n")
        data = json.loads(text)
    except (OSError, ValueError, RecursionError):  # missing, damaged or nested too deeply: rebuilt
        return {}
    # as this module wrote it (the digest of the rest matches): its rows need no type checks, which
    # took most of the time of a warm listing; an index edited by hand is checked row by row
    intact = digest == _digest(text)
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION or not isinstance(data.get("sessions"), list):
        return {}
    names = data.get("criterion_names")
    names = {k: v for k, v in names.items() if isinstance(v, str)} if isinstance(names, dict) else {}
    rows = {}
    for row in data["sessions"]:
        if not intact and (not isinstance(row, dict) or not row.keys() <= ROW_KEYS  # not a row written here
                           or fields_problem(row, SessionSummary, ("folder", "session_id", "status"))
                           or row["status"] not in STATUSES):
            continue  # its session is read again
        summary = SessionSummary(**row)
        summary.criterion_names = {cid: names.get(cid) or summary.criterion_names.get(cid, cid)
                                   for cid in summary.criteria}
        rows[summary.folder] = summary
    return rows


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
            text = json.dumps({"version": INDEX_VERSION, "criterion_names": names,
                               "sessions": [{k: v for k, v in vars(r).items() if k != "criterion_names"}
                                            for r in rows]}, ensure_ascii=False, separators=(",", ":"))
            atomic_write_text(folder / INDEX, f"{_digest(text)}\n{text}")
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
