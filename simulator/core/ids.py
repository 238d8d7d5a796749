"""Ids that become file and folder names, checked in one place.

A persona's id, a session id, a recommended model's name, the id given to ``roleplay new``:
each ends up as a file or folder name. An id read from a session file, a flag or a file name
could hold ``../`` (or a slash, a NUL, a drive letter) and write outside the workspace, so
every id goes through :func:`check_id` before it becomes part of a path, and
:func:`id_path` joins a checked id to its folder and makes sure the result lies inside it.

An id is lowercase letters, digits and ``-``, starting with a letter or a digit, at most
:data:`MAX_LENGTH` characters: ``overcharged-loyal-customer``, ``20260101-093000-dana-1a2b``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import RoleplayError

ID = re.compile(r"[a-z0-9][a-z0-9-]*")
DOTTED = re.compile(r"[a-z0-9][a-z0-9.-]*")  # a model's name: qwen2.5-0.5b
MAX_LENGTH = 150  # a session id is a stamp, the persona id and 5 more characters; file names stop at 255 bytes
ALLOWED = "lowercase letters, digits and '-', starting with a letter or digit"
ALLOWED_DOTTED = "lowercase letters, digits, '.' and '-', starting with a letter or digit"


class BadIdError(RoleplayError):
    """An id that cannot be used as a file or folder name."""


def _shown(value: str, limit: int = 60) -> str:
    """``value`` on one line for a message: control characters escaped, long ones cut."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def suggest_id(value: Any, fallback: str = "my-persona") -> str:
    """A usable id close to ``value`` (for the message that refuses it)."""
    fixed = re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")[:MAX_LENGTH].strip("-")
    return fixed or fallback


def check_id(value: Any, what: str = "id", *, dots: bool = False) -> str:
    """``value`` when it can be used as a file or folder name; else :class:`BadIdError`, one
    line naming ``what`` and the id, and saying what an id may hold. ``dots``: '.' may follow
    the first character too (a model's name; never '.' or '..', never a leading dot)."""
    allowed = ALLOWED_DOTTED if dots else ALLOWED
    if not isinstance(value, str):
        raise BadIdError(f"{what} is missing or not text ({type(value).__name__}) — an id holds only {allowed}")
    if len(value) > MAX_LENGTH:
        raise BadIdError(f"{what} '{_shown(value)}' is {len(value)} characters long — an id has at most "
                         f"{MAX_LENGTH}, only {allowed}")
    if not (DOTTED if dots else ID).fullmatch(value):
        raise BadIdError(f"{what} '{_shown(value)}' is not a usable id — an id holds only {allowed}, "
                         f"like '{suggest_id(value)}'")
    return value


def id_path(folder: Path, value: Any, what: str = "id", suffix: str = "", *, dots: bool = False) -> Path:
    """``folder / (value + suffix)`` once ``value`` passes :func:`check_id` and the resolved
    path (links followed) lies inside ``folder``; else :class:`BadIdError`."""
    path = Path(folder) / f"{check_id(value, what, dots=dots)}{suffix}"
    try:
        path.resolve().relative_to(Path(folder).resolve())
    except ValueError:  # a link in the folder that points out of it
        raise BadIdError(f"{what} '{_shown(value)}': {path} leads outside {folder} (a link?) — "
                         "remove the link or pick another id") from None
    except (OSError, RuntimeError) as exc:  # unreadable, or a loop of links
        why = getattr(exc, "strerror", None) or exc
        raise BadIdError(f"{what} '{_shown(value)}': cannot check {path} ({why})") from None
    return path
