"""What voice adds to the measured figures (issue 22): how the learner's spoken turns sounded.

Read from the learner turns that carry a :class:`~simulator.practice.sessions.SpokenTurn`
(``turn.voice``, ``spoken`` true), from the turn a try-again branched at on, as
:class:`SpeechFigures` (``Measurements.speech``; None when no turn was spoken, so a typed
session's figures are exactly as before):

* ``words_per_minute`` — the words recognised over the seconds spoken, all spoken turns
  together; ``pace``: per turn ``{turn, wpm, words, duration_s, says}``, ``says`` one of
  ``fast``, ``slow``, ``ok`` or ``unrated`` (an utterance shorter than ``pace.min_seconds``).
  Words: ``voice.words``, else the words of ``voice.recognised``, else of the turn's text.
* ``long_pauses`` — ``{turn, seconds}`` where the learner took longer than
  ``pause_before_answer.long_s`` to start speaking (``voice.speech_started_s``);
  ``longest_pause_s`` the longest wait of any spoken turn.
* ``fillers`` (count), ``fillers_per_100_words`` (of ``spoken_words``), ``filler_words``
  (each filler and how often) and ``filler_turns`` (``{turn, count, words}``, turn order),
  counted in the words as recognised (``voice.recognised``: what was said, before the learner
  edited it), else in the turn's text. ``like``, ``you know``, ``I mean``, ``sort of`` and
  ``kind of`` count only as fillers ("it was, like, broken"), never in "I'd like to" or
  "like this": the rules are in the data file (:func:`filler_counts`).
* ``talk_overs`` — ``{turn, seconds}`` where the learner spoke over the customer's voice for
  ``talk_over.min_s`` or more (``voice.talk_over_s``); ``talk_over_s`` their total.
* ``edited_turns`` — the spoken turns the learner changed before sending.
* ``advice`` — what to do about it, worded from the data file (:func:`.advice.speech_advice`).

The thresholds, the fillers and the advice's wording are data: ``rubrics/speech/speech.yaml``
(the workspace's copy, else the bundled one), each rule with its own examples, which the
tests check. A workspace copy that cannot be read is named in ``rules_note`` (path:line:col
and what is wrong) and the bundled rules are used instead.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ..content.formats import FileModel, load_model
from ..core import locations
from ..core.errors import FileFormatError

if TYPE_CHECKING:
    from ..practice.sessions import SessionRecord, Turn

SPEECH = "speech"  # rubrics/speech/
RULES_FILE = "speech.yaml"

Text = Annotated[str, StringConstraints(min_length=1)]
Words = Annotated[str, StringConstraints(min_length=1, to_lower=True)]


# -- the data file -------------------------------------------------------------------------------

class PaceExample(FileModel):
    words: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    says: Literal["fast", "slow", "ok", "unrated"]


class PaceRule(FileModel):
    fast_wpm: float = Field(gt=0, description="above this many words a minute is too fast")
    slow_wpm: float = Field(ge=0, description="below this many words a minute is too slow")
    min_seconds: float = Field(0, ge=0, description="shorter utterances are not rated for pace")
    criterion: Text = "clear-communication"
    fast: Text
    fast_instead: Text
    slow: Text
    slow_instead: Text
    examples: list[PaceExample] = Field(min_length=1)


class SecondsExample(FileModel):
    seconds: float = Field(ge=0)
    says: Literal["long", "talk_over", "ok"]


class SecondsRule(FileModel):
    """A rule on some seconds of a turn: what the advice says, what to do instead, examples."""

    criterion: Text
    what: Text
    instead: Text
    examples: list[SecondsExample] = Field(min_length=1)


class PauseRule(SecondsRule):
    long_s: float = Field(gt=0, description="a wait before answering longer than this is long")
    criterion: Text = "time-management"


class TalkOverRule(SecondsRule):
    min_s: float = Field(ge=0, description="speaking over the customer this long or longer counts")
    criterion: Text = "active-listening"


class FillerExamples(FileModel):
    filler: list[Text] = Field(min_length=1, description="lines that use this filler at least once")
    not_filler: list[Text] = Field(min_length=1, description="lines with the same words that are no filler")


class FillerWord(FileModel):
    phrase: Words = Field(description="the filler, one or more words: um, you know")
    forms: list[Words] = Field(default_factory=list, description="other spellings: umm, erm")
    not_after: list[Words] = Field(default_factory=list, description="not a filler right after these words "
                                                                     "('d matches I'd, we'd)")
    not_before: list[Words] = Field(default_factory=list, description="not a filler right before these words")
    filler_otherwise: bool = Field(True, description="counted when no rule above decides")
    examples: FillerExamples


class FillerRule(FileModel):
    per_100_words: float = Field(ge=0, description="more fillers than this per 100 spoken words is advised on")
    per_turn: int = Field(1, ge=1, description="a turn with this many fillers or more is named in the advice")
    criterion: Text = "clear-communication"
    what: Text
    instead: Text
    words: list[FillerWord] = Field(min_length=1)


class SpeechRules(FileModel):
    """``rubrics/speech/speech.yaml``: the thresholds, fillers and advice of spoken turns."""

    version: Literal[1] = 1
    pace: PaceRule
    pause_before_answer: PauseRule
    talk_over: TalkOverRule
    fillers: FillerRule


def bundled_rules_path() -> Path:
    return locations.bundled_library() / locations.RUBRICS / SPEECH / RULES_FILE


def rules_path(workspace: Path | None) -> Path:
    """The workspace's speech rules when it has them, else the bundled ones."""
    if workspace is not None:
        own = Path(workspace) / locations.RUBRICS / SPEECH / RULES_FILE
        if own.is_file():
            return own
    return bundled_rules_path()


