"""Issue 11, export: a session as Markdown (its report) or JSON, every session as one CSV."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

from fakes import ScriptedModel

from simulator.content.library import load_library
from simulator.grading.evaluator import evaluate
from simulator.models.config import SMALL
from simulator.practice.scripted import save_record, scripted_record


def roleplay(*args):
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True)


async def sessions(workspace):
    library = load_library(workspace)
    made = []
    for n, (persona_id, lines) in enumerate((("overcharged-loyal-customer", ["I'm sorry, Dana. I'll credit it."]),
                                             ("rude-missing-parcel", ["Calm down."]))):
        persona = library.persona(persona_id)
        record = scripted_record(persona, library.rubric_for(persona), lines, ["Okay."], outcome="gave_up")
        record.session_id = f"2026110{n + 1}-090000-{persona_id}-0001"
        made.append(save_record(record, workspace))
    await evaluate(made[0], made[0].rubric_snapshot(), ScriptedModel(capabilities=SMALL))
    broken = workspace / "sessions" / "20261103-000000-damaged-0001"
    broken.mkdir()
    (broken / "session.json").write_text('{"format": "roleplay-sess')
    return made


async def test_a_session_exports_as_its_report_or_as_json(workspace, tmp_path):
    graded, ungraded = await sessions(workspace)
    md = roleplay("export", graded.session_id)
    assert md.returncode == 0 and md.stdout == (graded.folder / "report.md").read_text()
    assert "## Result:" in md.stdout
    pending = roleplay("export", ungraded.session_id, "--format", "md").stdout
    assert "## Judged evaluation: pending" in pending and "## Measured" in pending
    data = json.loads(roleplay("export", graded.session_id, "--format", "json").stdout)
    assert data["session_id"] == graded.session_id and data["evaluation"]["overall"]["score"] > 0
    assert data["measured"]["learner_turns"] == 1 and data["turns"][1]["text"] == "I'm sorry, Dana. I'll credit it."
    out = tmp_path / "one.md"
    assert roleplay("export", "20261101", "-o", str(out)).returncode == 0 and out.read_text().startswith("# Feedback")


async def test_all_sessions_export_as_one_csv_row_each(workspace):
    graded, ungraded = await sessions(workspace)
    out = roleplay("export", "--all")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["session_id"] for r in rows] == ["20261103-000000-damaged-0001", ungraded.session_id,
                                               graded.session_id]
    damaged, parcel, dana = rows
    assert damaged["status"] == "unreadable" and "unreadable" in damaged["note"]
    assert dana["status"] == "evidence" and float(dana["overall"]) > 0 and dana["empathy"]
    assert parcel["status"] == "pending" and parcel["overall"] == "" and parcel["apologies"] == "0"
    assert {"median_response_time_s", "reading_ease", "jargon_used"} <= set(rows[0])


def test_export_errors_are_one_line(workspace):
    for args, words in ((("export", "nope"), "no session 'nope'"), (("export", "--all", "--format", "md"), "csv"),
                        (("export",), "name a session")):
        out = roleplay(*args)
        assert out.returncode == 1 and words in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
