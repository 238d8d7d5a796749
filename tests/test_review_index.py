"""Issue 11, history: the session index lists every session (score, status, reason for the
unreadable ones), reads only what changed, and is rebuilt from the session files."""

from __future__ import annotations

import json
import subprocess
import sys

from fakes import ScriptedModel

from simulator.content.library import load_library
from simulator.grading.evaluator import evaluate
from simulator.models.config import SMALL
from simulator.practice import sessions as sessions_module
from simulator.practice.scripted import save_record, scripted_record
from simulator.review import index as index_module
from simulator.review.index import INDEX, filter_rows, session_index

GOOD = ["Dana, I'm sorry, a bill that nearly doubled with no warning must be a real shock.",
        "Here's what I can do: a $45 credit today, or the $70 loyalty price. Which would you prefer?"]


def saved_session(workspace, persona_id="overcharged-loyal-customer", lines=GOOD, outcome="resolved", stamp="0900"):
    library = load_library(workspace)
    persona = library.persona(persona_id)
    record = scripted_record(persona, library.rubric_for(persona), lines, ["Okay."], outcome=outcome)
    record.session_id = f"20261101-{stamp}00-{persona_id}-0001"
    return save_record(record, workspace)


async def test_rows_carry_score_and_status_and_only_changed_sessions_are_read(workspace, monkeypatch):
    graded = saved_session(workspace, stamp="0900")
    saved_session(workspace, "rude-missing-parcel", ["Calm down."], outcome="gave_up", stamp="1000")
    await evaluate(graded, graded.rubric_snapshot(), ScriptedModel(capabilities=SMALL))
    rows = session_index(workspace)
    assert [r.persona_id for r in rows] == ["rude-missing-parcel", "overcharged-loyal-customer"]  # newest first
    parcel, dana = rows
    assert dana.status == "evidence" and dana.score is not None and dana.passed is not None
    assert dana.criteria["empathy"] >= 4 and dana.learner_turns == 2 and dana.duration_s is not None
    assert parcel.status == "pending" and parcel.score is None and parcel.outcome == "gave_up"
    assert (workspace / "sessions" / INDEX).is_file()

    def no_reading(folder):
        raise AssertionError(f"read {folder} although it did not change")

    monkeypatch.setattr(index_module, "read_session", no_reading)
    assert [r.session_id for r in session_index(workspace)] == [r.session_id for r in rows]
    monkeypatch.undo()
    await evaluate(sessions_module.read_session(parcel_folder := workspace / "sessions" / parcel.folder),
                   graded.rubric_snapshot(), ScriptedModel(capabilities=SMALL))
    assert parcel_folder.is_dir() and session_index(workspace)[0].status == "evidence"  # the changed one re-read
    (workspace / "sessions" / INDEX).write_text("{ damaged")
    assert [r.status for r in session_index(workspace)] == ["evidence", "evidence"]  # rebuilt from the files


def test_unreadable_sessions_are_rows_with_their_reason(workspace):
    saved_session(workspace)
    newer = workspace / "sessions" / "20990101-000000-from-the-future-0001"
    newer.mkdir()
    (newer / "session.json").write_text(json.dumps({"format": "roleplay-session", "version": 99}))
    corrupt = workspace / "sessions" / "20260101-000000-corrupt-0002"
    corrupt.mkdir()
    (corrupt / "session.json").write_text('{"format": "roleplay-sess')
    rows = {r.folder: r for r in session_index(workspace)}
    assert len(rows) == 3
    assert rows[newer.name].status == "unreadable" and "upgrade roleplay" in rows[newer.name].reason
    assert rows[corrupt.name].status == "unreadable" and "unreadable" in rows[corrupt.name].reason


