"""One exception family for everything a user can get wrong or the world can break.

Every message is one line, names the file (``path:line:col``) when there is one,
and says what to do. The CLI prints ``str(error)`` to stderr; the TUI shows it in a
notification. Nothing here imports anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, at one place (1-based line and column)."""

    path: Path
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{display_path(self.path)}:{self.line}:{self.col}: {self.message}"


def display_path(path: Path) -> str:
    """A path relative to the current folder when it is inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


class RoleplayError(Exception):
    """Base of every error the app explains to the user in one line."""


class FileFormatError(RoleplayError):
    """A persona, rubric, config or session file that cannot be used as written."""

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("FileFormatError needs at least one problem")
        self.problems = problems
        super().__init__(str(problems[0]))

    @property
    def path(self) -> Path:
        return self.problems[0].path


class NotFoundError(RoleplayError):
    """A persona, rubric, session or model the user named does not exist."""


class ModelError(RoleplayError):
    """A model call that failed for good (after retries, or at once when retrying cannot help).

    ``kind`` is a short machine-readable reason (``auth``, ``unreachable``, ``timeout``,
    ``rate_limit``, ``server``, ``not_found``, ``bad_request``, ``context_window``,
    ``bad_response``, ``not_installed``, ``missing_key``); ``hint`` says what to do.
    """

    def __init__(self, message: str, *, kind: str, model: str = "", hint: str = "", attempts: int = 1):
        self.kind = kind
        self.model = model
        self.hint = hint
        self.attempts = attempts
        text = message if not hint else f"{message} — {hint}"
        super().__init__(text)


class SessionError(RoleplayError):
    """A session that cannot be saved, loaded or resumed."""
