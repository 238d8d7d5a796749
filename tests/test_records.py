"""Issue 21: graded sessions to a real Learning Record Store (Ralph, started here on 127.0.0.1
from its own hash-locked venv: tests/lrs_server.py), offline first through the outbox."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import ScriptedModel
from lrs_server import RalphServer

from simulator.content.library import load_library
from simulator.grading.evaluator import evaluate
from simulator.models.config import SMALL
from simulator.practice.scripted import save_record, scripted_record
from simulator.practice.sessions import read_session
from simulator.records.outbox import Outbox
from simulator.records.statements import VERBS, Made, registration
from simulator.records.sync import statements_of

PASSWORD_ENV = "ROLEPLAY_LRS_PASSWORD"
BASE = "https://training.example.com/roleplay/"
DANA = "overcharged-loyal-customer"


@pytest.fixture(scope="module")
def ralph(tmp_path_factory):
    server = RalphServer(tmp_path_factory.mktemp("ralph"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def desk(workspace, ralph, monkeypatch):
    """A learner's desk whose workspace config names the LRS (the password by its variable)."""
    ralph.start()  # running already, or again after a test stopped it
    (workspace / "roleplay.yaml").write_text(
        "version: 1\n"
        "lrs:\n"
        f"  endpoint: {ralph.endpoint}\n"
        f"  username: {ralph.username}\n"
        f"  password_env: {PASSWORD_ENV}\n"
        f"  activity_base: {BASE}\n", encoding="utf-8")
    monkeypatch.setenv(PASSWORD_ENV, ralph.password)
    return workspace


def roleplay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def graded(workspace: Path, n: int, *, lines: list[str] | None = None, learner: str = "ana",
           persona_id: str = DANA):
    library = load_library(workspace)
    persona = library.persona(persona_id)
    record = scripted_record(persona, library.rubric_for(persona),
                             lines or ["I'm sorry about the bill, Dana. Can you tell me when it went up?",
                                       "Thank you. I'll credit the difference today and confirm it by email."],
                             ["It went up in March.", "Okay, thank you."], outcome="resolved")
    record.session_id = f"2026110{n}-090000-{persona_id}-000{n}"
    record.learner = learner
    save_record(record, workspace)
    asyncio.run(evaluate(record, record.rubric_snapshot(), ScriptedModel(capabilities=SMALL)))
    return read_session(record.folder)


def copy_sessions(workspace: Path, template, n: int) -> list[str]:
    """``n`` copies of a graded session under new ids (as if ``n`` sessions had been graded)."""
    import shutil

    ids = []
    for i in range(n):
        sid = f"20261201-000000-copy-{i:05d}"
        folder = template.folder.parent / sid
        shutil.copytree(template.folder, folder)
        for name in ("journal.jsonl", "session.json"):
            path = folder / name
            path.write_text(path.read_text(encoding="utf-8").replace(template.session_id, sid), encoding="utf-8")
        (folder / "report.md").unlink(missing_ok=True)
        ids.append(sid)
    return ids


def observed(evaluation) -> int:
    """Criteria with evidence either way: each gets a scored statement."""
    return sum(1 for c in evaluation.criteria if c.observed)


def by_verb(statements: list[dict], verb: str) -> list[dict]:
    return [s for s in statements if s["verb"]["id"] == VERBS[verb]]


