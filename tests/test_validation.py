"""The broken-file corpus: every way a trainer can get a persona or rubric wrong.

Each file in ``tests/corpus/`` has exactly one defect (its first line says which);
``EXPECTED`` says where ``roleplay validate`` must point and what it must say. Files
that cannot be written by hand (binary junk, a 1 MiB file, tags that would run a
command) are generated into a temporary copy of the corpus by :func:`_generated`.

Checks, for every file: the first problem's line, column and message; every message
is one line inside the file with a hint; the CLI prints ``path:line:col: message``,
a summary on stderr and exits 1, never with a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator import cli
from simulator.content.library import load_library, validate_paths
from simulator.core.errors import Problem, display_path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CORPUS = TESTS / "corpus"

# A valid persona; every corpus persona is this file with one defect.
GOOD_PERSONA = """\
# A valid persona: every corpus persona is this file with one defect.
version: 1
name: Sam Carter
title: Late parcel, second time this month
difficulty: easy
skills: [empathy, questioning]
rubric: mini
brief: You answer chat for Parcelio. You may rebook a delivery or refund the postage.
opening: "Where is my parcel? It was due yesterday."
character:
  situation: A parcel due yesterday has not arrived.
  goal: Know when the parcel will arrive.
  personality: Polite but tired of waiting.
frustration:
  start: 4
end:
  max_turns: 10
