"""Act files (``rubrics/acts/<id>.yaml``, format v1): what a learner's message does.

One file per act, in the style of Vale's rules: what the act is, why it matters, the rubric
criteria it is evidence for, and example lines that do it (``positive``) and near misses
that do not (``negative``). The meaning layer (:mod:`simulator.practice.meaning`) learns
to read messages from these examples, and a test checks that every file's own examples are
read as written, so a trainer teaches the tool their domain by adding lines.

("Moves" are the customer's, in :mod:`simulator.practice.moves`; a learner's message does
*acts*.)

A workspace's ``rubrics/acts/`` comes first; the bundled acts fill in the ids it does not
have (a workspace made before acts existed still gets them all).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints, field_validator

from ..core import locations
from ..core.errors import FileFormatError, Problem
from ..core.yamlfile import Document
from .formats import FileModel, _one_or_many, load_model
from .rubric import KEBAB, Rubric, kebab_id

Text = Annotated[str, StringConstraints(min_length=1)]
Lines = Annotated[list[Text], BeforeValidator(_one_or_many)]
Polarity = Literal["good", "fault"]
MIN_POSITIVE = 8
MIN_NEGATIVE = 4


class ActExamples(FileModel):
    """Example learner lines: the tests check that every one is read as written."""

    positive: Lines = Field(min_length=MIN_POSITIVE, description=(
        f"at least {MIN_POSITIVE} lines that DO this act, in varied voices (terse, chatty, British, American, "
        "non-native English)"))
    negative: Lines = Field(min_length=MIN_NEGATIVE, description=(
        f"at least {MIN_NEGATIVE} near misses that do NOT: they share words with the act, not its meaning"))


class Act(FileModel):
    """One thing a learner's message can do (acknowledge a feeling, offer a fix, blame ...)."""

    version: Literal[1] = Field(1, description="file format version; this roleplay reads 1")
    id: Text = Field(description="the file name without .yaml, kebab-case, e.g. acknowledge-feeling",
                     json_schema_extra={"pattern": KEBAB.pattern})
    name: Text = Field(description="the act's display name, e.g. 'Acknowledges a feeling'")
    detects: Text = Field(description="what a message does to count as this act, in any words")
    why: Text = Field(description="why it matters to the customer (shown in feedback)")
    criteria: Lines = Field(default_factory=list, description=(
        "ids of the rubric criteria this act is evidence for (rubrics/core-soft-skills.yaml)"))
    polarity: Polarity = Field(description="good (a skill shown) or fault (something to avoid)")
    say_instead: str = Field("", description="for a fault: what to say instead, one line")
    examples: ActExamples = Field(description="positive and negative example lines")

    @field_validator("id")
    @classmethod
    def _kebab(cls, value: str) -> str:
        return kebab_id(value)


def _norm(line: str) -> str:
    return " ".join(line.lower().split())


def act_problems(act: Act, doc: Document, path: Path) -> list[Problem]:
    """Checks pydantic cannot place: the id is the file's name; no line is both a positive
    and a negative example, or written twice."""
    problems: list[Problem] = []
    if act.id != path.stem:
        problems.append(doc.problem(("id",), f"id: '{act.id}' is not this file's name — write `id: {path.stem}` "
                                             f"or rename the file to {act.id}.yaml"))
    seen: dict[str, tuple[str, int]] = {}
    for kind in ("positive", "negative"):
        for i, line in enumerate(getattr(act.examples, kind)):
            key = _norm(line)
            if key in seen:
                first_kind, first = seen[key]
                what = ("is also a positive example" if first_kind != kind
                        else f"is written twice (first as {kind}[{first}])")
                problems.append(doc.problem(("examples", kind, i), f"examples.{kind}[{i}] {what} — a line "
                                            "either does this act or not; keep one"))
            else:
                seen[key] = (kind, i)
    if act.polarity == "fault" and not act.say_instead:
        problems.append(doc.problem(("polarity",), "polarity: a fault needs `say_instead: ...` — one line on "
                                                   "what to say instead"))
    return problems