def test_a_graded_session_reaches_the_lrs_and_reads_back_field_by_field(desk, ralph):
    record = graded(desk, 1)
    evaluation = record.latest_evaluation()
    done = roleplay("sync")
    assert done.returncode == 0, done.stderr
    criteria = observed(evaluation)
    assert f"sent {3 + criteria} statements" in done.stdout and "outbox empty" in done.stdout

    stored = ralph.statements(registration=registration(record.session_id))
    assert len(stored) == 3 + criteria
    for statement in stored:  # the learner as an account under the LRS's site
        assert statement["actor"]["account"] == {"homePage": ralph.url, "name": "ana"}
        assert statement["context"]["registration"] == registration(record.session_id)
        assert statement["context"]["extensions"][BASE + "extensions/rubric-id"] == "core-soft-skills"
        assert statement["context"]["extensions"][BASE + "extensions/grading-method"] == "evidence"
    attempted, completed = by_verb(stored, "attempted"), by_verb(stored, "completed")
    assert len(attempted) == len(completed) == 1
    persona = attempted[0]["object"]
    assert persona["id"] == BASE + f"personas/{DANA}"
    assert persona["definition"]["type"] == "http://adlnet.gov/expapi/activities/simulation"
    assert persona["definition"]["name"]["en-US"].startswith("Dana Whitaker")
    assert persona["definition"]["extensions"][BASE + "extensions/difficulty"] == "medium"
    assert completed[0]["result"]["completion"] is True
    assert completed[0]["result"]["duration"] == "PT34S"  # 2 x (15 s to answer + 2 s for the reply)
    assert BASE + "extensions/transcript" not in completed[0]["result"]["extensions"]  # off unless a trainer asks

    verb = "passed" if evaluation.overall.passed else "failed"
    (overall,) = by_verb(stored, verb)
    assert not by_verb(stored, "failed" if verb == "passed" else "passed")
    low, high = evaluation.overall.scale
    score = overall["result"]["score"]
    assert score["raw"] == pytest.approx(evaluation.overall.score, abs=1e-4)
    assert (score["min"], score["max"]) == (low, high)
    assert score["scaled"] == pytest.approx((evaluation.overall.score - low) / (high - low), abs=1e-4)
    assert overall["result"]["success"] is evaluation.overall.passed

    scored = {s["object"]["id"].rsplit("/", 1)[1]: s for s in by_verb(stored, "scored")}
    assert set(scored) == {c.id for c in evaluation.criteria if c.observed}
    not_observed = overall["result"]["extensions"].get(BASE + "extensions/not-observed", [])
    assert set(not_observed) == {c.id for c in evaluation.criteria if not c.observed}
    for grade in (c for c in evaluation.criteria if c.observed):
        statement = scored[grade.id]
        assert statement["result"]["score"]["raw"] == pytest.approx(grade.score)
        assert statement["object"]["definition"]["name"]["en-US"] == grade.label
        assert statement["context"]["contextActivities"]["parent"][0]["id"] == persona["id"]
        quotes = statement["result"]["extensions"][BASE + "extensions/evidence"]
        assert [q["quote"] for q in quotes] == [q.quote for q in grade.evidence]
    assert any(scored[c.id]["result"]["extensions"][BASE + "extensions/evidence"] for c in evaluation.criteria
               if c.observed)


def test_sent_twice_is_stored_once_and_a_regrade_sends_its_own_statements(desk, ralph):
    record = graded(desk, 2)
    assert roleplay("sync").returncode == 0
    reg = registration(record.session_id)
    first = len(ralph.statements(registration=reg))
    # the outbox forgets it sent them (a kill -9 after the POST, before the mark): sent again, stored once
    made = statements_of(record, outbox_lrs(desk))[0]
    assert Outbox(desk).queue(Made(made.session_id, 99, made.statements)) == first
    again_run = roleplay("sync")
    assert again_run.returncode == 0 and f"sent {first} statements" in again_run.stdout
    assert len(ralph.statements(registration=reg)) == first

    asyncio.run(evaluate(record, record.rubric_snapshot(), ScriptedModel(capabilities=SMALL)))  # a regrade
    assert roleplay("sync").returncode == 0
    stored = ralph.statements(registration=reg)
    criteria = observed(record.latest_evaluation())
    assert len(stored) == first + 1 + criteria  # a new overall and new criterion scores; one attempt, one completion
    assert len(by_verb(stored, "attempted")) == len(by_verb(stored, "completed")) == 1
    numbers = {s["context"]["extensions"][BASE + "extensions/evaluation-number"] for s in stored}
    assert numbers == {1, 2}


