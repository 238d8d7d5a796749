"""``roleplay evaluate``: grade one session, or every session waiting for grading.

A thin layer over :mod:`simulator.grading.evaluator`, shared by the CLI and ``roleplay run``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from ..content.rubric import Rubric
from ..core.errors import RoleplayError
from ..core.text import bar


def session_rubric(record, library=None, rubric_id: str | None = None) -> Rubric:
    """The rubric to grade with: ``rubric_id`` from the library, else the session's snapshot."""
    if rubric_id:
        return library.rubric(rubric_id)
    return record.rubric_snapshot()


def evaluator_settings(args: argparse.Namespace, workspace: Path):
    from ..models.config import load_settings

    # for `evaluate`, --model names the judge
    judge = getattr(args, "evaluator_model", None) or (getattr(args, "model", None)
                                                       if getattr(args, "command", "") == "evaluate" else None)
    return load_settings(workspace, evaluator_model=judge).evaluator


def grade(record, rubric: Rubric, settings) -> "object":
    from ..models.gateway import Gateway
    from .evaluator import evaluate

    return asyncio.run(evaluate(record, rubric, Gateway(settings)))


def _print_outcome(record, outcome, as_json: bool) -> None:
    from .report import evaluation_text

    if as_json:
        evaluation = outcome.evaluation.to_dict() if outcome.evaluation else None
        print(json.dumps({"session_id": record.session_id, "evaluation": evaluation,
                          "measured": outcome.measured, "evaluation_pending": outcome.evaluation is None,
                          "pending_reason": outcome.pending_reason,
                          "report": str(outcome.report_path) if outcome.report_path else None},
                         ensure_ascii=False, indent=2))
        return
    if outcome.evaluation:
        text = evaluation_text(outcome.evaluation)
        print(f"{record.session_id}: {text.verdict} {text.result} — report: {outcome.report_path}")
        if text.note:
            print(f"note: {text.note}", file=sys.stderr)
        if outcome.pending_reason:
            print(f"{record.session_id}: judge pending — {outcome.pending_reason}", file=sys.stderr)
    else:
        print(f"{record.session_id}: evaluation pending — {outcome.pending_reason}; measured figures are in "
              f"{outcome.report_path}", file=sys.stderr)


def run_cli(args: argparse.Namespace, workspace: Path) -> int:
    from ..content.library import load_library
    from ..practice.sessions import iter_sessions, load_session

    settings = evaluator_settings(args, workspace)
    library = load_library(workspace) if args.rubric else None
    if args.pending:
        waiting = [r for r in iter_sessions(workspace) if r.evaluation_pending]
        if not waiting:
            print("no sessions are waiting for grading", file=sys.stderr)
            return 0
        failures = 0
        for number, record in enumerate(reversed(waiting), 1):
            print(f"{bar(number - 1, len(waiting))} {number - 1}/{len(waiting)} grading {record.session_id}…",
                  file=sys.stderr)
            outcome = grade(record, session_rubric(record, library, args.rubric), settings)
            failures += outcome.evaluation is None or outcome.pending_reason is not None
            _print_outcome(record, outcome, args.json)
        print(f"{bar(1, 1)} {len(waiting)}/{len(waiting)} done, {failures} still pending", file=sys.stderr)
        return 1 if failures else 0
    if not args.session:
        raise RoleplayError("name a session to grade (`roleplay sessions` lists them), or use --pending")
    record = load_session(workspace, args.session)
    if not record.ended:
        raise RoleplayError(f"session {record.session_id} has not ended — finish it before grading")
    outcome = grade(record, session_rubric(record, library, args.rubric), settings)
    _print_outcome(record, outcome, args.json)
    return 0 if outcome.evaluation and not outcome.pending_reason else 1


def report_played(played, as_json: bool) -> int:
    """``roleplay run``'s ending: grade the session just played and print the result."""
    from .report import evaluation_text

    conversation, rubric, settings = played.conversation, played.rubric, played.settings
    if not settings.evaluator.capabilities.judge and not as_json:
        print("scoring from evidence in the transcript (the built-in model is too small to judge)…", file=sys.stderr)
    outcome = grade(conversation.record, rubric, settings.evaluator)
    if as_json:
        data = conversation.record.to_dict()
        data["measured"] = outcome.measured
        data["evaluation"] = outcome.evaluation.to_dict() if outcome.evaluation else None
        print(json.dumps(data, ensure_ascii=False, indent=2))
    elif outcome.evaluation:
        text = evaluation_text(outcome.evaluation)
        verdict = f"{text.verdict} {text.result}"
        if outcome.pending_reason:
            verdict = (f"evaluation pending: {outcome.pending_reason}; from evidence for now: {verdict}; "
                       "`roleplay evaluate --pending` asks the judge again")
        print(f"[{verdict}] report: {outcome.report_path}")
    else:
        print(f"[evaluation pending: {outcome.pending_reason}] measured figures: {outcome.report_path}")
    return 0
