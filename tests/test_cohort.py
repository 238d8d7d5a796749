"""Issue 12, cohorts: grade a folder of sessions from several learners in one go (over the
fake HTTP server, with injected failures), and report per learner and per persona."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakeserver import FakeServer, status

from simulator.content.library import load_library
from simulator.practice.scripted import save_record, scripted_record
from simulator.practice.sessions import read_session

GOOD = ["I'm sorry, that must be frustrating. So your bill went up without warning?",
        "Here's what I can do: I'll credit it today, or move you to the loyalty price. Which would you prefer?"]
POOR = ["What's your account number?", "Calm down, policy is policy."]
JUDGE = json.dumps({"score": 4, "reason": "good", "evidence": [], "improvement": "more",
                    "strengths": ["a"], "changes": ["b"], "better_replies": []})


def cohort(workspace: Path, folder: Path) -> list[str]:
    """Twenty sessions from three learners on three personas, the later ones better, and one
    damaged session folder."""
    library = load_library(workspace)
    ids = []
    for n in range(20):
        learner = ["Ana", "Ben", "Chloe"][n % 3]
        persona = library.persona(["overcharged-loyal-customer", "rude-missing-parcel", "polite-transfer-limit"][n % 3])
        record = scripted_record(persona, library.rubric_for(persona), GOOD if n >= 9 else POOR, ["Okay."],
                                 outcome="resolved" if n >= 9 else "gave_up")
        record.session_id = f"202611{1 + n:02d}-090000-{persona.id}-{n:04x}"
        record.learner = learner
        save_record(record, folder)
        ids.append(record.session_id)
    broken = folder / "sessions" / "20261130-000000-damaged-0001"
    broken.mkdir()
    (broken / "session.json").write_text('{"format": "roleplay-sess')
    return ids


def test_cohort_grading_grades_what_it_can_and_names_the_rest(workspace, tmp_path):
    folder = tmp_path / "cohort"
    ids = cohort(workspace, folder)
    env = {**os.environ, "FAKE_KEY": "sk-test-key-000000000000"}
    with FakeServer(reply_fn=lambda body: JUDGE) as server:
        (workspace / "roleplay.yaml").write_text(f"evaluator:\n  model: openai/fake\n  api_base: {server.base_url}\n"
                                                 "  api_key_env: FAKE_KEY\n")
        server.script([status(401), status(401)])  # the first calls are refused: their sessions fall back
        out = subprocess.run([sys.executable, "-m", "simulator", "evaluate", str(folder)], capture_output=True,
                             text=True, env=env)
    assert "Traceback" not in out.stderr
    assert "20/20 graded" in out.stderr and "20 graded" in out.stderr, out.stderr
    assert "20261130-000000-damaged-0001: unreadable" in out.stderr
    failed = [line for line in out.stderr.splitlines() if "judge failed, graded from evidence" in line]
    assert 1 <= len(failed) <= 2 and "not authorised" in failed[0]
    records = [read_session(folder / "sessions" / i) for i in ids]
    assert all(r.evaluations for r in records)  # everything that could be graded was
    assert sum(r.evaluation_pending for r in records) == len(failed)  # and those wait for the judge
    assert out.returncode == 1


def test_cohort_report_per_learner_and_persona(workspace, tmp_path):
    folder = tmp_path / "cohort"
    cohort(workspace, folder)
    out = subprocess.run([sys.executable, "-m", "simulator", "evaluate", str(folder)], capture_output=True, text=True)
    assert "20 graded (20 from evidence)" in out.stderr  # the built-in evaluator: scored from evidence
    md = subprocess.run([sys.executable, "-m", "simulator", "report", str(folder)], capture_output=True, text=True)
    assert md.returncode == 0, md.stderr
    text = md.stdout
    assert "# Cohort report: 20 sessions, 3 learners" in text
    for name in ("Ana", "Ben", "Chloe", "Dana Whitaker", "Derek Halvorsen"):
        assert f"| {name} |" in text
    ana = next(line for line in text.splitlines() if line.startswith("| Ana |"))
    first, latest = ana.split("|")[6].split("→")
    assert float(latest) > float(first)  # her later sessions were better
    assert "Unreadable sessions" in text and "damaged" in text
    csv_out = subprocess.run([sys.executable, "-m", "simulator", "report", str(folder), "--format", "csv"],
                             capture_output=True, text=True).stdout
    assert csv_out.splitlines()[0].startswith("group,name,sessions,graded,pass_rate,mean,first,latest,weakest")
    assert len(csv_out.splitlines()) == 1 + 3 + 3
    page = tmp_path / "report.html"
    subprocess.run([sys.executable, "-m", "simulator", "report", str(folder), "--format", "html", "-o", str(page)],
                   check=True, capture_output=True)
    html = page.read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") == 2 and "http" not in html.replace(
        "http://www.w3.org/2000/svg", "")  # stands alone: no network
