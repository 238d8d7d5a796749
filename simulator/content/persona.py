"""Persona files (``personas/*.yaml``, format v1): the customer a learner talks to.

Everything under ``character``, ``facts``, ``hidden``, ``frustration`` and ``end`` is
for the model playing the customer and is never shown to the learner during a
session; ``brief`` is what the learner reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from ..core.errors import Problem
from ..core.yamlfile import Document
from .formats import FileModel, JargonList, TextList, dotted, load_model

Text = Annotated[str, StringConstraints(min_length=1)]
Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")


class Character(FileModel):
    """Who the customer is. Never shown to the learner."""

    background: str = Field("", description="who they are, their history with the company")
    situation: Text = Field(description="what happened that makes them get in touch")
    goal: Text = Field(description="what they want out of this conversation")
    personality: Text = Field(description="temperament: how they react to good and bad handling")
    style: str = Field("", description="how they talk: sentence length, tone, habits")
    examples: TextList = Field(default_factory=list, description="example lines in the customer's voice")


class HiddenFact(FileModel):
    """A fact the customer keeps back until the learner earns it."""

    fact: Text = Field(description="what the customer knows but does not volunteer")
    reveal_when: Text = Field(description="what the agent must do or ask before the customer tells it")
    earned_by: TextList = Field(default_factory=list, description=(
        "example agent lines that earn it, in words other than reveal_when's (the meaning layer learns "
        "from them; more lines, more voices, better reading)"))
    not_earned_by: TextList = Field(default_factory=list, description=(
        "example agent lines that come close and do not earn it (on the same topic, or asked too early)"))


class Frustration(FileModel):
    """How upset the customer is (0 calm ... 10 furious) and what moves it."""

    start: int = Field(5, ge=0, le=10, description="0 calm ... 10 furious")
    calms_when: TextList = Field(default_factory=list, description="agent behaviours that calm the customer")
    rises_when: TextList = Field(default_factory=list, description="agent behaviours that make it worse")
    calmed_by: TextList = Field(default_factory=list, description="example agent lines that calm this customer")
    raised_by: TextList = Field(default_factory=list, description="example agent lines that make this customer angrier")


class EndConditions(FileModel):
    """When the customer ends the conversation."""

    resolved_when: str = Field("", description="what the agent must achieve for the customer to be satisfied")
    gives_up_when: str = Field("", description="when the customer gives up and leaves")
    max_turns: int = Field(20, ge=2, le=100, description="learner turns before the session stops, 2 to 100")


class Voice(FileModel):
    """How the customer sounds when voice practice is on (optional; the app's default voice
    otherwise). Only ``roleplay`` with the ``voice`` extra speaks."""

    id: str = Field(description=(
        "the voice: engine:name, e.g. piper:joe, espeak:en-gb+m3 (a man), espeak:en-us+f4 (a woman)"),
        json_schema_extra={"pattern": "^(espeak|piper):[A-Za-z0-9_.+-]+$"})
    speed: float = Field(1.0, ge=0.5, le=2.0, description="speaking speed: 1.0 normal, 0.85 a slower, older caller")
    pitch: float = Field(1.0, ge=0.5, le=2.0, description="pitch: 1.0 the voice's own, 0.9 lower, 1.1 higher")

    @field_validator("id")
    @classmethod
    def _engine_and_name(cls, value: str) -> str:
        engine, sep, name = value.partition(":")
        if not sep or engine not in ("espeak", "piper") or not name or not all(
                c.isalnum() or c in "_.+-" for c in name):
            raise ValueError("write engine:name, e.g. piper:joe or espeak:en-gb+m3")
        return value


class Persona(FileModel):
    """A customer persona for one practice scenario."""

    version: Literal[1] = Field(1, description="file format version; this roleplay reads 1")
    name: Text = Field(description="the customer's name, e.g. Dana Whitaker")
    title: Text = Field(description="one line for the picker, e.g. 'Overcharged after nine loyal years'",
                        json_schema_extra={"maxLength": 80, "pattern": "^[^\\n]*$"})
    difficulty: Difficulty = Field(description="easy, medium or hard")
    skills: TextList = Field(min_length=1, description="criterion ids of the rubric this persona trains")
    tags: TextList = Field(default_factory=list, description="free labels, e.g. [billing, retention]")
    rubric: str | None = Field(None, description="rubric id (file name without .yaml); default core-soft-skills")
    brief: Text = Field(description="what the learner reads before starting: their role, company, what they may offer")
    opening: Text = Field(description="the customer's first message")
    character: Character = Field(description="who the customer is (never shown to the learner)")
    facts: TextList = Field(default_factory=list, description="what the customer knows and gives when asked")
    hidden: list[HiddenFact] = Field(default_factory=list, description="facts revealed only when earned")
    frustration: Frustration = Field(default_factory=Frustration, description="start level and what moves it")
    end: EndConditions = Field(default_factory=EndConditions, description="when the customer ends the call")
    jargon: JargonList = Field(default_factory=list, description=(
        "words this customer would not understand; plain words for one may follow a colon: "
        "\"MFA: the code on your phone\""))
    voice: Voice | None = Field(None, description=(
        "how the customer sounds in voice practice: voice id, speed, pitch (optional)"))

    # filled in by the loader, not read from the file
    id: str = Field("", exclude=True)

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value:
            raise ValueError("must be one line — move the detail into brief")
        if len(value) > 80:
            raise ValueError(f"is {len(value)} characters — keep the title under 80 for the picker")
        return value


def example_lines(persona: Persona) -> list[tuple[tuple[str | int, ...], str]]:
    """Every condition's example lines, each with its place in the file, such as
    ``("hidden", 0, "earned_by", 2)``."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for i, hidden in enumerate(persona.hidden):
        found += [(("hidden", i, "earned_by", n), text) for n, text in enumerate(hidden.earned_by)]
        found += [(("hidden", i, "not_earned_by", n), text) for n, text in enumerate(hidden.not_earned_by)]
    found += [(("frustration", "calmed_by", n), text) for n, text in enumerate(persona.frustration.calmed_by)]
    found += [(("frustration", "raised_by", n), text) for n, text in enumerate(persona.frustration.raised_by)]
    return found


