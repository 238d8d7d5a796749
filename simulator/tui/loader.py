"""What the library screen shows, and its loading (in a worker thread, see ``HomeScreen``).

Imports only the standard library at the top: the persona files are read (PyYAML,
pydantic) by the functions below, in the worker, after the first paint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..content.index import LibraryIndex
    from ..content.library import Library
    from ..models.config import Settings


@dataclass
class LibraryData:
    """What the library screen shows, loaded off the UI thread in two steps: the personas
    first (:func:`load_personas`), so the table paints at once, then the rest
    (:func:`load_the_rest`: the settings and the "Last" column, which reads every session)."""

    library: "Library | None" = None
    index: "LibraryIndex | None" = None  # the table's rows: from the library, or saved last time
    stamps: list | None = None  # the files' sizes and times, taken before they were read (for the saved index)
    last_outcomes: dict[str, str | None] = field(default_factory=dict)  # persona id -> last session's outcome
    last_scores: dict[str, tuple[float, bool]] = field(default_factory=dict)  # persona id -> (score, passed)
    settings: "Settings | None" = None
    settings_error: str | None = None
    library_error: str | None = None
    complete: bool = False  # the settings and the last outcomes are in


def load_personas(workspace: Path) -> LibraryData:
    """The personas and rubrics of the workspace: what the table needs (runs in a worker thread)."""
    from ..content.index import file_stamps, index_of
    from ..content.library import load_library
    from ..core.errors import RoleplayError

    data = LibraryData()
    try:
        data.stamps = file_stamps(workspace)  # before reading: a file changed meanwhile will not match next time
        data.library = load_library(workspace)
        data.index = index_of(data.library)
    except (RoleplayError, OSError) as exc:
        data.library_error = str(exc)
    return data


def save_rows(data: LibraryData, workspace: Path) -> None:
    """Keep the table's rows for the next start (:mod:`~simulator.content.index`)."""
    from ..content.index import save_index

    if data.index is not None and data.stamps is not None:
        save_index(workspace, data.index, data.stamps)


def load_the_rest(data: LibraryData, workspace: Path, model: str | None, evaluator_model: str | None) -> LibraryData:
    """``data`` with the settings and the last outcome per persona added (a new object:
    the first one may be on screen)."""
    from ..core.errors import RoleplayError
    from ..models.config import load_settings
    from ..review.index import session_index

    data = replace(data, last_outcomes={}, last_scores={}, complete=True)
    try:
        data.settings = load_settings(workspace, model=model, evaluator_model=evaluator_model)
    except RoleplayError as exc:
        data.settings_error = str(exc)
    try:  # from the history index: one small file, not every session's journal
        for row in session_index(workspace):  # newest first
            if row.status == "unreadable":
                continue
            first = row.persona_id not in data.last_outcomes
            data.last_outcomes.setdefault(row.persona_id, row.outcome)
            if first and row.score is not None:
                data.last_scores[row.persona_id] = (row.score, bool(row.passed))
    except OSError:
        pass
    return data

