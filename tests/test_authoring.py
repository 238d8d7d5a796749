"""Issue 12, authoring: starting files that validate as written, a JSON Schema generated
from the validator's own models (current, accepting every bundled file, rejecting the
broken-file corpus), and `roleplay validate --watch`."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import pytest
import yaml

from simulator.content.library import validate_paths
from simulator.content.schema import PACKAGED, schema_for, schema_text
from simulator.content.templates import new_file
from simulator.core.errors import RoleplayError

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "corpus"
# what a schema cannot see: other files (a skill or rubric that does not exist, a broken
# rubric) and YAML itself (duplicate and merge keys are gone once parsed)
# and what is about several fields at once (a level outside the scale, a pass mark outside
# it, a reversed scale, a criterion id used twice, a level missing, a placeholder level)
NEEDS_THE_VALIDATOR = {"broken-rubric.yaml", "unknown-rubric.yaml", "unknown-skill.yaml", "duplicate-key.yaml",
                       "merge-key.yaml", "duplicate-level.yaml", "duplicate-criterion-id.yaml",
                       "level-outside-scale.yaml", "level-placeholder.yaml", "levels-missing-score.yaml",
                       "pass-mark-outside.yaml", "scale-reversed.yaml"}


@pytest.mark.parametrize("kind", ["persona", "rubric"])
def test_the_checked_in_schema_is_current(kind):
    assert (PACKAGED / f"{kind}.schema.json").read_text() == schema_text(kind), \
        "the models changed: regenerate with python -m simulator.content.schema"


def _validator(kind):
    return jsonschema.Draft202012Validator(schema_for(kind))


@pytest.mark.parametrize("kind,folder", [("persona", "personas"), ("rubric", "rubrics")])
def test_the_schema_accepts_every_bundled_file(kind, folder):
    files = sorted((REPO / folder).glob("*.yaml"))
    assert files
    for path in files:
        errors = list(_validator(kind).iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"


@pytest.mark.parametrize("kind,folder", [("persona", "personas"), ("rubric", "rubrics")])
def test_the_schema_rejects_the_broken_file_corpus(kind, folder):
    rejected = 0
    for path in sorted((CORPUS / folder).glob("*.yaml")):
        if path.name in NEEDS_THE_VALIDATOR | {"mini.yaml"}:
            continue
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue  # not YAML at all: the editor says so before any schema
        assert list(_validator(kind).iter_errors(data)), f"{path.name} passed the schema"
        rejected += 1
    assert rejected >= 5


@pytest.mark.parametrize("kind", ["persona", "rubric"])
def test_a_new_file_validates_as_written_and_points_at_the_schema(workspace, kind):
    path = new_file(workspace, kind, "charged-twice")
    text = path.read_text()
    assert text.startswith(f"# yaml-language-server: $schema=../schema/{kind}.schema.json")
    assert (workspace / "schema" / f"{kind}.schema.json").read_text() == schema_text(kind)
    assert validate_paths([path], workspace) == ([], 1)
    assert not list(_validator(kind).iter_errors(yaml.safe_load(text)))
    assert text.count("#") >= 10  # the keys are explained
    with pytest.raises(RoleplayError, match="already exists"):
        new_file(workspace, kind, "charged-twice")
    with pytest.raises(RoleplayError, match="like 'my-persona'"):
        new_file(workspace, kind, "My Persona")


def test_validate_watch_says_what_each_save_changed(workspace):
    path = new_file(workspace, "persona", "charged-twice")
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "validate", "--watch", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def until(text: str) -> str:
        seen = ""
        while text not in seen:
            seen += lines.get(timeout=120)  # a guard against a hang, not a speed target
        return seen

    try:
        until("all files are valid")
        path.write_text(path.read_text().replace("difficulty: easy", "difficulty: eazy"))
        out = until("still to fix")
        assert "0 fixed, 1 new" in out and "did you mean 'easy'" in until("eazy")
        path.write_text(path.read_text().replace("difficulty: eazy", "difficulty: easy"))
        out = until("all files are valid")
        assert "1 fixed, 0 new, 0 still to fix" in out and "fixed " in out
    finally:
        proc.terminate()
        proc.wait(timeout=60)