def read_rules(path: Path) -> SpeechRules:
    """One speech rules file, checked; :class:`FileFormatError` (path:line:col) when it is wrong."""
    return load_model(Path(path), SpeechRules, what="speech rules")[0]


@lru_cache(maxsize=8)
def _rules_at(path: str, stamp: tuple[int, int]) -> SpeechRules:
    return read_rules(Path(path))


def speech_rules(workspace: Path | None = None) -> tuple[SpeechRules, str | None]:
    """The rules a session is measured by, and why the workspace's own file was not used
    (one line, ``path:line:col: what``) when it cannot be read; read again once edited."""
    path = rules_path(workspace)
    try:
        stat = path.stat()
        return _rules_at(str(path), (stat.st_size, stat.st_mtime_ns)), None
    except (FileFormatError, OSError) as exc:
        if path == bundled_rules_path():
            raise
        bundled = bundled_rules_path()
        stat = bundled.stat()
        return (_rules_at(str(bundled), (stat.st_size, stat.st_mtime_ns)),
                f"{exc} — the bundled speech rules were used; fix the file or delete it")


# -- the rules ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[,]|[.?!;:]")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall((text or "").lower().replace("’", "'"))


def _matches(word: str | None, listed: list[str]) -> bool:
    if word is None:
        return False
    return any(word.endswith(item) if item.startswith("'") else word == item for item in listed)


def _is_word(token: str | None) -> bool:
    return token is not None and token not in ",.?!;:"


def filler_counts(text: str, rules: SpeechRules) -> Counter[str]:
    """Each filler of ``rules`` in ``text`` and how often (the rule of the data file: a word in
    ``not_after`` just before it, no filler; set off by a comma, a filler; a word in
    ``not_before`` just after it, no filler; else ``filler_otherwise``)."""
    tokens = _tokens(text)
    found: Counter[str] = Counter()
    for filler in rules.fillers.words:
        for form in [filler.phrase, *filler.forms]:
            words = form.split()
            size = len(words)
            for i in range(len(tokens) - size + 1):
                if tokens[i:i + size] != words:
                    continue
                before = tokens[i - 1] if i > 0 else None
                after = tokens[i + size] if i + size < len(tokens) else None
                if _is_word(before) and _matches(before, filler.not_after):
                    continue
                if before == "," or after == ",":
                    found[filler.phrase] += 1
                elif _is_word(after) and _matches(after, filler.not_before):
                    continue
                elif filler.filler_otherwise or not (filler.not_after or filler.not_before):
                    found[filler.phrase] += 1
    return found


def pace_says(words: int, duration_s: float, rules: SpeechRules) -> tuple[str, float | None]:
    """(``fast``/``slow``/``ok``/``unrated``, words per minute) of one utterance."""
    if duration_s <= 0:
        return "unrated", None
    wpm = round(words / duration_s * 60, 1)
    if duration_s < rules.pace.min_seconds:
        return "unrated", wpm
    return ("fast" if wpm > rules.pace.fast_wpm else "slow" if wpm < rules.pace.slow_wpm else "ok"), wpm


def pause_says(seconds: float, rules: SpeechRules) -> str:
    return "long" if seconds > rules.pause_before_answer.long_s else "ok"


def talk_over_says(seconds: float, rules: SpeechRules) -> str:
    return "talk_over" if seconds >= rules.talk_over.min_s and seconds > 0 else "ok"


# -- the figures --------------------------------------------------------------------------------

@dataclass
class SpeechFigures:
    """What the learner's spoken turns sounded like (field meanings in the module docstring)."""

    spoken_turns: int = 0
    spoken_words: int = 0
    words_per_minute: float | None = None
    pace: list[dict[str, Any]] = field(default_factory=list)  # {turn, wpm, words, duration_s, says}
    long_pauses: list[dict[str, Any]] = field(default_factory=list)  # {turn, seconds}
    longest_pause_s: float | None = None
    fillers: int = 0
    fillers_per_100_words: float | None = None
    filler_words: dict[str, int] = field(default_factory=dict)
    filler_turns: list[dict[str, Any]] = field(default_factory=list)  # {turn, count, words: {filler: n}}
    talk_overs: list[dict[str, Any]] = field(default_factory=list)  # {turn, seconds}
    talk_over_s: float = 0.0
    edited_turns: list[int] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    rules_note: str | None = None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z0-9]+)*")


