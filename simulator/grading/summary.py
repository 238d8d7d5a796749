"""The measurements as short lines a person reads (the report and the feedback screen)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .metrics import Measurements


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s"


def summary_lines(m: Measurements) -> list[str]:
    """Short human-readable lines, one per group of measures."""
    lines = []
    duration = f", {_seconds(m.duration_s)} in all" if m.duration_s is not None else ""
    lines.append(f"Learner turns: {m.learner_turns}{duration}")
    if m.median_response_time_s is not None:
        lines.append(f"Median response time {m.median_response_time_s:.1f} s "
                     f"(slowest {m.slowest_response_time_s:.1f} s)")
    if m.turns_to_resolution is not None:
        lines.append(f"Resolved after {m.turns_to_resolution} learner turn{'s' if m.turns_to_resolution != 1 else ''}")
    else:
        lines.append(f"Not resolved (outcome: {(m.outcome or 'still open').replace('_', ' ')})")
    if m.talk_ratio is not None:
        lines.append(f"Talk ratio {m.talk_ratio:.2f} (learner {m.learner_words} words, "
                     f"customer {m.customer_words})")
    repeated = len(m.repeated_questions)
    lines.append(f"Questions: {m.questions} ({m.open_questions} open, {m.closed_questions} closed), "
                 f"{repeated} repeated")
    lines.append(f"Apologies: {m.apologies}" + (" — over-apologising" if m.over_apologising else ""))
    if m.jargon_used:
        lines.append("Jargon: " + ", ".join(f"{j['word']} (turn {j['turn']})" for j in m.jargon_used))
    else:
        lines.append("Jargon: none")
    if m.reading_ease is not None:
        hardest = m.hardest_to_read
        lines.append(f"Reading ease {m.reading_ease:.0f} of 100 (60+ is plain English)"
                     + (f"; hardest: turn {hardest['turn']} at {hardest['ease']:.0f}" if hardest else ""))
    if m.customer_name_used:
        lines.append("Customer's name used in turn" + ("s " if len(m.customer_name_turns) > 1 else " ")
                     + ", ".join(map(str, m.customer_name_turns)))
    else:
        lines.append("Customer's name not used")
    if m.frustration_path:
        lines.append("Frustration " + " → ".join(map(str, m.frustration_path)))
    lines.append(f"Hidden facts revealed: {len(m.hidden_revealed)}")
    if getattr(m, "speech", None) is not None:  # spoken turns only: a typed session's lines are as before
        from .speech import speech_lines

        lines += speech_lines(m.speech)
    for flag in m.grader_manipulation_flags:
        lines.append(f"Possible grader manipulation in turn {flag['turn']}: \"{flag['text']}\"")
    return lines