"""

# Printed by the committed python-tag.yaml if its tag were ever run.
SENTINEL = "ROLEPLAY-CORPUS-SHOULD-NEVER-RUN"
MARKER = "python-tag-ran"  # created by the generated tag files if their tag were ever run

# file (relative to the corpus) -> (line, col, a distinctive part of the first message)
EXPECTED: dict[str, tuple[int, int, str]] = {
    # --- YAML syntax -------------------------------------------------------------------
    "personas/tab-indentation.yaml": (12, 1, "tab character here — YAML indents with spaces only"),
    "personas/bad-indentation.yaml": (12, 2, "bad indentation — this line does not line up"),
    "personas/over-indentation.yaml": (12, 8, "or check the indentation of this line"),
    "personas/unquoted-colon.yaml": (8, 12, "quote text that contains ': '"),
    "personas/unclosed-quote.yaml": (9, 10, "the quote that starts here is never closed"),
    "personas/unclosed-bracket.yaml": (6, 9, "the '[' list that starts here is not closed"),
    "personas/multi-document.yaml": (14, 1, "more than one YAML document ('---')"),
    "personas/backslash-in-quotes.yaml": (9, 38, "unknown escape character '#' — inside double quotes a backslash"),
    "personas/undefined-alias.yaml": (6, 9, "undefined alias 'skills' — define the anchor"),
    "personas/merge-key.yaml": (17, 3, "merge keys ('<<') are not supported"),
    "personas/duplicate-key.yaml": (6, 1, "duplicate key 'name' (first set on line 3)"),
    "rubrics/duplicate-level.yaml": (20, 7, "duplicate key '2' (first set on line 19)"),
    # --- not a mapping at all --------------------------------------------------------------
    "personas/empty.yaml": (1, 1, "the file is empty — a persona needs its keys"),
    "personas/comments-only.yaml": (1, 1, "the file is empty — a persona needs its keys"),
    "personas/document-markers-only.yaml": (1, 1, "the file is empty — a persona needs its keys"),
    "personas/top-level-list.yaml": (2, 1, "a persona must be a mapping of keys (like `name: ...`), not a list"),
    # --- unsafe or hostile -------------------------------------------------------------------
    "personas/python-tag.yaml": (3, 7, "the tag '!!python/object/apply:os.system' is not allowed"),
    "personas/alias-bomb.yaml": (3, 64, "too many values (over 20,000"),
    "personas/recursive-alias.yaml": (10, 7, "an alias is used inside the value of its own anchor"),
    # --- keys ------------------------------------------------------------------------------
    "personas/typo-top-key.yaml": (9, 1, "unknown key 'openning' (did you mean 'opening'?)"),
    "personas/typo-nested-key.yaml": (13, 3, "unknown key 'personalty' (did you mean 'personality'?)"),
    "personas/unknown-key.yaml": (8, 1, "unknown key 'mood'; allowed here: version, name, title"),
    "personas/missing-opening.yaml": (2, 1, "missing required key 'opening' — add `opening: ...`"),
    "personas/hidden-missing-reveal.yaml": (15, 5, "missing required key 'reveal_when' under hidden[0]"),
    "personas/id-written.yaml": (3, 1, "'id' is not written in the file — a persona's id is its file name"),
    "personas/version-2.yaml": (2, 10, "format version 2, but this roleplay reads version 1 — upgrade"),
    "rubrics/typo-key.yaml": (5, 1, "unknown key 'pass-mark' (did you mean 'pass_mark'?)"),
    "rubrics/criterion-missing-question.yaml": (14, 5, "missing required key 'question' under criteria[1]"),
    # --- wrong types -------------------------------------------------------------------------
    "personas/name-list.yaml": (3, 7, "name must be text, found a list"),
    "personas/skills-mapping.yaml": (7, 3, "skills must be a list, found a mapping"),
    "personas/max-turns-text.yaml": (17, 14, "end.max_turns must be a whole number, found 'ten'"),
    "personas/frustration-string.yaml": (14, 14, "frustration must be a mapping of keys"),
    "rubrics/scale-text.yaml": (4, 8, "scale must be a list, found 'one to three'"),
    # --- values out of range or not allowed ----------------------------------------------------
    "personas/frustration-start-11.yaml": (15, 10, "frustration.start: 11 is out of range — it must be at most 10"),
    "personas/max-turns-1.yaml": (17, 14, "end.max_turns: 1 is out of range — it must be at least 2"),
    "personas/skills-empty.yaml": (6, 9, "skills needs at least 1 item"),
    "personas/difficulty-typo.yaml": (5, 13, "'meduim' is not allowed — write one of easy, medium, hard "
                                             "(did you mean 'medium'?)"),
    "personas/title-newline.yaml": (4, 8, "title: must be one line"),
    "personas/title-too-long.yaml": (4, 8, "title: is 102 characters — keep the title under 80"),
    "rubrics/pass-mark-outside.yaml": (5, 12, "pass_mark: 4 is outside the scale [1, 3]"),
    "rubrics/weight-zero.yaml": (16, 13, "criteria[1].weight: 0 is out of range — it must be more than 0"),
    # --- checks across fields and files --------------------------------------------------------
    "personas/unknown-skill.yaml": (6, 19, "'questionning' is not a criterion of rubric 'mini' "
                                           "(did you mean 'questioning'?)"),
    "personas/unknown-rubric.yaml": (7, 9, "no rubric 'minni' (did you mean 'mini'?)"),
    "personas/broken-rubric.yaml": (7, 9, "rubric 'scale-reversed' has errors — fix rubrics/scale-reversed.yaml"),
    "rubrics/levels-missing-score.yaml": (17, 5, "criteria[1].levels: no description for score 2"),
    "rubrics/level-outside-scale.yaml": (14, 7, "criteria[0].levels: score 4 is outside the scale [1, 3]"),
    "rubrics/level-placeholder.yaml": (12, 10, "criteria[0].levels.2: placeholder '...'"),
    "rubrics/duplicate-criterion-id.yaml": (14, 9, "criteria[1].id: 'empathy' is already used by criteria[0]"),
    "rubrics/non-kebab-id.yaml": (14, 9, "'Open Questions' is not a kebab-case id — write lowercase words "
                                         "joined by '-', like 'open-questions'"),
    "rubrics/scale-reversed.yaml": (4, 8, "scale: lowest score 5 must be below highest 1"),
    "rubrics/empty-criteria.yaml": (6, 11, "criteria needs at least 1 item"),
    # --- generated by _generated() -------------------------------------------------------------
    "personas/binary-junk.yaml": (4, 8, "not UTF-8 text (binary data or another encoding)"),
    "personas/latin-1.yaml": (3, 9, "not UTF-8 text"),
    "personas/mixed-encoding.yaml": (4, 14, "not UTF-8 text"),
    "personas/utf-16.yaml": (1, 1, "not UTF-8 text"),
    "personas/nul-byte.yaml": (9, 22, "binary data (a NUL byte)"),
    "personas/line-separator.yaml": (11, 53, "unusual line break character (U+2028)"),
    "personas/one-mebibyte.yaml": (1, 1, "a persona may be at most 256 KiB"),
    "personas/python-tag-os-system.yaml": (3, 7, "the tag '!!python/object/apply:os.system' is not allowed"),
    "personas/python-tag-subprocess.yaml": (9, 10, "the tag '!!python/object/apply:subprocess.check_call'"),
    "personas/deep-nesting.yaml": (3, 47, "nested more than 40 levels deep"),
    "personas/very-deep-nesting.yaml": (1, 1, "nested too deeply"),
    "rubrics/one-mebibyte.yaml": (1, 1, "a rubric may be at most 256 KiB"),
}

# Every message says what to do: an instruction after a dash, a did-you-mean, or the choices.
HINT = re.compile(r" — |did you mean|allowed here|must be a mapping of keys")


def _generated(marker: Path) -> dict[str, bytes]:
    """The corpus files that cannot be committed as hand-written text."""
    good = GOOD_PERSONA
    filler = "".join(f"  - Filler fact number {i} that a trainer pasted in by mistake.\n" for i in range(20_000))
    big = (good + "facts:\n" + filler).encode()
    assert len(big) > 1024 * 1024
    rubric = (CORPUS / "rubrics" / "mini.yaml").read_text()
    return {
        "personas/binary-junk.yaml": good.encode().replace(b"title: ", b"title: \x89PNG\x1a\xff\xd8 ", 1),
        "personas/latin-1.yaml": good.replace("Sam Carter", "Zoë Carter").encode("latin-1"),
        # UTF-8 'Café' pasted next to a Latin-1 'é': the column counts characters, not bytes
        "personas/mixed-encoding.yaml": good.encode().replace(
            b"title: Late parcel", "title: Café d".encode() + b"\xe9livery", 1),
        "personas/utf-16.yaml": good.encode("utf-16"),
        "personas/nul-byte.yaml": good.replace("Where is my parcel", "Where is my\x00 parcel").encode(),
        # U+2028 pasted from a web page: YAML breaks lines there, editors do not
        "personas/line-separator.yaml": good.replace("has not arrived.", "has not arrived.\u2028Again.").encode(),
        "personas/one-mebibyte.yaml": big,
        "personas/python-tag-os-system.yaml": good.replace(
            "name: Sam Carter", f'name: !!python/object/apply:os.system ["touch {marker}"]').encode(),
        "personas/python-tag-subprocess.yaml": good.replace(
            'opening: "Where is my parcel? It was due yesterday."',
            f'opening: !!python/object/apply:subprocess.check_call [["touch", "{marker}"]]').encode(),
        "personas/deep-nesting.yaml": good.replace("name: Sam Carter", "name: " + "[" * 60 + "Sam" + "]" * 60).encode(),
        "personas/very-deep-nesting.yaml": good.replace("name: Sam Carter", "name: " + "[" * 1000).encode(),
        "rubrics/one-mebibyte.yaml": (rubric + "jargon:\n" + filler).encode(),
    }


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLEPLAY_")}
    env["ROLEPLAY_CONFIG_DIR"] = str(tmp / "config")
    env["ROLEPLAY_DATA_DIR"] = str(tmp / "data")
    return env


def _run(args: list[str], cwd: Path, tmp: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", *args], cwd=cwd, env=_env(tmp),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of tests/corpus plus the generated files; it is also a workspace (personas/, rubrics/)."""
    root = tmp_path_factory.mktemp("validation")
    folder = root / "corpus"
    shutil.copytree(CORPUS, folder)
    for name, data in _generated(root / MARKER).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def no_tag_ran(corpus: Path):
    yield
    assert not (corpus.parent / MARKER).exists(), "a !!python tag was executed"