def outbox_lrs(workspace: Path):
    from simulator.records.sync import lrs_settings

    return lrs_settings(workspace)


def test_with_the_lrs_down_results_wait_in_the_outbox_then_go_once(desk, ralph):
    ralph.stop()
    try:
        record = graded(desk, 3)
        down = roleplay("sync")
        assert down.returncode == 1
        lines = down.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot reach the LRS" in lines[0] and "wait in the outbox" in lines[0]
        assert "Traceback" not in down.stderr
        status = roleplay("lrs", "status")
        waiting = 3 + observed(record.latest_evaluation())
        assert f"{waiting} statements waiting (1 session)" in status.stdout
        doctor = roleplay("doctor", "--json")
        lrs_lines = [c for c in json.loads(doctor.stdout) if c["name"] == "lrs"]
        assert lrs_lines[0]["level"] == "warn" and "cannot reach" in lrs_lines[0]["detail"]
    finally:
        ralph.start()
    up = roleplay("sync")
    assert up.returncode == 0 and f"sent {waiting} statements" in up.stdout
    assert len(ralph.statements(registration=registration(record.session_id))) == waiting
    assert "sent 0 statements" in roleplay("sync").stdout


def test_a_wrong_password_is_one_line_naming_its_variable_and_nothing_is_lost(desk, ralph):
    graded(desk, 4)
    wrong = "not-the-password-1234"
    refused = roleplay("sync", env={PASSWORD_ENV: wrong})
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert "401" in line and f"${PASSWORD_ENV}" in line and "roleplay.yaml:5" in line
    assert wrong not in refused.stdout + refused.stderr
    assert Outbox(desk).count() > 0
    check = roleplay("lrs", "check", env={PASSWORD_ENV: wrong})
    assert check.returncode == 1 and "FAIL the LRS refused user 'trainer' (401)" in check.stdout
    unset = roleplay("sync", env={PASSWORD_ENV: ""})
    assert unset.returncode == 1 and f"${PASSWORD_ENV} is not set" in unset.stderr
    assert roleplay("sync").returncode == 0 and Outbox(desk).count() == 0


