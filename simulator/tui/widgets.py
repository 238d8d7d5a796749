"""Small widgets and formatting helpers shared by the screens.

Nothing here may rely on colour alone: every state also shows a word or a number,
so the app reads the same with ``NO_COLOR`` and in light or dark themes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Markdown, Static

if TYPE_CHECKING:
    from ..core.errors import Problem
    from ..content.persona import Persona
    from ..practice.sessions import Turn

STYLES = Path(__file__).resolve().parent  # the .tcss files (absolute: subclasses elsewhere still find them)

OUTCOME_LABELS = {
    "resolved": "resolved",
    "gave_up": "gave up",
    "ended_by_learner": "ended by learner",
    "turn_limit": "turn limit",
    None: "unfinished",
}

SHORT_OUTCOMES = {
    "resolved": "resolved",
    "gave_up": "gave up",
    "ended_by_learner": "ended",
    "turn_limit": "turn limit",
    None: "unfinished",
}

OUTCOME_HEADLINES = {
    "resolved": "Resolved: the customer's problem was sorted out",
    "gave_up": "The customer gave up",
    "ended_by_learner": "Ended by you",
    "turn_limit": "Turn limit reached",
}


def outcome_label(outcome: str | None) -> str:
    return OUTCOME_LABELS.get(outcome, str(outcome).replace("_", " "))


def short_outcome(outcome: str | None) -> str:
    return SHORT_OUTCOMES.get(outcome, str(outcome).replace("_", " "))


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[:max(0, width - 1)].rstrip() + "…"


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_started(iso: str) -> str:
    """A journal timestamp (UTC ISO) as local 'YYYY-MM-DD HH:MM'."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso[:16]


def display_folder(folder: Path | None, workspace: Path) -> str:
    """A session folder relative to the workspace when it is inside it."""
    if folder is None:
        return "(not saved)"
    try:
        return str(Path(folder).resolve().relative_to(Path(workspace).resolve())) + "/"
    except ValueError:
        return str(folder) + "/"


def problem_text(problem: "Problem", workspace: Path) -> str:
    """``path:line:col: message`` with the path relative to the workspace when inside it."""
    try:
        where = str(Path(problem.path).resolve().relative_to(Path(workspace).resolve()))
    except (ValueError, OSError):
        where = str(problem.path)
    return f"{where}:{problem.line}:{problem.col}: {problem.message}"


def learner_turns(turns: Iterable["Turn"]) -> int:
    """Learner turns the customer answered (:func:`simulator.practice.sessions.answered_turns`)."""
    from ..practice.sessions import answered_turns

    return answered_turns(turns)


class Bubble(Static):
    """One message of the conversation: a bold speaker label, then the text.

    ``kind`` is customer, learner or hint; the label carries the meaning (not only
    the border colour), so it works without colour.
    """

    def __init__(self, kind: str, label: str, text: str = "", *, placeholder: str = "") -> None:
        self.kind = kind
        self.label = label
        self.text = text
        self.placeholder = placeholder
        super().__init__(self._content(), classes=f"bubble {kind}", markup=False)

    def _content(self) -> Content:
        if not self.text and self.placeholder:
            return Content.assemble((self.label, "bold"), " ", (self.placeholder, "italic"))
        return Content.assemble((self.label, "bold"), " ", self.text)

    def set_text(self, text: str) -> None:
        self.text = text
        self.update(self._content())


def bubble_for_turn(turn: "Turn", customer_name: str) -> Bubble:
    if turn.speaker == "customer":
        return Bubble("customer", f"{customer_name}:", turn.text)
    if turn.speaker == "hint":
        return Bubble("hint", "Coach:", turn.text)
    from ..grading.speech import spoken_mark

    mark = spoken_mark(turn)  # "(spoken, 142 wpm)": how the learner said it, when by voice
    return Bubble("learner", f"You {mark}:" if mark else "You:", turn.text)


class OutboxLine(Static):
    """One line above the footer while results wait for the LRS; hidden when none do."""

    DEFAULT_CSS = "OutboxLine { height: auto; max-height: 2; color: $warning; padding: 0 1; }"

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(text, id=id, markup=False)
        self.display = bool(text)

    def show(self, text: str) -> None:
        self.update(text)
        self.display = bool(text)


class FrustrationMeter(Static):
    """The customer's frustration, 0 calm to 10 furious: a bar of blocks and the number."""

    DEFAULT_CLASSES = "meter"

    def __init__(self, value: int = 0, *, id: str | None = None) -> None:
        self.value = value
        super().__init__(self._content(), id=id, markup=False)

    def _content(self) -> Content:
        value = max(0, min(10, self.value))
        style = "$success" if value <= 3 else "$warning" if value <= 6 else "$error"
        return Content.assemble("frustration ", ("█" * value, style), ("░" * (10 - value), "dim"),
                                f" {value}/10")

    def set_value(self, value: int) -> None:
        self.value = value
        self.update(self._content())


class PersonaTable(DataTable):
    """The library table; Enter (shown in the footer) opens the highlighted persona's brief."""

    BINDINGS = [Binding("enter", "select_cursor", "Brief", id="home.open")]


class SessionTable(DataTable):
    """The history table; Enter (shown in the footer) opens the highlighted session."""

    BINDINGS = [Binding("enter", "select_cursor", "Open", id="history.open")]


# -- the brief, on its screen and over the chat --------------------------------------------------

def brief_facts(persona: "Persona") -> str:
    skills = ", ".join(s.replace("-", " ") for s in persona.skills)
    return (f"Difficulty: {persona.difficulty} · Skills practised: {skills} · "
            f"Turn limit: {persona.end.max_turns} of your messages")


def brief_widgets(persona: "Persona") -> ComposeResult:
    yield Static(brief_facts(persona), classes="brief-facts", markup=False)
    with VerticalScroll(classes="brief-body", can_focus=True):
        yield Markdown(persona.brief, classes="brief-text")