@functools.cache
def _problems(path: Path, workspace: Path) -> tuple[Problem, ...]:
    """What `roleplay validate PATH` finds (cached: several tests look at each file)."""
    problems, checked = validate_paths([path], workspace)
    assert checked == 1
    return tuple(problems)


def _first(path: Path, workspace: Path) -> tuple[Problem, ...]:
    problems = _problems(path, workspace)
    assert problems, f"{path.name} validated without errors"
    return problems


# --- the corpus itself ------------------------------------------------------------------------


def test_corpus_is_complete_and_every_file_has_an_expectation():
    committed = {f"{p.parent.name}/{p.name}" for p in CORPUS.glob("*/*.yaml")} - {"rubrics/mini.yaml"}
    generated = set(_generated(Path("marker")))
    assert not committed & generated
    assert committed | generated == set(EXPECTED), "add new corpus files to EXPECTED (and remove stale entries)"
    assert len(committed) >= 30


def test_every_committed_file_says_what_is_broken_on_its_first_line():
    for path in CORPUS.glob("*/*.yaml"):
        if path.name not in {"mini.yaml", "empty.yaml"}:
            assert path.read_text().startswith("# "), path.name


def test_the_good_persona_and_mini_rubric_are_valid(tmp_path: Path):
    (tmp_path / "personas").mkdir()
    shutil.copytree(CORPUS / "rubrics", tmp_path / "rubrics")
    good = tmp_path / "personas" / "good.yaml"
    good.write_text(GOOD_PERSONA)
    windows = tmp_path / "personas" / "windows.yaml"  # BOM and CRLF, as some editors save
    windows.write_bytes(b"\xef\xbb\xbf" + GOOD_PERSONA.replace("\n", "\r\n").encode())
    problems, checked = validate_paths([good, windows, tmp_path / "rubrics" / "mini.yaml"], tmp_path)
    assert (problems, checked) == ([], 3)


