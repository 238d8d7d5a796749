"""The persona and rubric library of a workspace: loading, cross-checking, lookup.

A broken file never stops the others from loading: it is kept in ``broken`` with
its problems, so the CLI and the TUI can show it with its first error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core import locations
from ..core.errors import FileFormatError, NotFoundError, Problem
from ..core.yamlfile import Document
from .acts import read_act
from .formats import suggest
from .persona import DIFFICULTIES, Persona, read_persona
from .rubric import DEFAULT_RUBRIC, Rubric, load_rubric


@dataclass
class Broken:
    """A persona or rubric file that could not be loaded."""

    kind: str  # "persona" | "rubric"
    id: str
    path: Path
    problems: list[Problem]

    @property
    def first_error(self) -> Problem:
        return self.problems[0]


@dataclass
class Library:
    workspace: Path
    personas: dict[str, Persona] = field(default_factory=dict)
    rubrics: dict[str, Rubric] = field(default_factory=dict)
    broken: list[Broken] = field(default_factory=list)

    def persona(self, persona_id: str) -> Persona:
        if persona_id in self.personas:
            return self.personas[persona_id]
        broken = next((b for b in self.broken if b.kind == "persona" and b.id == persona_id), None)
        if broken:
            raise FileFormatError(broken.problems)
        raise NotFoundError(f"no persona '{persona_id}' in {self.workspace / locations.PERSONAS}"
                            f"{suggest(persona_id, list(self.personas))} — `roleplay personas` lists them")

    def rubric(self, rubric_id: str | None = None) -> Rubric:
        rubric_id = rubric_id or DEFAULT_RUBRIC
        if rubric_id in self.rubrics:
            return self.rubrics[rubric_id]
        broken = next((b for b in self.broken if b.kind == "rubric" and b.id == rubric_id), None)
        if broken:
            raise FileFormatError(broken.problems)
        raise NotFoundError(f"no rubric '{rubric_id}' in {self.workspace / locations.RUBRICS}"
                            f"{suggest(rubric_id, list(self.rubrics))}")

    def rubric_for(self, persona: Persona) -> Rubric:
        return self.rubric(persona.rubric)

    def sorted_personas(self) -> list[Persona]:
        return sorted(self.personas.values(), key=lambda p: (DIFFICULTIES.index(p.difficulty), p.title.lower()))

    @property
    def problems(self) -> list[Problem]:
        return [p for b in self.broken for p in b.problems]


def persona_rubric_problems(persona: Persona, doc: Document, rubrics: dict[str, Rubric],
                            broken_rubrics: set[str]) -> list[Problem]:
    """Check a persona against its rubric: the rubric exists and defines every skill."""
    rubric_id = persona.rubric or DEFAULT_RUBRIC
    if rubric_id not in rubrics:
        if rubric_id in broken_rubrics:
            why = f"rubric '{rubric_id}' has errors — fix rubrics/{rubric_id}.yaml first"
        else:
            why = (f"no rubric '{rubric_id}'{suggest(rubric_id, list(rubrics))} — available: "
                   f"{', '.join(sorted(rubrics)) or 'none'}")
        return [doc.problem(("rubric",) if persona.rubric else (), f"rubric: {why}")]
    rubric = rubrics[rubric_id]
    problems = []
    for i, skill in enumerate(persona.skills):
        if skill not in rubric.criterion_ids:
            problems.append(doc.problem(("skills", i) if isinstance(doc.data.get("skills"), list) else ("skills",),
                                        f"skills: '{skill}' is not a criterion of rubric '{rubric_id}'"
                                        f"{suggest(skill, rubric.criterion_ids)} — use one of "
                                        f"{', '.join(rubric.criterion_ids)}"))
    return problems


def _load_rubrics(folder: Path, library: Library) -> None:
    for path in sorted(folder.glob("*.yaml")):
        try:
            library.rubrics[path.stem] = load_rubric(path)
        except FileFormatError as exc:
            library.broken.append(Broken("rubric", path.stem, path, exc.problems))


def load_persona_file(path: Path, library: Library) -> None:
    try:
        persona, doc = read_persona(path)
    except FileFormatError as exc:
        library.broken.append(Broken("persona", path.stem, path, exc.problems))
        return
    broken_rubrics = {b.id for b in library.broken if b.kind == "rubric"}
    problems = persona_rubric_problems(persona, doc, library.rubrics, broken_rubrics)
    if problems:
        library.broken.append(Broken("persona", path.stem, path, problems))
    else:
        library.personas[persona.id] = persona


def load_library(workspace: Path) -> Library:
    """Load every rubric, then every persona, of a workspace."""
    library = Library(workspace=Path(workspace))
    _load_rubrics(Path(workspace) / locations.RUBRICS, library)
    for path in sorted((Path(workspace) / locations.PERSONAS).glob("*.yaml")):
        load_persona_file(path, library)
    return library


def _kind_of(path: Path) -> str:
    if path.parent.name == locations.ACTS and path.parent.parent.name == locations.RUBRICS:
        return "act"
    if path.parent.name == locations.RUBRICS:
        return "rubric"
    if path.parent.name == locations.PERSONAS:
        return "persona"
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return "persona"
    head = "\n" + head
    if "\ndetects:" in head and "\nexamples:" in head:
        return "act"
    return "rubric" if "\ncriteria:" in head else "persona"


def validate_paths(paths: list[Path], workspace: Path) -> tuple[list[Problem], int]:
    """Validate files and folders the user named; returns (problems, files checked).

    Personas are checked against the rubrics of their own workspace (the folder beside
    their personas/ folder), falling back to the current workspace and the bundled one.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.yaml"))
            if path.name == locations.RUBRICS:  # a rubrics folder holds the acts too
                found += sorted((path / locations.ACTS).glob("*.yaml"))
            if not found:
                for sub in (locations.RUBRICS, f"{locations.RUBRICS}/{locations.ACTS}", locations.PERSONAS):
                    found += sorted((path / sub).glob("*.yaml"))
            files += found
        else:
            files.append(path)
    kinds = {f: _kind_of(f) for f in files}
    rubric_files = [f for f in files if kinds[f] == "rubric"]
    act_files = [f for f in files if kinds[f] == "act"]
    persona_files = [f for f in files if kinds[f] == "persona"]
    problems: list[Problem] = []
    library = Library(workspace=workspace)
    for folder in (locations.bundled_library(), workspace):
        _load_rubrics(folder / locations.RUBRICS, library)
    library.broken.clear()
    for path in rubric_files:
        try:
            library.rubrics[path.stem] = load_rubric(path)
        except FileFormatError as exc:
            problems += exc.problems
            library.broken.append(Broken("rubric", path.stem, path, exc.problems))
            library.rubrics.pop(path.stem, None)
    seen_folders: set[Path] = set()
    for path in persona_files:
        own = path.resolve().parent.parent / locations.RUBRICS
        if own.is_dir() and own not in seen_folders:
            seen_folders.add(own)
            _load_rubrics(own, library)
        load_persona_file(path, library)
    problems += [p for b in library.broken if b.kind == "persona" for p in b.problems]
    for path in act_files:  # checked against the default rubric of the workspace they sit in
        own = path.resolve().parent.parent / f"{DEFAULT_RUBRIC}.yaml"
        rubric = library.rubrics.get(DEFAULT_RUBRIC)
        if own.is_file() and own.resolve() not in {b.path.resolve() for b in library.broken}:
            try:
                rubric = load_rubric(own)
            except FileFormatError:
                pass  # said where the rubric itself is validated
        try:
            read_act(path, rubric)
        except FileFormatError as exc:
            problems += exc.problems
    return problems, len(files)
