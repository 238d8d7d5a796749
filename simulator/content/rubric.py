"""Rubric files (``rubrics/*.yaml``, format v1): the soft skills a learner is graded on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from ..core.errors import FileFormatError, Problem
from .formats import FileModel, JargonList, load_model

DEFAULT_RUBRIC = "core-soft-skills"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
PLACEHOLDER = re.compile(r"^\s*(\.\.\.|…|tbd|todo|xxx)?\s*$", re.IGNORECASE)

Text = Annotated[str, StringConstraints(min_length=1)]


def kebab_id(value: str) -> str:
    """``value`` when it is a kebab-case id, else the error that shows the fixed id."""
    if not KEBAB.match(value):
        fixed = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
        raise ValueError(f"'{value}' is not a kebab-case id — write lowercase words joined by '-', "
                         f"like '{fixed}'")
    return value


class Criterion(FileModel):
    """One soft skill and what each score of the scale looks like."""

    id: Text = Field(description="unique kebab-case id that personas list under skills, e.g. active-listening",
                     json_schema_extra={"pattern": KEBAB.pattern})
    name: Text = Field(description="the skill's display name")
    weight: float = Field(1.0, gt=0, le=100, description="relative weight in the overall score, default 1")
    question: Text = Field(description="the question the grader answers, e.g. 'Did the agent ...?'")
    levels: dict[int, str] = Field(description="what each score looks like: one line for every score of the scale")

    @field_validator("id")
    @classmethod
    def _kebab(cls, value: str) -> str:
        return kebab_id(value)


class Rubric(FileModel):
    """A grading rubric: a scale, a pass mark and the criteria."""

    version: Literal[1] = Field(1, description="file format version; this roleplay reads 1")
    name: Text = Field(description="the rubric's display name")
    scale: tuple[int, int] = Field(description="lowest and highest score, e.g. [1, 5]")
    pass_mark: float = Field(description="weighted mean score needed to pass, inside the scale")
    criteria: list[Criterion] = Field(min_length=1, description="the skills graded, at least one")
    jargon: JargonList = Field(default_factory=list, description=(
        "words a customer would not understand; plain words for one may follow a colon: "
        "\"MFA: the code on your phone\""))

    # filled in by the loader, not read from the file
    id: str = Field("", exclude=True)

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    @property
    def criterion_ids(self) -> list[str]:
        return [c.id for c in self.criteria]

    def scores(self) -> range:
        return range(self.scale[0], self.scale[1] + 1)


def rubric_problems(rubric: Rubric, doc) -> list[Problem]:
    """Checks across fields that pydantic cannot place precisely."""
    problems: list[Problem] = []
    low, high = rubric.scale
    if low >= high:
        problems.append(doc.problem(("scale",), f"scale: lowest score {low} must be below highest {high} "
                                                "— write it as [lowest, highest], e.g. [1, 5]"))
    elif high - low > 10:
        problems.append(doc.problem(("scale",), f"scale: {high - low + 1} scores is too many to describe "
                                                "— use at most 11 (e.g. [1, 5] or [0, 10])"))
    elif not low <= rubric.pass_mark <= high:
        problems.append(doc.problem(("pass_mark",), f"pass_mark: {rubric.pass_mark:g} is outside the scale "
                                                    f"[{low}, {high}] — pick a value between them"))
    seen: dict[str, int] = {}
    for i, criterion in enumerate(rubric.criteria):
        if criterion.id in seen:
            problems.append(doc.problem(("criteria", i, "id"), f"criteria[{i}].id: '{criterion.id}' is "
                                        f"already used by criteria[{seen[criterion.id]}] — ids must be unique"))
        seen.setdefault(criterion.id, i)
        if low < high and high - low <= 10:
            wanted = set(range(low, high + 1))
            missing = sorted(wanted - set(criterion.levels))
            extra = sorted(set(criterion.levels) - wanted)
            loc = ("criteria", i, "levels")
            if missing:
                problems.append(doc.problem(loc, f"criteria[{i}].levels: no description for score "
                                            f"{', '.join(map(str, missing))} — describe every score "
                                            f"from {low} to {high}", key=True))
            if extra:
                problems.append(doc.problem(loc + (extra[0],), f"criteria[{i}].levels: score "
                                            f"{', '.join(map(str, extra))} "
                                            f"is outside the scale [{low}, {high}] — remove it", key=True))
        for score, text in criterion.levels.items():
            if PLACEHOLDER.match(text or ""):
                problems.append(doc.problem(("criteria", i, "levels", score),
                                            f"criteria[{i}].levels.{score}: placeholder '{text}' — write "
                                            "what this score looks like in the conversation"))
    return problems


def load_rubric(path: Path) -> Rubric:
    """Load and check one rubric file; raise :class:`FileFormatError` with every problem."""
    rubric, doc = load_model(path, Rubric, what="rubric")
    problems = rubric_problems(rubric, doc)
    if problems:
        raise FileFormatError(sorted(problems, key=lambda p: (p.line, p.col)))
    rubric.id = Path(path).stem
    return rubric