# --- (1) the first problem, through the code `roleplay validate` runs -------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_first_problem_line_col_and_message(name: str, corpus: Path, no_tag_ran):
    line, col, text = EXPECTED[name]
    path = corpus / name
    first = _first(path, corpus)[0]
    assert first.path == path
    assert (first.line, first.col) == (line, col), f"{name}: {first}"
    assert text in first.message, f"{name}: {first}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_problem_is_one_line_with_a_hint_inside_the_file(name: str, corpus: Path, no_tag_ran):
    path = corpus / name
    lines = path.read_bytes().decode("utf-8-sig", errors="replace").split("\n")
    for problem in _first(path, corpus):
        assert problem.message.strip() and "\n" not in problem.message and "\r" not in problem.message
        assert "Traceback" not in problem.message and "pydantic" not in problem.message.lower()
        assert HINT.search(problem.message), f"no hint on what to write: {problem}"
        assert 1 <= problem.line <= len(lines), problem
        assert 1 <= problem.col <= len(lines[problem.line - 1].rstrip("\r")) + 1, problem
        assert str(problem) == f"{display_path(path)}:{problem.line}:{problem.col}: {problem.message}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_in_process_prints_path_line_col(name: str, corpus: Path, no_tag_ran, capsys, monkeypatch):
    monkeypatch.delenv("ROLEPLAY_WORKSPACE", raising=False)
    line, col, text = EXPECTED[name]
    path = corpus / name
    assert cli.main(["--workspace", str(corpus), "validate", str(path)]) == 1
    out, err = capsys.readouterr()
    first = out.splitlines()[0]
    assert first.startswith(f"{display_path(path)}:{line}:{col}: ") and text in first
    assert re.fullmatch(r"\d+ errors? in 1 of 1 files\n", err)


# --- hostile files ------------------------------------------------------------------------------


def test_python_tags_run_nothing(corpus: Path, capfd, no_tag_ran):
    for name in ("personas/python-tag.yaml", "personas/python-tag-os-system.yaml",
                 "personas/python-tag-subprocess.yaml"):
        problems, _ = validate_paths([corpus / name], corpus)  # not cached: this run is the one watched
        assert "is not allowed" in problems[0].message
    out, err = capfd.readouterr()
    assert SENTINEL not in out + err


def test_alias_bomb_is_refused_fast(corpus: Path):
    started = time.perf_counter()
    first = validate_paths([corpus / "personas" / "alias-bomb.yaml"], corpus)[0][0]
    assert time.perf_counter() - started < 5
    assert first.message.startswith("too many values")


# --- (2) the real CLI -------------------------------------------------------------------------