def act_rubric_problems(act: Act, doc: Document, rubric: Rubric | None) -> list[Problem]:
    """Every criterion an act names is one of the rubric's."""
    if rubric is None:
        return []
    problems = []
    from .formats import suggest

    for i, criterion in enumerate(act.criteria):
        if criterion not in rubric.criterion_ids:
            loc = ("criteria", i) if isinstance(doc.data.get("criteria"), list) else ("criteria",)
            problems.append(doc.problem(loc, f"criteria: '{criterion}' is not a criterion of rubric "
                                             f"'{rubric.id}'{suggest(criterion, rubric.criterion_ids)} — use one "
                                             f"of {', '.join(rubric.criterion_ids)}"))
    return problems


def read_act(path: Path, rubric: Rubric | None = None) -> tuple[Act, Document]:
    """Load and check one act file; raise :class:`FileFormatError` with every problem."""
    path = Path(path)
    act, doc = load_model(path, Act, what="act")
    problems = act_problems(act, doc, path) + act_rubric_problems(act, doc, rubric)
    if problems:
        raise FileFormatError(sorted(problems, key=lambda p: (p.line, p.col)))
    return act, doc


def load_act(path: Path, rubric: Rubric | None = None) -> Act:
    return read_act(path, rubric)[0]


@dataclass
class ActSet:
    """The acts a workspace uses, and the files that could not be read (each with its problems)."""

    acts: dict[str, Act] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    broken: dict[Path, list[Problem]] = field(default_factory=dict)

    @property
    def problems(self) -> list[Problem]:
        return [p for problems in self.broken.values() for p in problems]


def act_folders(workspace: Path | None) -> list[Path]:
    """Where acts are read from, first wins: the workspace's ``rubrics/acts/``, then the bundled one."""
    folders = [] if workspace is None else [Path(workspace) / locations.RUBRICS / locations.ACTS]
    bundled = locations.bundled_library() / locations.RUBRICS / locations.ACTS
    if not folders or bundled.resolve() != folders[0].resolve():
        folders.append(bundled)
    return folders


_loaded: dict[tuple[object, ...], tuple[tuple[object, ...], ActSet]] = {}
_loaded_lock = threading.Lock()


def load_acts(workspace: Path | None = None, rubric: Rubric | None = None) -> ActSet:
    """Every act of ``workspace`` (its own files over the bundled ones). A broken file is kept
    with its problems and never stops the others; its id falls back to the bundled file.

    Read once while no file changes: every learner message is read against these acts, and
    parsing some thousand lines of YAML each time took CPU from the model replying. The set
    returned is shared: do not change it."""
    folders = act_folders(workspace)
    files = [sorted(folder.glob("*.yaml")) for folder in folders]
    key = (tuple(str(f) for f in folders),
           None if rubric is None else (rubric.id, tuple(rubric.criterion_ids)))
    signature: tuple[object, ...] = ()
    with contextlib.suppress(OSError):  # a file gone between the listing and the stat: read again
        signature = tuple((str(path), *_stamp(path.stat())) for paths in files for path in paths)
    with _loaded_lock:
        cached = _loaded.get(key)
    if signature and cached is not None and cached[0] == signature:
        return cached[1]
    found = _read_acts(files, rubric)
    if signature:
        with _loaded_lock:
            _loaded[key] = (signature, found)
    return found


def _stamp(st: os.stat_result) -> tuple[int, ...]:
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _read_acts(files: list[list[Path]], rubric: Rubric | None) -> ActSet:
    found = ActSet()
    for paths in files:
        for path in paths:
            if path.stem in found.acts:
                continue
            try:
                act = load_act(path, rubric)
            except FileFormatError as exc:
                found.broken[path] = exc.problems
                continue
            found.acts[act.id] = act
            found.paths[act.id] = path
    return found