def spoken_turns(record: "SessionRecord") -> list["Turn"]:
    """The learner turns said aloud that the grade covers."""
    graded_from = getattr(record, "graded_from", 0)
    return [t for t in record.turns if t.speaker == "learner" and t.index >= graded_from
            and t.voice is not None and t.voice.spoken]


def turn_words(turn: "Turn") -> int:
    voice = turn.voice
    if voice is not None and isinstance(voice.words, int) and not isinstance(voice.words, bool) and voice.words > 0:
        return voice.words
    return len(_WORD.findall((voice.recognised if voice and voice.recognised else None) or turn.text or ""))


def speech_figures(record: "SessionRecord", rules: SpeechRules) -> SpeechFigures | None:
    """The speech figures of ``record`` (None when the learner spoke no turn)."""
    turns = spoken_turns(record)
    if not turns:
        return None
    s = SpeechFigures(spoken_turns=len(turns))
    timed_words, timed_seconds, waits = 0, 0.0, []
    totals: Counter[str] = Counter()
    for turn in turns:
        voice = turn.voice
        assert voice is not None
        words = turn_words(turn)
        s.spoken_words += words
        duration = _number(voice.duration_s)
        if duration:
            says, wpm = pace_says(words, duration, rules)
            s.pace.append({"turn": turn.index, "wpm": wpm, "words": words, "duration_s": round(duration, 2),
                           "says": says})
            timed_words, timed_seconds = timed_words + words, timed_seconds + duration
        wait = _number(voice.speech_started_s)
        if wait is not None:
            waits.append(wait)
            if pause_says(wait, rules) == "long":
                s.long_pauses.append({"turn": turn.index, "seconds": round(wait, 1)})
        found = filler_counts(voice.recognised or turn.text, rules)
        if found:
            count = sum(found.values())
            s.filler_turns.append({"turn": turn.index, "count": count, "words": dict(found.most_common())})
            totals.update(found)
        over = _number(voice.talk_over_s)
        if over is not None and talk_over_says(over, rules) == "talk_over":
            s.talk_overs.append({"turn": turn.index, "seconds": round(over, 1)})
        if voice.edited:
            s.edited_turns.append(turn.index)
    if timed_seconds > 0:
        s.words_per_minute = round(timed_words / timed_seconds * 60, 1)
    s.longest_pause_s = round(max(waits), 1) if waits else None
    s.fillers = sum(totals.values())
    s.filler_words = dict(totals.most_common())
    s.fillers_per_100_words = round(s.fillers / s.spoken_words * 100, 1) if s.spoken_words else None
    s.talk_over_s = round(sum(t["seconds"] for t in s.talk_overs), 1)
    return s


def speech_lines(s: SpeechFigures) -> list[str]:
    """The speech figures as short lines (after the other measured figures)."""
    lines = []
    rated = [p for p in s.pace if p["says"] != "unrated"]
    pace = (f"{s.words_per_minute:.0f} words a minute" if s.words_per_minute is not None
            else "speaking rate not recorded")
    if rated:
        fastest = max(rated, key=lambda p: p["wpm"])
        pace += f" (fastest: turn {fastest['turn']} at {fastest['wpm']:.0f})"
    lines.append(f"Spoken turns: {s.spoken_turns}, {pace}")
    if s.longest_pause_s is not None:
        lines.append(f"Long pauses before answering: {len(s.long_pauses)} (longest wait {s.longest_pause_s:.1f} s)")
    per_100 = f", {s.fillers_per_100_words:.1f} per 100 words" if s.fillers_per_100_words is not None else ""
    which = (": " + ", ".join(f"{word} ×{n}" for word, n in s.filler_words.items())) if s.filler_words else ""
    lines.append(f"Filler words: {s.fillers}{per_100}{which}")
    if s.filler_turns:
        most = sorted(s.filler_turns, key=lambda t: (-t["count"], t["turn"]))[:3]
        lines.append("Most fillers in turn" + ("s " if len(most) > 1 else " ")
                     + ", ".join(f"{t['turn']} ({t['count']})" for t in most))
    lines.append(f"Talk-over: {len(s.talk_overs)}" + (f" ({s.talk_over_s:.1f} s in all)" if s.talk_overs else ""))
    if s.edited_turns:
        lines.append("Recognised text edited before sending in turn" + ("s " if len(s.edited_turns) > 1 else " ")
                     + ", ".join(map(str, s.edited_turns)))
    if s.rules_note:
        lines.append(f"Speech rules: {s.rules_note}")
    return lines


def spoken_mark(turn: "Turn") -> str:
    """How a transcript marks a spoken turn, in plain text: ``(spoken, 142 wpm)``; "" when typed."""
    voice = turn.voice
    if voice is None or not voice.spoken:
        return ""
    parts = ["spoken"]
    duration = _number(voice.duration_s)
    if duration:
        parts.append(f"{turn_words(turn) / duration * 60:.0f} wpm")
    if voice.edited:
        parts.append("edited")
    return f"({', '.join(parts)})"