def test_lrs_check_says_what_answers(desk, ralph):
    check = roleplay("lrs", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "user 'trainer' may read statements" in check.stdout


def test_a_statement_the_lrs_refuses_is_set_aside_with_its_reason_and_the_rest_go(desk, ralph):
    record = graded(desk, 5)
    made = statements_of(record, outbox_lrs(desk))[0]
    bad = made.statements[-1]
    # passes our checks (they are for what a grade can break), but xAPI has no such actor: Ralph refuses it
    bad.actor = bad.actor.model_copy(update={"objectType": "Robot"})  # its own: the actor is shared
    out = Outbox(desk)
    out.queue(made)
    done = roleplay("sync")
    assert done.returncode == 0, done.stderr
    assert f"sent {len(made.statements) - 1} statements" in done.stdout and "1 statement set aside" in done.stdout
    stored = ralph.statements(registration=registration(record.session_id))
    assert len(stored) == len(made.statements) - 1 and bad.id not in {s["id"] for s in stored}
    status = roleplay("lrs", "status").stdout
    assert f"set aside {bad.id}" in status and "the LRS refused it (422" in status


def test_a_statement_that_breaks_xapi_is_never_sent(desk, ralph):
    record = graded(desk, 6)
    made = statements_of(record, outbox_lrs(desk))[0]
    overall = made.statements[2]
    overall.result.score.scaled = 1.7  # Ralph answers that with a 500 that says nothing
    Outbox(desk).queue(made)
    done = roleplay("sync")
    assert done.returncode == 0 and "1 statement set aside" in done.stdout
    assert overall.id not in {s["id"] for s in ralph.statements(registration=registration(record.session_id))}
    assert "result.score.scaled: 1.7 is outside -1..1" in roleplay("lrs", "status").stdout


def test_a_session_without_a_learner_id_is_left_out_and_counted(desk, ralph):
    graded(desk, 7, learner="")
    done = roleplay("sync")
    assert done.returncode == 0 and "1 graded session left out: no learner id" in done.stdout


def test_export_writes_the_statements_an_lrs_gets(desk, ralph, tmp_path):
    record = graded(desk, 8)
    out = tmp_path / "statements.json"
    done = roleplay("export", record.session_id, "--format", "xapi", "-o", str(out))
    assert done.returncode == 0, done.stderr
    exported = json.loads(out.read_text())
    assert roleplay("sync").returncode == 0
    stored = ralph.statements(registration=registration(record.session_id))
    assert {s["id"] for s in exported} == {s["id"] for s in stored}
    everything = json.loads(roleplay("export", "--all", "--format", "xapi").stdout)
    assert {s["id"] for s in exported} <= {s["id"] for s in everything}


def test_a_kill_in_the_middle_of_a_sync_loses_nothing_and_stores_nothing_twice(desk, ralph):
    """Sessions copied from one graded session (as the benchmark does); a sync killed with
    SIGKILL once Ralph has some of them; the next sync sends the rest, each statement once."""
    template = graded(desk, 9)
    ids = copy_sessions(desk, template, 40)
    per_session = 3 + observed(template.latest_evaluation())
    before = ralph.count()
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "sync"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    while ralph.count() == before and proc.poll() is None:
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = roleplay("sync")
    assert done.returncode == 0, done.stderr
    for sid in [template.session_id, *ids]:
        assert len(ralph.statements(registration=registration(sid))) == per_session, sid


def test_the_lrs_block_is_checked_where_it_is_written(workspace):
    (workspace / "roleplay.yaml").write_text(
        "version: 1\nlrs:\n  endpoint: lrs.example.com/xAPI\n  password_env: sk-live-4f9a8b7c6d5e4f3a2b1c\n",
        encoding="utf-8")
    done = roleplay("sync")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "roleplay.yaml:3:" in done.stderr and "http://" in done.stderr
    assert "sk-live-4f9a8b7c6d5e4f3a2b1c" not in done.stderr


async def test_the_app_sends_after_grading_and_shows_what_waits_while_the_lrs_is_down(desk, ralph, monkeypatch):
    from test_tui import SIZE, make_app, open_chat, say, settle

    from simulator.tui.home import HomeScreen
    from simulator.tui.widgets import OutboxLine

    async def until(pilot, test) -> None:
        for _ in range(200):  # workers one after another: grading, then sending
            if test():
                return
            await settle(pilot)
        raise AssertionError("the app never got there")

    monkeypatch.setenv("ROLEPLAY_LEARNER", "ana")
    ralph.stop()
    try:
        app = make_app(desk)
        async with app.run_test(size=SIZE) as pilot:
            await open_chat(pilot)
            await say(pilot, "I'm sorry about the bill, Dana. When did it go up?")
            await pilot.press("ctrl+e")
            await pilot.pause()
            await pilot.press("enter")  # ends the call: graded, then sent
            await until(pilot, lambda: app.outbox_waiting > 0)
            await pilot.press("escape")  # the feedback -> the library
            await until(pilot, lambda: isinstance(app.screen, HomeScreen))
            line = str(app.screen.query_one("#outbox", OutboxLine).content)
            assert f"{app.outbox_waiting} result statements waiting for the LRS" in line
            assert "cannot reach the LRS" in line
            await pilot.press("ctrl+p")  # History says so too
            await pilot.pause()
            await pilot.press(*"history", "enter")
            await until(pilot, lambda: type(app.screen).__name__ == "HistoryScreen")
            assert "waiting for the LRS" in str(app.screen.query_one("#outbox", OutboxLine).content)
        waiting = Outbox(desk).count()
        assert waiting == app.outbox_waiting
    finally:
        ralph.start()
    app = make_app(desk)  # the next start, with the LRS up: what waited goes
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.records_started and not any(w.group == "records" and not w.is_finished
                                                                   for w in app.workers))
        assert app.outbox_waiting == 0
        assert not app.screen.query_one("#outbox", OutboxLine).display
    (record,) = [read_session(f) for f in (desk / "sessions").iterdir() if f.is_dir()]
    assert len(ralph.statements(registration=registration(record.session_id))) == waiting


