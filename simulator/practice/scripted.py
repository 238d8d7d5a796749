"""Sessions written out in full, with no model: both sides scripted.

For measuring the grading rules on a labelled set (tests, ``benchmarks/grading.py``) and for
trying a rubric on a known conversation: the customer's lines and the conversation's state
after each of them (frustration, hidden facts revealed, outcome) are given, not simulated.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .sessions import Journal, SessionRecord, Turn, TurnState

if TYPE_CHECKING:
    from ..content.persona import Persona
    from ..content.rubric import Rubric


def scripted_record(persona: "Persona", rubric: "Rubric", learner: list[str], customer: list[str], *,
                    frustration: list[int] | None = None, revealed: dict[int, list[int]] | None = None,
                    outcome: str = "ended_by_learner", response_times: list[float] | None = None) -> SessionRecord:
    """A finished session: the persona's opening, then each learner line (1-based ``n``)
    followed by ``customer[n-1]`` (the last one repeated when the list is short) with the
    frustration after it (``frustration[n-1]``, default: unchanged), the hidden facts
    revealed at it (``revealed[n]``), and ``outcome`` on the last reply."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    clock = start
    level = persona.frustration.start
    shown: list[int] = []
    record = SessionRecord(session_id=f"scripted-{persona.id}", started_at=start.isoformat(), persona_id=persona.id,
                           persona=persona.model_dump(mode="json"), rubric_id=rubric.id,
                           rubric=rubric.model_dump(mode="json"), models={"persona": "scripted"})
    record.turns.append(Turn(index=0, speaker="customer", text=persona.opening, at=clock.isoformat(),
                             state=TurnState(frustration=level)))
    for n, line in enumerate(learner, 1):
        wait = float(response_times[n - 1]) if response_times and n <= len(response_times) else 15.0
        clock += timedelta(seconds=wait)
        record.turns.append(Turn(index=len(record.turns), speaker="learner", text=line, at=clock.isoformat(),
                                 response_time_s=wait))
        level = frustration[n - 1] if frustration and n <= len(frustration) else level
        shown += [i for i in (revealed or {}).get(n, []) if i not in shown]
        state = TurnState(frustration=level, revealed=list(shown))
        if n == len(learner) and outcome in ("resolved", "gave_up"):
            state.outcome = outcome
        clock += timedelta(seconds=2)
        reply = customer[min(n, len(customer)) - 1] if customer else "Okay."
        record.turns.append(Turn(index=len(record.turns), speaker="customer", text=reply, at=clock.isoformat(),
                                 state=state))
    record.outcome = outcome
    record.ended_at = clock.isoformat()
    return record


def save_record(record: SessionRecord, workspace: Path) -> SessionRecord:
    """Write a scripted session to the workspace as the app would have: its journal (header,
    turns, end) and ``session.json``."""
    journal = Journal.create(record, workspace)
    for turn in record.turns:
        journal.append({"type": "turn", **turn.to_dict()})
    if record.outcome:
        journal.append({"type": "end", "outcome": record.outcome, "reason": record.end_reason, "at": record.ended_at})
    journal.snapshot(record)
    return record