def example_line_problem(persona: Persona, doc: Document) -> Problem | None:
    """An example line written again (case and spaces aside) under another condition, as a
    problem at the second place: one line cannot both earn and not earn, calm and anger."""
    first: dict[str, tuple[str | int, ...]] = {}
    for loc, text in example_lines(persona):
        key = " ".join(text.casefold().split())
        if key in first and first[key][:-1] != loc[:-1]:
            short = text if len(text) <= 50 else text[:47] + "..."
            return doc.problem(loc, f"{dotted(loc[:-1])}: \"{short}\" is also under {dotted(first[key][:-1])} — "
                                    "one example line cannot stand for two conditions: keep it under the one it "
                                    "means, reword or remove the other")
        first.setdefault(key, loc)
    return None


def read_persona(path: Path) -> tuple[Persona, Document]:
    """Read and validate one persona file on its own (the rubric check is the library's job)."""
    from ..core.errors import FileFormatError
    from ..core.ids import BadIdError, check_id, suggest_id

    persona, doc = load_model(path, Persona, what="persona")
    try:  # the file's name is the persona's id, and its sessions' folder names hold it
        persona.id = check_id(Path(path).stem, "the file name")
    except BadIdError:
        raise FileFormatError([Problem(Path(path), 1, 1, f"the file name '{Path(path).stem}' cannot be a persona "
                                                          f"id — rename the file {suggest_id(Path(path).stem)}.yaml "
                                                          "(lowercase letters, digits and '-')")]) from None
    clash = example_line_problem(persona, doc)
    if clash:
        raise FileFormatError([clash])
    return persona, doc
