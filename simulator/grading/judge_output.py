"""Checking the judge's output: a reply that cannot be used is retried (:class:`JudgeOutputError`),
and on the last attempt repaired where it can be (a score read from text, clamped into the
scale) with the repair recorded; a quote that is not in the transcript is moved to the turn it
really is in, or dropped and recorded; a better reply that is not a learner turn, or that would
be poor advice (:func:`simulator.practice.coach.advice_problem`), is dropped and recorded."""

from __future__ import annotations

import re
from typing import Any

from ..content.rubric import Criterion, Rubric
from ..core.text import neutralise_turn
from ..practice.coach import advice_problem
from ..practice.evaluation import BetterReply, CriterionGrade
from ..practice.sessions import SessionRecord


class JudgeOutputError(Exception):
    """The judge's reply could not be used as it is (retried, then repaired or failed)."""


# -- validation ----------------------------------------------------------------------------

def _find(needle: str, haystack: str) -> str | None:
    """The span of ``haystack`` matching ``needle`` case-insensitively, whitespace-flexibly."""
    words = needle.split()
    if not words:
        return None
    match = re.search(r"\s+".join(map(re.escape, words)), haystack, re.IGNORECASE)
    return match.group(0) if match else None


def locate_quote(quote: str, record: SessionRecord, turn: int | None) -> tuple[int, str] | None:
    """(turn index, the exact words in the transcript) for a quote, preferring the stated turn.
    The quote as given is tried first, then without its outer punctuation; in each turn as
    written, then as the judge read it (:func:`neutralise_turn`)."""
    raw = quote.strip().strip("\"“”'‘’")
    loose = raw.strip(" .,!?;:…")
    if len(loose) < 3:
        return None
    spoken = [t for t in record.turns if t.speaker in ("learner", "customer")]
    for t in sorted(spoken, key=lambda t: t.index != turn):
        for needle in (raw, loose):
            found = _find(needle, t.text) or _find(needle, neutralise_turn(t.text))
            if found:
                return t.index, found
    return None


_PLACEHOLDER = re.compile(r"^\s*(<[^>]*>|\.\.\.|…|n/?a|none)?\s*$", re.IGNORECASE)


def _text(value: Any, limit: int) -> str:
    """Judge text, with template placeholders ("<one or two sentences>") treated as empty."""
    text = " ".join(str(value or "").split())[:limit]
    return "" if _PLACEHOLDER.match(text) else text


def _score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(round(value))
    if isinstance(value, str):
        words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "zero": 0}
        match = re.search(r"-?\d+(\.\d+)?", value)
        if match:
            return int(round(float(match.group(0))))
        for word, number in words.items():
            if re.search(rf"\b{word}\b", value.lower()):
                return number
    return None


def check_criterion(data: dict[str, Any] | None, raw: str, criterion: Criterion, rubric: Rubric,
                    record: SessionRecord, *, final: bool) -> tuple[CriterionGrade, list[dict[str, Any]]]:
    """One criterion's judgement, checked, and what was dropped from it (quotes that are not in
    the transcript). Raises JudgeOutputError (to retry) unless ``final``, where it repairs what
    it can and records how."""
    low, high = rubric.scale
    repairs: list[str] = []
    if data is None:
        if not final:
            raise JudgeOutputError("no JSON object in the reply")
        found = re.search(r"score\D{0,5}(\d+)", raw, re.IGNORECASE)
        score = _score(found.group(1)) if found else None
        if score is None:
            raise JudgeOutputError("no JSON and no score in the reply")
        data = {"score": score, "reason": " ".join(raw.split())[:300]}
        repairs.append("reply was not JSON; score taken from its text")
    raw_score = data.get("score")
    score = _score(raw_score)
    if score is None:
        raise JudgeOutputError(f"score {raw_score!r} is not a number")
    if not isinstance(raw_score, int) or isinstance(raw_score, bool):
        if not final:
            raise JudgeOutputError(f"score {raw_score!r} is not an integer")
        repairs.append(f"score {raw_score!r} read as {score}")
    if not low <= score <= high:
        if not final:
            raise JudgeOutputError(f"score {score} is outside {low}-{high}")
        clamped = max(low, min(high, score))
        repairs.append(f"score {score} outside {low}-{high}, clamped to {clamped}")
        score = clamped
    evidence, dropped = [], []
    items = data.get("evidence") if isinstance(data.get("evidence"), list) else []
    for item in items[:3]:
        if not isinstance(item, dict):
            continue
        quote = str(item.get("quote") or "")
        turn = item.get("turn") if isinstance(item.get("turn"), int) else None
        found = locate_quote(quote, record, turn)
        if found is None:
            dropped.append({"criterion": criterion.id, "what": "evidence", "turn": turn, "quote": quote[:200],
                            "why": "not in the transcript"})
            continue
        if turn != found[0]:
            repairs.append(f"quote moved from turn {turn} to turn {found[0]}, where it is")
        evidence.append({"turn": found[0], "quote": found[1]})
    return CriterionGrade(id=criterion.id, name=criterion.name, weight=criterion.weight, score=score,
                          reason=_text(data.get("reason"), 600), evidence=evidence,
                          improvement=_text(data.get("improvement"), 400), repairs=repairs), dropped


def check_overall(data: dict[str, Any] | None, record: SessionRecord, *, final: bool) -> dict[str, Any]:
    """Validate the overall judgement (strengths, changes, better replies). Raises
    JudgeOutputError (to retry) unless ``final``, where what cannot be used is dropped."""
    learner = {t.index: t.text for t in record.turns if t.speaker == "learner"}
    if data is None:
        if not final:
            raise JudgeOutputError("no JSON object in the overall reply")
        data = {}

    def texts(key: str) -> list[str]:
        items = data.get(key) if isinstance(data.get(key), list) else []
        return [t for t in (_text(s, 300) for s in items) if t][:3]

    better, dropped = [], []
    for item in (data.get("better_replies") or [])[:3]:
        if not (isinstance(item, dict) and item.get("turn") in learner and _text(item.get("better"), 500)):
            dropped.append({"what": "better_reply", "item": str(item)[:200], "why": "not a learner turn"})
        elif problem := advice_problem(_text(item.get("better"), 500), record.turns, rewrite=True,
                                       customer_name=str(record.persona.get("name") or "")):
            dropped.append({"what": "better_reply", "item": str(item)[:200], "why": problem})
        else:
            better.append(BetterReply(turn=item["turn"], original=learner[item["turn"]],
                                      better=_text(item.get("better"), 500)))
    return {"strengths": texts("strengths"), "changes": texts("changes"), "better_replies": better,
            "dropped": dropped}
