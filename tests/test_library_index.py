"""The library index: the picker's rows saved after a full load, used at the next start
while no persona or rubric file has changed (issue 11, first paint)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from simulator.content import index as library_index
from simulator.content.index import file_stamps, index_file, index_of, read_index, save_index
from simulator.content.library import load_library

CORPUS = Path(__file__).resolve().parent / "corpus"


def _save(workspace: Path):
    stamps = file_stamps(workspace)
    index = index_of(load_library(workspace))
    save_index(workspace, index, stamps)
    return index


def test_the_saved_rows_are_read_back_while_no_file_changes(workspace: Path):
    (workspace / "personas" / "zz-typo.yaml").write_text("version: 1\nname: Typo Tess\n")
    (workspace / "rubrics" / "broken.yaml").write_text("name: [unclosed\n")
    index = _save(workspace)
    assert read_index(workspace) == index
    library = load_library(workspace)
    assert [p.id for p in index.personas] == [p.id for p in library.sorted_personas()]
    dana = next(p for p in index.personas if p.id == "overcharged-loyal-customer")
    persona = library.personas["overcharged-loyal-customer"]
    assert (dana.name, dana.title, dana.difficulty, list(dana.skills), dana.max_turns) == (
        persona.name, persona.title, persona.difficulty, persona.skills, persona.end.max_turns)
    broken = {(b.kind, b.id): b for b in index.broken}
    assert set(broken) == {("persona", "zz-typo"), ("rubric", "broken")}
    typo = next(b for b in library.broken if b.id == "zz-typo")
    assert broken["persona", "zz-typo"].first_error == typo.first_error
    assert broken["persona", "zz-typo"].problems == len(typo.problems) > 1


def test_any_change_to_the_files_makes_it_stale(workspace: Path):
    _save(workspace)
    dana = workspace / "personas" / "overcharged-loyal-customer.yaml"
    stat = dana.stat()
    os.utime(dana, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))  # saved again, same size
    assert read_index(workspace) is None
    _save(workspace)
    dana.write_text(dana.read_text() + "\n")
    assert read_index(workspace) is None
    _save(workspace)
    (workspace / "personas" / "new.yaml").write_text("version: 1\n")
    assert read_index(workspace) is None
    _save(workspace)
    (workspace / "personas" / "new.yaml").unlink()
    assert read_index(workspace) is None
    _save(workspace)
    (workspace / "rubrics" / "core-soft-skills.yaml").touch()
    assert read_index(workspace) is None
    _save(workspace)
    assert read_index(workspace) is not None


def test_another_workspace_or_version_does_not_use_it(workspace: Path, tmp_path: Path, monkeypatch):
    _save(workspace)
    other = tmp_path / "other"
    (other / "personas").mkdir(parents=True)
    assert read_index(other) is None
    monkeypatch.setattr(library_index, "__version__", "99.0")
    assert read_index(workspace) is None


def test_a_damaged_or_unwritable_index_only_costs_speed(workspace: Path, tmp_path: Path, monkeypatch):
    _save(workspace)
    path = index_file(workspace)
    saved = json.loads(path.read_text())
    saved["personas"][0] = ["only-an-id"]
    path.write_text(json.dumps(saved))
    assert read_index(workspace) is None
    path.write_text("{not json")
    assert read_index(workspace) is None
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the data folder should be")
    monkeypatch.setenv("ROLEPLAY_DATA_DIR", str(blocked))
    _save(workspace)  # no error
    assert read_index(workspace) is None


def test_reading_the_index_needs_neither_pyyaml_nor_pydantic(workspace: Path):
    _save(workspace)
    code = ("import sys\nfrom pathlib import Path\nfrom simulator.content.index import read_index\n"
            "import simulator.tui.app\n"
            f"assert read_index(Path({str(workspace)!r})) is not None\n"
            "print(sorted(m for m in ('yaml', 'pydantic', 'litellm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env=os.environ)
    assert out.stdout.strip() == "[]"


def test_the_preview_reads_the_shown_fields_as_the_persona_model_does(workspace: Path):
    from simulator.content.index import DIFFICULTIES, preview_index
    from simulator.content.persona import DIFFICULTIES as MODEL_DIFFICULTIES

    assert DIFFICULTIES == MODEL_DIFFICULTIES
    (workspace / "personas" / "zz-numbers.yaml").write_text(
        (workspace / "personas" / "overcharged-loyal-customer.yaml").read_text()
        .replace("name: Dana Whitaker", "name: 1234").replace("skills: [empathy, active-listening, problem-solving]",
                                                             "skills: '  empathy '"))
    preview = preview_index(workspace)
    full = index_of(load_library(workspace))
    assert not preview.checked and full.checked
    assert preview.personas == full.personas and preview.broken == ()
