"""What the screens of a practice hand back, and what the other screens ask the app for.

The app owns the flow (``RoleplayApp.practise``): it pushes a screen, awaits its typed
result (``push_screen_wait``) and decides the next one. Screens never import each other:
a screen in the middle of a practice ``dismiss``es with one of the results below; a screen
outside it (the library, History, Progress, Models) posts one of the messages below,
which bubble up to the app. This module imports Textual's ``Message`` and nothing of the
app, so every screen may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from ..content.persona import Persona
    from ..practice.engine import Conversation
    from ..practice.sessions import SessionRecord


# -- the steps of a practice: what the app shows next -------------------------------------------

@dataclass(frozen=True)
class ReadBrief:
    persona: "Persona"


@dataclass(frozen=True)
class Talk:
    conversation: "Conversation"


@dataclass(frozen=True)
class Review:
    """The End screen of a session: just played (``elapsed_s``) or opened from History."""

    record: "SessionRecord"
    elapsed_s: float | None = None


@dataclass(frozen=True)
class Replay:
    record: "SessionRecord"
    elapsed_s: float | None = None  # shown again on the feedback when the replay closes


@dataclass(frozen=True)
class ReadTranscript:
    """An unfinished session from History: read it, or resume it."""

    record: "SessionRecord"


Step = ReadBrief | Talk | Review | Replay | ReadTranscript


# -- what the screens dismiss with ------------------------------------------------------------

class BriefChoice(Enum):
    START = "start"
    BACK = "back"


@dataclass(frozen=True)
class SessionEnded:
    """The Chat screen's result: the session is over (the customer ended it, or the learner)."""

    record: "SessionRecord"
    elapsed_s: float


class EndChoice(Enum):
    LEAVE = "leave"  # Esc/Enter: back to the library (or to History for a session opened there)
    AGAIN = "again"  # the same persona's brief, to practise again
    REPLAY = "replay"
    HISTORY = "history"


@dataclass(frozen=True)
class TryAgain:
    """The Replay screen's result: a new session from this learner turn of the replayed one."""

    turn: int


class TranscriptChoice(Enum):
    BACK = "back"
    RESUME = "resume"


# -- what screens outside a practice ask the app for -----------------------------------------

class Practise(Message):
    """Read this persona's brief and practise (from the library or Progress)."""

    def __init__(self, persona: "Persona") -> None:
        super().__init__()
        self.persona = persona


class OpenSession(Message):
    """A session picked in History: its feedback if it ended, its transcript if not."""

    def __init__(self, record: "SessionRecord") -> None:
        super().__init__()
        self.record = record


class GradeSession(Message):
    """Grade this session (the End screen, on opening an ungraded session and on g)."""

    def __init__(self, record: "SessionRecord") -> None:
        super().__init__()
        self.record = record


class UseModel(Message):
    """Save this model for a role ("persona" or "evaluator"), from the Models screen."""

    def __init__(self, role: str, model: str, api_base: str | None = None, key_env: str | None = None) -> None:
        super().__init__()
        self.role = role
        self.model = model
        self.api_base = api_base
        self.key_env = key_env


class AskGateway(Message):
    """Open the company-gateway form (from the Models screen)."""
