"""Issue 19, persona example lines: every bundled persona's conditions carry example agent lines
(earned_by / not_earned_by per hidden fact, calmed_by / raised_by) for the meaning layer; one
line may not stand under two conditions (a one-line error naming the field); `roleplay new`
shows the fields; and dry-run flags a persona whose situation already states a hidden fact."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.content.library import validate_paths
from simulator.content.persona import example_lines, read_persona
from simulator.content.templates import new_file
from simulator.core.errors import FileFormatError
from simulator.trainer.dryrun import flags, report_lines

REPO = Path(__file__).resolve().parent.parent
BUNDLED = sorted((REPO / "personas").glob("*.yaml"))
MEI_LING = REPO / "personas" / "polite-transfer-limit.yaml"

# Mei-Ling's situation as it was written before issue 19: it tells the scam call outright.
TELLING_SITUATION = (
    "Yesterday a man called her, said he was from Northgate's fraud department, and told her someone inside "
    "the bank was stealing from her account. He knew her name and the last four digits of her card. He said she "
    "must move $9,500 of her savings to a \"safe account\" today, and warned her not to tell branch staff the "
    "real reason because they could be involved.")


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_bundled_persona_has_example_lines_for_each_condition(path):
    persona, _ = read_persona(path)
    assert persona.hidden
    for i, hidden in enumerate(persona.hidden, 1):
        assert len(hidden.earned_by) >= 6, f"hidden fact {i}: earned_by"
        assert len(hidden.not_earned_by) >= 5, f"hidden fact {i}: not_earned_by"
    assert len(persona.frustration.calmed_by) >= 6 and len(persona.frustration.raised_by) >= 6
    for _, line in example_lines(persona):
        assert len(line.split()) < 30, line
    # the lines are in other words than the condition they stand for
    for hidden in persona.hidden:
        assert _norm(hidden.reveal_when) not in {_norm(x) for x in hidden.earned_by}


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_no_bundled_example_line_stands_under_two_conditions(path):
    persona, _ = read_persona(path)
    where: dict[str, tuple] = {}
    for loc, line in example_lines(persona):
        condition = loc[:-1]
        assert where.setdefault(_norm(line), condition) == condition, f"{line!r} under {where[_norm(line)]} " \
                                                                      f"and {condition}"


def _with_line_moved(workspace: Path, old: str, new: str) -> Path:
    path = workspace / "personas" / "polite-transfer-limit.yaml"
    text = MEI_LING.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    return path


def test_a_line_that_both_earns_and_does_not_earn_gives_a_one_line_error_naming_the_field(workspace):
    persona, _ = read_persona(MEI_LING)
    earning = persona.hidden[0].earned_by[1]
    near_miss = persona.hidden[0].not_earned_by[1]
    # the same line under not_earned_by, in other case and spacing
    path = _with_line_moved(workspace, f'"{near_miss}"', f'"  {earning.upper().replace(" ", "  ")} "')
    with pytest.raises(FileFormatError) as caught:
        read_persona(path)
    (problem,) = caught.value.problems
    line = path.read_text().splitlines()[problem.line - 1]
    assert earning.upper() in " ".join(line.split())  # points at the second one
    assert "hidden[0].not_earned_by" in problem.message and "hidden[0].earned_by" in problem.message
    assert "\n" not in str(problem)
    problems, _ = validate_paths([path], workspace)
    assert [p.message for p in problems] == [problem.message]

    out = subprocess.run([sys.executable, "-m", "simulator", "validate", str(path)], capture_output=True,
                         text=True, cwd=workspace)
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout
    said = [x for x in (out.stdout + out.stderr).splitlines() if "not_earned_by" in x]
    assert len(said) == 1 and re.search(r"polite-transfer-limit\.yaml:\d+:\d+: hidden\[0\]\.not_earned_by", said[0])


def test_a_line_that_both_calms_and_angers_is_an_error_too(workspace):
    persona, _ = read_persona(MEI_LING)
    calming, angering = persona.frustration.calmed_by[0], persona.frustration.raised_by[0]
    path = _with_line_moved(workspace, f'"{angering}"', f'"{calming}"')
    with pytest.raises(FileFormatError, match=r"frustration\.raised_by: .* is also under frustration\.calmed_by"):
        read_persona(path)


def test_the_new_persona_template_shows_the_example_line_fields_and_they_validate_once_uncommented(workspace):
    path = new_file(workspace, "persona", "charged-twice")
    text = path.read_text()
    for key in ("earned_by", "not_earned_by", "calmed_by", "raised_by"):
        assert re.search(rf"^\s*# {key}:$", text, re.MULTILINE), key
    assert validate_paths([path], workspace) == ([], 1)  # as written, they are comments

    uncommented = re.sub(r"^(\s*)# ((?:earned_by|not_earned_by|calmed_by|raised_by):|  - )", r"\1\2", text,
                         flags=re.MULTILINE)
    path.write_text(uncommented)
    assert validate_paths([path], workspace) == ([], 1)
    persona, _ = read_persona(path)
    assert persona.hidden[0].earned_by and persona.hidden[0].not_earned_by
    assert persona.frustration.calmed_by and persona.frustration.raised_by


def test_dry_run_flags_a_persona_whose_situation_states_a_hidden_fact():
    persona, _ = read_persona(MEI_LING)
    telling = persona.model_copy(update={"character": persona.character.model_copy(
        update={"situation": TELLING_SITUATION})})
    found = [f for f in flags(telling, []) if "situation" in f]
    assert len(found) == 1 and "hidden fact 1" in found[0] and "before it is earned" in found[0]
    assert "move it out of situation" in found[0]
    assert any(line.startswith("⚑ character.situation already states hidden fact 1") for line in
               report_lines(telling, []))


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_dry_run_does_not_flag_a_bundled_persona_whose_situation_keeps_its_hidden_facts(path):
    persona, _ = read_persona(path)
    assert not [f for f in flags(persona, []) if "situation" in f]
