"""The library index: what the picker shows of each persona and each broken file.

Reading and validating the persona and rubric files needs PyYAML and pydantic, which
take most of the app's start-up. So after each full load the picker's rows are saved
in a small JSON file in the user data folder, with the size and modification time of
every file they came from; on the next start, while no file has changed, the table is
drawn from it at once, and the full load (which always follows) only confirms it.
When a file has changed, :func:`preview_index` reads the rows straight from the
persona files (PyYAML only, no validation) until the full load is done.
This module imports neither PyYAML nor pydantic at the top.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..core import locations
from ..core.errors import Problem

if TYPE_CHECKING:
    from .library import Library

FORMAT = "roleplay-library-index"
VERSION = 1

Stamps = list[list[Any]]  # [folder/name, size, mtime_ns] of every file the library reads
DIFFICULTIES = ("easy", "medium", "hard")  # as content.persona's (a test checks), without pydantic


@dataclass(frozen=True)
class PersonaRow:
    """One persona as the picker shows it."""

    id: str
    name: str
    title: str
    difficulty: str
    skills: tuple[str, ...]
    max_turns: int


@dataclass(frozen=True)
class BrokenRow:
    """One broken persona or rubric file: its first error and how many there are."""

    kind: str  # "persona" | "rubric"
    id: str
    first_error: Problem
    problems: int


@dataclass(frozen=True)
class LibraryIndex:
    personas: tuple[PersonaRow, ...]  # in the picker's order (difficulty, then title)
    broken: tuple[BrokenRow, ...]
    checked: bool = True  # False for a preview: the files are not validated yet

    @property
    def skills(self) -> list[str]:
        return sorted({s for p in self.personas for s in p.skills})


def index_of(library: "Library") -> LibraryIndex:
    return LibraryIndex(
        personas=tuple(PersonaRow(p.id, p.name, p.title, p.difficulty, tuple(p.skills), p.end.max_turns)
                       for p in library.sorted_personas()),
        broken=tuple(BrokenRow(b.kind, b.id, b.first_error, len(b.problems)) for b in library.broken))


def preview_index(workspace: Path) -> LibraryIndex:
    """The personas' rows read straight from their files, before validation, for the first
    start after a file changed. A file that cannot be read as YAML is a broken row with the
    error the full load will show; one whose shown fields are not plain values is left out
    until the full load; an error elsewhere in a file shows only once the full load is done
    (the table says the files are being checked until then)."""
    from ..core.errors import FileFormatError
    from ..core.yamlfile import read_yaml

    personas: list[PersonaRow] = []
    broken: list[BrokenRow] = []
    for path in sorted((Path(workspace) / locations.PERSONAS).glob("*.yaml")):
        try:
            data = read_yaml(path, what="persona").data
        except FileFormatError as exc:
            broken.append(BrokenRow("persona", path.stem, exc.problems[0], len(exc.problems)))
            continue
        if row := _preview_row(path.stem, data):
            personas.append(row)
    personas.sort(key=lambda p: (DIFFICULTIES.index(p.difficulty), p.title.lower()))
    return LibraryIndex(tuple(personas), tuple(broken), checked=False)


def _text(value: Any) -> str | None:
    """A one-value field as the persona model reads it (numbers as text, stripped), or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value).strip() or None


def _preview_row(persona_id: str, data: dict[str, Any]) -> PersonaRow | None:
    name, title, difficulty = _text(data.get("name")), _text(data.get("title")), data.get("difficulty")
    skills = data.get("skills")
    skills = [skills] if _text(skills) else skills
    if not (name and title and "\n" not in title and len(title) <= 80 and difficulty in DIFFICULTIES
            and isinstance(skills, list) and skills and all(_text(s) for s in skills)):
        return None
    end = data.get("end")
    max_turns = end.get("max_turns", 20) if isinstance(end, dict) else 20
    if isinstance(max_turns, bool) or not isinstance(max_turns, int):
        return None
    return PersonaRow(persona_id, name, title, difficulty, tuple(_text(s) or "" for s in skills), max_turns)


def file_stamps(workspace: Path) -> Stamps:
    """Size and modification time of every file :func:`~.library.load_library` reads."""
    stamps: Stamps = []
    for folder in (locations.RUBRICS, locations.PERSONAS):
        for path in sorted((Path(workspace) / folder).glob("*.yaml")):
            try:
                stat = path.stat()
            except OSError:
                continue  # gone since the listing: the full load will say so
            stamps.append([f"{folder}/{path.name}", stat.st_size, stat.st_mtime_ns])
    return stamps


def index_file(workspace: Path) -> Path:
    key = hashlib.sha256(str(Path(workspace).resolve()).encode()).hexdigest()[:16]
    return locations.data_dir() / "cache" / f"library-{key}.json"


def _to_json(workspace: Path, index: LibraryIndex, stamps: Stamps) -> str:
    return json.dumps({
        "format": FORMAT, "version": VERSION, "roleplay": __version__,
        "workspace": str(Path(workspace).resolve()), "files": stamps,
        "personas": [[p.id, p.name, p.title, p.difficulty, list(p.skills), p.max_turns] for p in index.personas],
        "broken": [[b.kind, b.id, str(b.first_error.path), b.first_error.line, b.first_error.col,
                    b.first_error.message, b.problems] for b in index.broken],
    }, ensure_ascii=False, indent=1) + "\n"


def read_index(workspace: Path) -> LibraryIndex | None:
    """The saved index of ``workspace`` when every file is as it was; else None (and on any
    problem reading it: it is only a head start)."""
    try:
        saved = json.loads(index_file(workspace).read_text(encoding="utf-8"))
        if (saved.get("format"), saved.get("version"), saved.get("roleplay")) != (FORMAT, VERSION, __version__) \
                or saved.get("workspace") != str(Path(workspace).resolve()) \
                or saved.get("files") != file_stamps(workspace):
            return None
        return LibraryIndex(
            personas=tuple(PersonaRow(i, n, t, d, tuple(s), int(m)) for i, n, t, d, s, m in saved["personas"]),
            broken=tuple(BrokenRow(k, i, Problem(Path(p), int(ln), int(c), msg), int(n))
                         for k, i, p, ln, c, msg, n in saved["broken"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def save_index(workspace: Path, index: LibraryIndex, stamps: Stamps) -> None:
    """Save ``index`` with the ``stamps`` taken before the files were read (so a file changed
    during the load does not match next time). Best effort: a failure only costs speed."""
    from ..core.storage import atomic_write_text

    text = _to_json(workspace, index, stamps)
    path = index_file(workspace)
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return
        atomic_write_text(path, text)
    except OSError:
        pass
