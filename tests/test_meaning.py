"""The meaning layer's first slice (issue 19): act files a trainer can read and edit, and
reading a learner's message into the acts it does, by embeddings on the built-in model or
by the stems fallback without it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import requires_builtin_model
from simulator import cli
from simulator.content.acts import load_acts, read_act
from simulator.content.library import load_library, validate_paths
from simulator.core import locations
from simulator.core.errors import FileFormatError

BUNDLED_ACTS = locations.bundled_library() / locations.RUBRICS / locations.ACTS
GOOD_ACT = """version: 1
id: {id}
name: Says what happens next
detects: The agent tells the customer what will happen next and when.
why: A customer who knows the next step stops chasing.
criteria: [clear-communication]
polarity: good
examples:
  positive:
    - "You'll get an email from us within the hour."
    - "Next, a technician calls you on Monday morning."
    - "The refund lands in three to five working days."
    - "I'll text you the booking number as soon as it's done."
    - "first the form, then we ring u back tomorrow"
    - "Tomorrow before noon the new card is posted."
    - "What happens now is the team reviews it by Friday."
    - "Expect a letter confirming this next week."
  negative:
    - "What happened next?"
    - "I don't know when that will happen."
    - "Did you get an email from us?"
    - "The technician was there on Monday."
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the act files -----------------------------------------------------------------------------

def test_bundled_act_files_all_load_and_name_rubric_criteria(workspace):
    found = load_acts(workspace, load_library(workspace).rubric())
    assert not found.problems, [str(p) for p in found.problems]
    assert len(found.acts) >= 21
    assert {"acknowledge-feeling", "open-question", "offer-fix", "brush-off"} <= set(found.acts)


def test_a_new_workspace_gets_the_acts(workspace):
    bundled = sorted(p.name for p in BUNDLED_ACTS.glob("*.yaml"))
    assert bundled and sorted(p.name for p in (workspace / "rubrics" / "acts").glob("*.yaml")) == bundled


def test_the_workspace_act_comes_first_and_the_bundled_ones_fill_in(workspace):
    acts = workspace / "rubrics" / "acts"
    shutil.rmtree(acts)  # a workspace made before acts existed
    _write(acts, "say-next-step", GOOD_ACT.format(id="say-next-step"))
    found = load_acts(workspace)
    assert "say-next-step" in found.acts
    assert "acknowledge-feeling" in found.acts  # from the bundled folder
    assert found.paths["say-next-step"].parent == acts


def test_a_broken_act_file_is_said_at_path_line_col_and_the_others_still_load(workspace):
    path = _write(workspace / "rubrics" / "acts", "greet",
                  (BUNDLED_ACTS / "greet.yaml").read_text(encoding="utf-8").replace("polarity: good", "polarity: nice"))
    found = load_acts(workspace)
    problems = found.broken[path]
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("polarity:"))
    assert (problems[0].path, problems[0].line) == (path, line)
    assert "polarity" in problems[0].message and "good, fault" in problems[0].message
    assert found.paths["greet"].parent == BUNDLED_ACTS  # the bundled greet stands in for it
    assert "open-question" in found.acts


@pytest.mark.parametrize("change, where, says", [
    (lambda t: t.replace("id: say-next-step", "id: next-step"), "id:", "file's name"),
    (lambda t: t.replace("[clear-communication]", "[clear-comunication]"), "criteria:", "did you mean 'clear-communication'"),
    (lambda t: t.replace('    - "What happened next?"', '    - "Expect a letter confirming this next week."'),
     '    - "Expect a letter confirming this next week."', "also a positive example"),
    (lambda t: t.replace('    - "Did you get an email from us?"\n', ''), '    - "What happened next?"', "at least 4"),
    (lambda t: t.replace("detects:", "detect:"), "detect:", "did you mean 'detects'"),
])
def test_act_file_mistakes_are_one_line_each_at_the_right_place(workspace, tmp_path, change, where, says):
    path = _write(tmp_path / "rubrics" / "acts", "say-next-step", change(GOOD_ACT.format(id="say-next-step")))
    with pytest.raises(FileFormatError) as caught:
        read_act(path, load_library(workspace).rubric())
    problem = caught.value.problems[0]
    lines = path.read_text().splitlines()
    assert lines[problem.line - 1].startswith(where.split("\n")[0]) or where in lines[problem.line - 1], \
        (str(problem), lines[problem.line - 1])
    assert says in problem.message and "\n" not in str(problem)


def test_roleplay_validate_checks_act_files_in_the_workspace_and_by_name(workspace, capsys):
    assert cli.main(["validate"]) == 0
    checked = int(re.search(r"all (\d+) files", capsys.readouterr().err).group(1))
    assert checked >= len(list(BUNDLED_ACTS.glob("*.yaml"))) + len(list((workspace / "personas").glob("*.yaml")))

    path = workspace / "rubrics" / "acts" / "thank.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("polarity: good", "polarity: great"), encoding="utf-8")
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("polarity:"))
    assert cli.main(["validate"]) == 1
    out = capsys.readouterr().out
    assert re.search(rf"acts/thank\.yaml:{line}:\d+: polarity: 'great' is not allowed", out), out

    assert cli.main(["validate", str(path)]) == 1  # the file named on its own is read as an act
    assert re.search(rf"thank\.yaml:{line}:\d+: polarity", capsys.readouterr().out)
    assert cli.main(["validate", str(BUNDLED_ACTS / "greet.yaml")]) == 0


def test_validate_paths_counts_the_acts_of_a_rubrics_folder(workspace):
    problems, checked = validate_paths([workspace / "rubrics"], workspace)
    assert not problems
    assert checked == 1 + len(list(BUNDLED_ACTS.glob("*.yaml")))


def test_the_library_is_unaffected_by_the_acts_folder(workspace):
    library = load_library(workspace)
    assert list(library.rubrics) == ["core-soft-skills"] and not library.broken
