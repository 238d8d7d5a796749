"""Replay and compare: a saved session turn by turn with its feedback attached, and two
attempts side by side.

* :func:`turn_notes`: for each turn, what the feedback says about it — the criteria whose
  evidence quotes it (score and quote), the weakest-turn advice for it (what went wrong,
  the criterion, what to do instead) and a better reply when a capable judge wrote one.
* :func:`frustration_at`: the customer's frustration as it was when each turn was on screen
  (after a customer turn, its state; a learner turn is read with the frustration before it).
* :func:`compare_lines`: a try-again (or a second session on the same persona) against the
  earlier attempt: overall and per-criterion scores, and for a try-again from a turn, the
  learner's first and second message at that turn.
* :func:`previous_attempt`: the attempt to compare with: the session a try-again branched
  from, else the latest earlier graded session on the same persona (from the history index).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..practice.evaluation import Evaluation
    from ..practice.sessions import SessionRecord


def turn_notes(evaluation: "Evaluation | None") -> dict[int, list[str]]:
    """What the evaluation says about each turn, by turn index."""
    from ..grading.report import evaluation_text

    notes: dict[int, list[str]] = {}
    if evaluation is None:
        return notes
    text = evaluation_text(evaluation)
    for c in text.criteria:
        for turn, words in c.quotes:
            if turn is not None:
                notes.setdefault(turn, []).append(f"{c.name} {c.score}: {words}")
    for w in text.weak_turns:
        notes.setdefault(w.turn, []).extend(f"✗ {fault} → {instead}" for fault, instead in w.faults)
        if w.better:
            notes[w.turn].append(f"Better: {w.better}")
    for b in text.better_replies:
        notes.setdefault(b.turn, []).append(f"Better: {b.better}")
    return notes


def frustration_at(record: "SessionRecord") -> dict[int, int]:
    """Frustration (0-10) as it stood at each turn."""
    level = int(((record.persona.get("frustration") or {}).get("start")) or 0)
    out: dict[int, int] = {}
    for turn in record.turns:
        if turn.speaker == "customer" and turn.state and isinstance(turn.state.frustration, int):
            level = turn.state.frustration
        out[turn.index] = level
    return out


def _scores(record: "SessionRecord") -> tuple[float | None, dict[str, tuple[str, float]]]:
    latest = record.latest_evaluation()
    if latest is None:
        return None, {}
    return latest.overall.score, {c.id: (c.label, c.score) for c in latest.criteria}


def compare_lines(new: "SessionRecord", old: "SessionRecord") -> list[str]:
    """``new`` against the earlier attempt ``old``, as text lines."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(old.started_at).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        when = old.started_at[:16]
    branch = new.graded_from if (new.branched_from or {}).get("session_id") == old.session_id else 0
    lines = [f"This attempt against your earlier one ({when}" + (f", tried again from turn {branch})" if branch
                                                                 else ")") + ":"]
    new_overall, new_criteria = _scores(new)
    old_overall, old_criteria = _scores(old)

    def arrow(a: float | None, b: float | None) -> str:
        if a is None or b is None:
            return ""
        return "↑" if b > a else "↓" if b < a else "="

    def num(value: float | None, places: int) -> str:
        return "—" if value is None else f"{value:.{places}f}"

    lines.append(f"  {'Overall':<22} {num(old_overall, 2):>5} → {num(new_overall, 2):<5} {arrow(old_overall, new_overall)}")
    for cid in dict.fromkeys([*old_criteria, *new_criteria]):
        name = (new_criteria.get(cid) or old_criteria.get(cid))[0]
        a = old_criteria.get(cid, ("", None))[1]
        b = new_criteria.get(cid, ("", None))[1]
        lines.append(f"  {name[:22]:<22} {num(a, 0):>5} → {num(b, 0):<5} {arrow(a, b)}")
    if new_overall is None:
        lines.append("  (this attempt is not graded yet)")
    if branch:
        first = next((t.text for t in old.turns if t.index == branch), "")
        second = next((t.text for t in new.turns if t.index == branch), "")
        lines += ["", f"Turn {branch}, first time:  “{first}”", f"Turn {branch}, this time:   “{second}”"]
    return lines


def previous_attempt(record: "SessionRecord", workspace: Path) -> "SessionRecord | None":
    """The session a try-again branched from, else the latest earlier graded session on the
    same persona, read from its folder; None when there is none (or it cannot be read)."""
    from ..core.errors import RoleplayError
    from ..core.ids import check_id
    from ..practice.sessions import load_session, read_session
    from .index import session_index

    try:
        if record.branched_from and record.branched_from.get("session_id"):
            return load_session(workspace, check_id(record.branched_from["session_id"], "session id"))  # not a path
        own = record.folder.name if record.folder else record.session_id
        for row in session_index(workspace):  # newest first
            if row.folder < own and row.persona_id == record.persona_id and row.score is not None:
                return read_session(workspace / "sessions" / row.folder)
    except (RoleplayError, OSError):
        return None
    return None