def test_filters_and_the_sessions_command(workspace):
    saved_session(workspace, stamp="0900")
    saved_session(workspace, "rude-missing-parcel", ["Calm down."], outcome="gave_up", stamp="1000")
    rows = session_index(workspace)
    assert [r.persona_id for r in filter_rows(rows, persona="Dana")] == ["overcharged-loyal-customer"]
    assert [r.outcome for r in filter_rows(rows, outcome="gave_up")] == ["gave_up"]
    assert filter_rows(rows, since="2026-01-06") == [] and len(filter_rows(rows, since="2026-01-05")) == 2
    assert len(filter_rows(rows, text="parcel gave up")) == 1
    out = subprocess.run([sys.executable, "-m", "simulator", "sessions", "--outcome", "gave_up"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.count("\n") == 1 and "gave up" in out.stdout and "pending" in out.stdout
    data = json.loads(subprocess.run([sys.executable, "-m", "simulator", "sessions", "--json", "--persona",
                                      "overcharged-loyal-customer"], capture_output=True, text=True).stdout)
    assert [d["persona_id"] for d in data] == ["overcharged-loyal-customer"] and data[0]["status"] == "pending"
    bad = subprocess.run([sys.executable, "-m", "simulator", "sessions", "--since", "yesterday"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr


async def test_progress_over_sessions_names_the_weakest_criterion(workspace):
    """Issue 11, progress: per-criterion trend, pass rate, sessions per week, the figures that
    moved, and the weakest criterion with two personas that train it."""
    import subprocess as sp

    from simulator.review.progress import progress, progress_lines, sparkline

    poor = ["Sorry. Sorry about that. What's your account number?", "Calm down, policy is policy."]
    for n, lines in enumerate([poor, poor, GOOD, GOOD]):
        record = saved_session(workspace, lines=lines, stamp=f"{9 + n:02d}00")
        await evaluate(record, record.rubric_snapshot(), ScriptedModel(capabilities=SMALL))
    rows = session_index(workspace)
    library = load_library(workspace)
    report = progress(rows, list(library.personas.values()))
    assert report.sessions == 4 and report.graded == 4 and 0 < report.passed < 4
    empathy = next(c for c in report.criteria if c.id == "empathy")
    assert empathy.latest > empathy.first and len(empathy.scores) == 4
    assert report.figures["apologies"][0] > report.figures["apologies"][1]  # fewer apologies lately
    assert report.weakest is not None and len(report.suggested) == 2
    assert all(report.weakest.id in library.personas[pid].skills for pid, _, _ in report.suggested)
    text = "\n".join(progress_lines(report))
    assert "pass rate" in text and "Empathy" in text and "↑" in text and "Weakest lately" in text
    assert sparkline([1, 3, 5], 1, 5) == "▁▅█"
    out = sp.run([sys.executable, "-m", "simulator", "progress", "--json"], capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["graded"] == 4


async def test_a_second_attempt_is_compared_with_the_last_one_on_the_same_persona(workspace):
    """Issue 11, "try again": the same persona from the start, the two attempts' scores
    compared per criterion."""
    from simulator.review.replay import compare_lines, previous_attempt

    poor = saved_session(workspace, lines=["Calm down, policy is policy."], stamp="0900")
    saved_session(workspace, "rude-missing-parcel", ["Calm down."], outcome="gave_up", stamp="0930")
    good = saved_session(workspace, lines=GOOD, stamp="1000")
    for record in (poor, good):
        await evaluate(record, record.rubric_snapshot(), ScriptedModel(capabilities=SMALL))
    earlier = previous_attempt(good, workspace)
    assert earlier is not None and earlier.session_id == poor.session_id  # not the other persona's
    lines = compare_lines(good, earlier)
    assert "tried again" not in lines[0] and any(line.strip().startswith("Empathy") and "↑" in line
                                                 for line in lines)
    assert previous_attempt(poor, workspace) is None


def index_data(path):
    """The index file's rows (the line after its digest)."""
    return json.loads(path.read_text().partition("\n")[2])


def test_an_index_nested_too_deeply_is_rebuilt_from_the_session_files(workspace):
    """Issue 18: a `.index.json` of 100,000 nested lists was a RecursionError; it is only a
    cache, so the sessions are read again."""
    saved_session(workspace)
    (workspace / "sessions" / INDEX).write_text("[" * 100_000 + "]" * 100_000)
    rows = session_index(workspace)
    assert [r.status for r in rows] == ["pending"]
    assert index_data(workspace / "sessions" / INDEX)["sessions"][0]["status"] == "pending"


def test_an_index_row_of_the_wrong_type_is_read_again(workspace):
    """Issue 18: a row whose score was text (its stamp still current) made `roleplay
    sessions` fail with ValueError; the row is read again from the session's files."""
    from simulator.review.index import summary_line

    saved_session(workspace)
    session_index(workspace)
    index = workspace / "sessions" / INDEX
    digest = index.read_text().partition("\n")[0]
    data = index_data(index)
    data["sessions"][0].update(score="high", learner_turns="two")
    index.write_text(f"{digest}\n{json.dumps(data)}")  # edited by hand: the digest line no longer matches
    out = subprocess.run([sys.executable, "-m", "simulator", "sessions"], capture_output=True, text=True)
    assert out.returncode == 0 and "Traceback" not in out.stderr and out.stdout.rstrip().endswith("pending")
    index.write_text(f"{digest}\n{json.dumps(data)}")
    rows = session_index(workspace)
    assert rows[0].score is None and rows[0].learner_turns == 2
    assert summary_line(rows[0]).endswith("pending")


def test_a_same_size_rewrite_with_its_mtime_put_back_is_read_again(workspace):
    """Issue 18: the index's stamp holds each file's inode and change time besides its size
    and modification time, so a rewrite in place that keeps the size and puts the old
    modification time back still shows, not a stale row."""
    import os

    record = saved_session(workspace)
    assert session_index(workspace)[0].outcome == "resolved"
    journal = record.folder / "journal.jsonl"
    before = journal.stat()
    text = journal.read_bytes()
    changed = text.replace(b'"outcome":"resolved"', b'"outcome":"gave_up" ')  # the same size, still JSON
    assert changed != text and len(changed) == len(text)
    with journal.open("r+b") as handle:  # in place: the same inode
        handle.write(changed)
    os.utime(journal, ns=(before.st_atime_ns, before.st_mtime_ns))
    while journal.stat().st_ctime_ns == before.st_ctime_ns:  # a clock coarser than this test: tick it on
        os.utime(journal, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = journal.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert session_index(workspace)[0].outcome == "gave_up"