# -- the outbox and the statements on their own (no server) ----------------------------------------

def test_a_torn_last_line_is_skipped_and_a_damaged_one_is_said_where(workspace):
    from simulator.records.outbox import OutboxDamaged

    record = graded(workspace, 1)
    outbox = Outbox(workspace)
    made = statements_of(record, None)[0]
    assert outbox.queue(made) == len(made.statements)
    with open(outbox.path, "ab") as journal:  # a kill -9 in the middle of a write
        journal.write(b'{"type":"sent","ids":["' + made.statements[0].id.encode()[:10])
    assert outbox.count() == len(made.statements)
    outbox.mark_sent([made.statements[0].id])  # the next write mends the tail first
    assert outbox.count() == len(made.statements) - 1
    lines = outbox.path.read_bytes().splitlines()
    outbox.path.write_bytes(b"\n".join([lines[0], b"{not json", *lines[1:]]) + b"\n")
    with pytest.raises(OutboxDamaged, match=r"outbox/journal.jsonl:2:1: .*cannot be read"):
        outbox.state()


def test_an_empty_outbox_is_compacted_and_never_queues_a_session_twice(workspace, monkeypatch):
    from simulator.records import outbox as outbox_module

    record = graded(workspace, 1)
    outbox = Outbox(workspace)
    made = statements_of(record, None)[0]
    outbox.queue(made)
    state = outbox.state()
    outbox.mark_sent(list(state.waiting), state)
    monkeypatch.setattr(outbox_module, "COMPACT_BYTES", 1)
    assert outbox.compact(state)
    assert outbox.path.read_text().count("\n") == 1  # the ledger alone
    assert outbox.queue(made) == 0 and outbox.count() == 0


def test_statements_are_checked_before_they_leave():
    from simulator.records.statements import duration, problems

    assert [duration(s) for s in (0, 34, 61.5, 3725.25)] == ["PT0S", "PT34S", "PT1M1.5S", "PT1H2M5.25S"]
    good = {"id": "0e1c5cae-99bf-506f-8478-9d996a9eaf61", "timestamp": "2026-01-05T09:00:00+00:00",
            "actor": {"account": {"homePage": "https://lrs.example.com", "name": "ana"}},
            "verb": {"id": VERBS["passed"]}, "object": {"id": BASE + "personas/x"},
            "result": {"score": {"scaled": 0.5, "raw": 3, "min": 1, "max": 5}, "duration": "PT34S"}}
    assert problems(good) == []
    bad = json.loads(json.dumps(good))
    bad["result"]["score"].update(scaled=1.7, raw=6)
    bad["result"]["duration"] = "34 seconds"
    bad["timestamp"] = "2026-01-05T09:00:00"
    assert problems(bad) == ["result.score.scaled: 1.7 is outside -1..1", "result.score.raw: 6 is outside 1..5",
                             "result.duration: '34 seconds' is not an ISO 8601 duration", "timestamp: no time zone"]


def test_a_session_without_a_learner_id_cannot_be_made_into_statements(workspace):
    from simulator.records.statements import NotSendable

    record = graded(workspace, 1, learner="")
    with pytest.raises(NotSendable, match="no learner id"):
        statements_of(record, None)