HANDFUL = [
    "personas/tab-indentation.yaml",
    "personas/typo-top-key.yaml",
    "personas/duplicate-key.yaml",
    "personas/unknown-skill.yaml",
    "personas/alias-bomb.yaml",
    "personas/python-tag.yaml",
    "personas/python-tag-os-system.yaml",
    "personas/binary-junk.yaml",
    "personas/one-mebibyte.yaml",
    "personas/empty.yaml",
    "rubrics/scale-reversed.yaml",
    "rubrics/level-placeholder.yaml",
]


@pytest.mark.parametrize("name", HANDFUL)
def test_cli_subprocess_reports_and_exits_1(name: str, corpus: Path, tmp_path: Path, no_tag_ran):
    line, col, text = EXPECTED[name]
    result = _run(["validate", name], cwd=corpus, tmp=tmp_path, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert SENTINEL not in result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert out and out[0].startswith(f"{name}:{line}:{col}: ") and text in out[0], result.stdout
    assert all(row.startswith(f"{name}:") for row in out)
    assert re.fullmatch(r"\d+ errors? in 1 of 1 files\n", result.stderr), result.stderr


def test_cli_subprocess_whole_corpus(corpus: Path, tmp_path: Path, no_tag_ran):
    result = _run(["validate", "personas", "rubrics"], cwd=corpus, tmp=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    rows = result.stdout.splitlines()
    pattern = re.compile(r"(?P<path>(personas|rubrics)/[a-z0-9-]+\.yaml):(?P<line>\d+):(?P<col>\d+): \S.*")
    matches = [pattern.fullmatch(row) for row in rows]
    assert all(matches), [row for row, m in zip(rows, matches) if not m]
    firsts: dict[str, tuple[int, int]] = {}
    for m in matches:
        firsts.setdefault(m["path"], (int(m["line"]), int(m["col"])))
    assert set(firsts) == set(EXPECTED)  # every broken file, and not the valid mini.yaml
    assert firsts == {name: EXPECTED[name][:2] for name in EXPECTED}
    total = len(EXPECTED) + 1
    assert result.stderr == f"{len(rows)} errors in {len(EXPECTED)} of {total} files\n"


# --- (3) one broken persona never hides the good ones -------------------------------------------


@pytest.fixture
def mixed_workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "mixed"  # conftest.py seeds tmp_path / "workspace"
    (workspace / "personas").mkdir(parents=True)
    (workspace / "rubrics").mkdir()
    shutil.copy(CORPUS / "rubrics" / "mini.yaml", workspace / "rubrics" / "mini.yaml")
    (workspace / "personas" / "late-parcel.yaml").write_text(GOOD_PERSONA)
    shutil.copy(CORPUS / "personas" / "typo-top-key.yaml", workspace / "personas" / "typo.yaml")
    return workspace


def test_validate_folder_reports_only_the_broken_persona(mixed_workspace: Path, tmp_path: Path):
    result = _run(["validate", "personas"], cwd=mixed_workspace, tmp=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == "personas/typo.yaml:9:1: unknown key 'openning' (did you mean 'opening'?)\n"
    assert result.stderr == "1 error in 1 of 2 files\n"


def test_personas_lists_the_good_one_and_shows_the_broken_one(mixed_workspace: Path, tmp_path: Path):
    result = _run(["--workspace", str(mixed_workspace), "personas"], cwd=tmp_path, tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    rows = result.stdout.splitlines()
    assert any(row.startswith("late-parcel ") and "Sam Carter — Late parcel, second time this month" in row
               for row in rows), result.stdout
    broken = [row for row in rows if row.startswith("typo ")]
    assert len(broken) == 1 and "BROKEN" in broken[0]
    assert broken[0].endswith("typo.yaml:9:1: unknown key 'openning' (did you mean 'opening'?)")

    result = _run(["--workspace", str(mixed_workspace), "personas", "--json"], cwd=tmp_path, tmp=tmp_path)
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["late-parcel"]["status"] == "ok" and rows["late-parcel"]["rubric"] == "mini"
    assert rows["typo"]["status"] == "broken" and rows["typo"]["error"].endswith(":9:1: unknown key 'openning' "
                                                                                 "(did you mean 'opening'?)")


def test_library_keeps_loading_past_broken_files(mixed_workspace: Path):
    shutil.copy(CORPUS / "rubrics" / "scale-reversed.yaml", mixed_workspace / "rubrics" / "scale-reversed.yaml")
    shutil.copy(CORPUS / "personas" / "alias-bomb.yaml", mixed_workspace / "personas" / "bomb.yaml")
    library = load_library(mixed_workspace)
    assert list(library.personas) == ["late-parcel"] and list(library.rubrics) == ["mini"]
    assert sorted((b.kind, b.id) for b in library.broken) == [
        ("persona", "bomb"), ("persona", "typo"), ("rubric", "scale-reversed")]


def test_libyaml_reads_every_file_as_the_python_parser_does(corpus: Path, no_tag_ran, monkeypatch):
    """The safe reader parses with libyaml when PyYAML has it (twenty times faster, most of a
    library's load time), and with the pure-Python parser when libyaml rejects a file: the
    values, their positions and every problem are the same either way."""
    from simulator.core import yamlfile
    from simulator.core.errors import FileFormatError

    if yamlfile.FAST_LOADER is None:
        pytest.skip("PyYAML is built without libyaml here")
    files = sorted(corpus.glob("*/*.yaml")) + sorted((REPO / "personas").glob("*.yaml")) \
        + sorted((REPO / "rubrics").glob("*.yaml"))

    def read(path: Path):
        try:
            doc = yamlfile.read_yaml(path)
        except FileFormatError as exc:
            return exc.problems
        return doc.data, doc.values, doc.keys

    fast = [read(path) for path in files]
    monkeypatch.setattr(yamlfile, "FAST_LOADER", None)
    assert [read(path) for path in files] == fast


# --- (4) the bundled library ----------------------------------------------------------------------


def test_bundled_library_is_valid(tmp_path: Path):
    if not list((REPO / "personas").glob("*.yaml")):
        pytest.skip("personas/ has no bundled persona yet (they are being written); CI always has them")
    result = _run(["--workspace", str(REPO), "validate"], cwd=tmp_path, tmp=tmp_path)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert re.fullmatch(r"all \d+ files are valid\n", result.stderr), result.stderr


def test_jargon_entries_may_give_plain_words_and_a_plain_list_stays_valid(tmp_path: Path):
    """Issue 10: `- MFA: the code on your phone` (YAML reads a mapping) and `"MFA: …"` both
    give plain words; a plain list of words is still valid; anything else is an error in place."""
    from simulator.content.persona import read_persona
    from simulator.core.errors import FileFormatError
    from simulator.core.text import jargon_in, plain_words

    path = tmp_path / "p.yaml"
    path.write_text(GOOD_PERSONA + "jargon:\n  - MFA: the code on your phone\n  - \"SSO: your work login\"\n  - ONT\n")
    persona, _ = read_persona(path)
    assert persona.jargon == ["MFA: the code on your phone", "SSO: your work login", "ONT"]
    assert jargon_in("Use MFA, then SSO and the ONT.", persona.jargon) == ["MFA", "SSO", "ONT"]
    assert plain_words(persona.jargon, "mfa") == "the code on your phone" and plain_words(persona.jargon, "ONT") is None
    path.write_text(GOOD_PERSONA + "jargon:\n  - MFA: [a, list]\n")
    with pytest.raises(FileFormatError) as err:
        read_persona(path)
    assert "p.yaml:" in str(err.value) and "jargon" in str(err.value)


def test_a_persona_file_whose_name_is_not_an_id_is_broken_with_the_name_to_use(workspace):
    """Its name becomes the persona's id and its sessions' folder names: one the app cannot
    use is said where a trainer looks (the picker and `roleplay validate`), not at Start."""
    import shutil

    from simulator.cli import main
    from simulator.content.library import load_library

    src = workspace / "personas" / "overcharged-loyal-customer.yaml"
    shutil.copy(src, workspace / "personas" / "Dana_Test.yaml")
    library = load_library(workspace)
    broken = [b for b in library.broken if b.path.name == "Dana_Test.yaml"]
    assert broken and "rename the file dana-test.yaml" in str(broken[0].problems[0])
    assert main(["--workspace", str(workspace), "validate"]) == 1
