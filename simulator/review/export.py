"""``roleplay export``: sessions for trainers and spreadsheets.

* ``md`` (one session): the feedback report, the same text as its ``report.md`` (the
  latest evaluation, or the measured part and why grading is pending);
* ``json`` (one session): the whole record, with ``measured`` and the latest ``evaluation``;
* ``csv`` (``--all``): one row per session, newest first: id, date, learner, persona,
  outcome, duration, learner turns, overall score, passed, evaluation status, one column per
  criterion (its score), and the measured figures (median response time, questions,
  open and closed, repeated, apologies, jargon words, reading ease, hidden facts revealed,
  name used). An unreadable session is a row with status ``unreadable`` and the reason.
  A text cell that a spreadsheet would run as a formula (it starts with ``= + - @``, a tab
  or a carriage return) starts with ``'`` (:func:`core.sanitize.csv_cell`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..practice.sessions import SessionRecord, UnreadableSession

FIGURES = ("median_response_time_s", "questions", "open_questions", "closed_questions", "repeated_questions",
           "apologies", "jargon_used", "reading_ease", "hidden_revealed", "customer_name_used")


def session_markdown(record: "SessionRecord") -> str:
    from ..grading.metrics import measure
    from ..grading.report import render_report

    evaluation = record.latest_evaluation()
    pending = None if evaluation else (record.pending_reason or ("not graded yet" if record.ended else
                                                                 "the session has not ended"))
    return render_report(record, record.rubric_snapshot(), measure(record), evaluation, pending)


def session_json(record: "SessionRecord") -> str:
    from ..grading.metrics import measure

    latest = record.latest_evaluation()
    data = record.to_dict() | {"measured": measure(record).to_dict(), "evaluation": latest and latest.to_dict()}
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _figure(measured: dict[str, Any], name: str) -> Any:
    value = measured.get(name)
    return len(value) if isinstance(value, list) else value


def sessions_csv(items: list["SessionRecord | UnreadableSession"]) -> str:
    from ..core.sanitize import csv_text
    from ..grading.metrics import measure
    from ..practice.sessions import UnreadableSession
    from .index import summarise

    rows, criteria = [], {}
    for item in items:
        if isinstance(item, UnreadableSession):
            rows.append({"session_id": item.session_id, "status": "unreadable", "note": item.reason})
            continue
        row = summarise(item, item.folder.name if item.folder else item.session_id, [])
        measured = measure(item).to_dict()
        criteria.update({cid: None for cid in row.criteria})
        rows.append({"session_id": item.session_id, "date": item.started_at, "learner": item.learner or "",
                     "persona_id": item.persona_id, "persona": row.persona_name, "outcome": item.outcome or "open",
                     "duration_s": row.duration_s, "learner_turns": row.learner_turns, "overall": row.score,
                     "passed": row.passed, "status": row.status, "note": row.reason,
                     **row.criteria, **{name: _figure(measured, name) for name in FIGURES}})
    columns = ["session_id", "date", "learner", "persona_id", "persona", "outcome", "duration_s", "learner_turns",
               "overall", "passed", "status", *criteria, *FIGURES, "note"]
    return csv_text([columns, *([row.get(c) for c in columns] for row in rows)])


def run_cli(args: Any, workspace) -> int:
    """``roleplay export SESSION --format md|json`` or ``roleplay export --all [--format csv]``."""

    from ..core.errors import RoleplayError
    from ..core.storage import write_out
    from ..practice.sessions import load_session, scan_sessions

    if args.all:
        if args.session:
            raise RoleplayError("give a session or --all, not both")
        if (args.format or "csv") != "csv":
            raise RoleplayError("--all exports a table: use --format csv (md and json are for one session)")
        text = sessions_csv(scan_sessions(workspace))
    else:
        if not args.session:
            raise RoleplayError("name a session (`roleplay sessions` lists them), or use --all")
        if (args.format or "md") == "csv":
            raise RoleplayError("csv is for --all; one session exports as md or json")
        record = load_session(workspace, args.session)
        text = session_json(record) if args.format == "json" else session_markdown(record)
    write_out(text, args.output, "exported", force=getattr(args, "force", False))
    return 0
