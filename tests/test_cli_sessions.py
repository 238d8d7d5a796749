"""CLI commands over sessions and models: crash safety, evaluate, models add/pull."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakeserver import FakeServer, ok, slow

from simulator.practice.sessions import list_session_folders, read_journal


def cli(*args, env=None, timeout=120, input=None):
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, input=input)


def point_at(server: FakeServer, workspace: Path) -> None:
    (workspace / "roleplay.yaml").write_text(
        f"persona:\n  model: openai/fake\n  api_base: {server.base_url}\n  api_key_env: FAKE_KEY\n"
        f"evaluator:\n  model: openai/fake\n  api_base: {server.base_url}\n  api_key_env: FAKE_KEY\n")


JUDGE = json.dumps({"score": 4, "reason": "good", "evidence": [], "improvement": "more",
                    "strengths": ["a"], "changes": ["b"], "better_replies": []})


def test_sigkill_mid_stream_then_resume(workspace, tmp_path):
    """A session process killed mid-reply keeps every completed turn; it resumes from the journal."""
    script = tmp_path / "script.txt"
    script.write_text("First message.\n\nSecond message.\n\nThird message.\n")
    with FakeServer(reply_fn=lambda body: "Director ignored." if "latest_agent_message" in str(body["messages"])
                    else "Okay.") as server:
        server.script([ok(json.dumps({"frustration_change": 0, "reveal": [], "outcome": "continue", "why": "-"})),
                       ok("I hear you, go on."),
                       ok(json.dumps({"frustration_change": 0, "reveal": [], "outcome": "continue", "why": "-"})),
                       slow("This reply is streaming very slowly and will never finish", delay=1.0)])
        point_at(server, workspace)
        proc = subprocess.Popen([sys.executable, "-m", "simulator", "run", "--persona", "overcharged-loyal-customer",
                                 "--script", str(script)], env={**os.environ, "FAKE_KEY": "sk-test-key-000000000000"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(server.chat_requests) < 4:
            time.sleep(0.1)
        time.sleep(1.5)  # a chunk or two of the last reply are out
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    record = read_journal(list_session_folders(workspace)[0])
    assert [t.speaker for t in record.turns] == ["customer", "learner", "customer", "learner"]
    assert record.turns[2].text == "I hear you, go on." and not record.ended

    from fakes import ScriptedModel

    from simulator.practice.engine import Conversation

    conversation = Conversation.resume(record, ScriptedModel(replies=["Fine, resumed."]), use_director=False)
    assert conversation.pending_text == "Second message."  # the unanswered message is handed back
    import asyncio

    turn = asyncio.run(conversation.send(conversation.pending_text))
    assert turn.text == "Fine, resumed."
    again = read_journal(record.folder)
    assert [t.text for t in again.turns][1:] == ["First message.", "I hear you, go on.", "Second message.",
                                                 "Fine, resumed."]


def test_run_json_includes_evaluation_and_evaluate_regrades(workspace, tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("Hi Dana, sorry about that.\n\nWhat changed on your bill?\n")
    director = json.dumps({"frustration_change": 0, "reveal": [], "outcome": "continue", "why": "-"})

    def reply(body):
        text = json.dumps(body["messages"])
        if "latest_agent_message" in text:
            return director
        if "<transcript>" in text:
            return JUDGE
        return "It doubled. Explain."

    with FakeServer(reply_fn=reply) as server:
        point_at(server, workspace)
        env = {"FAKE_KEY": "sk-test-key-000000000000"}
        out = cli("run", "--persona", "overcharged-loyal-customer", "--script", str(script), "--json", env=env)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["evaluation"]["overall"]["score"] == 4.0 and data["measured"]["learner_turns"] == 2
        assert data["turns"][2]["text"] == "It doubled. Explain."
        session = data["session_id"]
        out = cli("evaluate", session[:20], "--json", env=env)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["evaluation"]["number"] == 2
    record = read_journal(list_session_folders(workspace)[0])
    assert [e.number for e in record.evaluations] == [1, 2]
    assert "sk-test-key" not in (record.folder / "journal.jsonl").read_text()


def test_evaluate_pending_grades_waiting_sessions(workspace, tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("Hello Dana.\n")
    dead = {"ROLEPLAY_EVALUATOR_MODEL": "openai/fake", "FAKE_KEY": "sk-test-key-000000000000"}
    with FakeServer(reply_fn=lambda body: JUDGE if "<transcript>" in json.dumps(body["messages"]) else "Hm.") as server:
        point_at(server, workspace)
        # grading fails (the evaluator's server answers 401) -> pending, measured figures still saved
        from fakeserver import status
        server.default = status(401)
        server.script([ok(json.dumps({"frustration_change": 0, "reveal": [], "outcome": "continue", "why": "-"})),
                       ok("Hm.")])
        out = cli("run", "--persona", "overcharged-loyal-customer", "--script", str(script), env=dead)
        assert out.returncode == 0 and "evaluation pending" in out.stdout
        record = read_journal(list_session_folders(workspace)[0])
        assert record.evaluation_pending and "## Measured" in (record.folder / "report.md").read_text()
        server.default = ok()  # the network is back
        out = cli("evaluate", "--pending", env=dead)
        assert out.returncode == 0, out.stderr
        assert "1/1 done, 0 still pending" in out.stderr
    assert not read_journal(record.folder).evaluation_pending


def test_models_add_registers_a_gguf_file(workspace, tmp_path):
    gguf = tmp_path / "Tiny-Model.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 64)
    out = cli("models", "add", str(gguf), "--name", "tiny")
    assert out.returncode == 0 and "registered local/tiny" in out.stdout
    listing = cli("models").stdout
    assert "local/tiny" in listing and str(gguf) in listing
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    out = cli("models", "add", str(bad))
    assert out.returncode == 1 and "not a GGUF model file" in out.stderr and "Traceback" not in out.stderr


def test_models_pull_without_network_fails_fast(workspace):
    import socket

    with socket.socket() as s:  # a port nobody listens on stands in for "no network"
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    out = cli("models", "pull", "qwen2.5-0.5b", env={"HF_ENDPOINT": dead})  # its time: benchmarks/bench.py
    assert out.returncode == 1 and "cannot reach" in out.stderr and "Traceback" not in out.stderr
    out = cli("models", "pull", "qwen-0.5b")
    assert out.returncode == 1 and "did you mean 'qwen2.5-0.5b'" in out.stderr


def damaged_sessions(workspace: Path) -> None:
    """A newer-format session.json with no journal, and a journal damaged in the middle."""
    newer = workspace / "sessions" / "20990101-000000-from-the-future-0001"
    newer.mkdir(parents=True)
    (newer / "session.json").write_text(json.dumps({"format": "roleplay-session", "version": 99}))
    torn = workspace / "sessions" / "20260101-000000-torn-0002"
    torn.mkdir(parents=True)
    (torn / "journal.jsonl").write_text('{"type":"header"\n{"type":"turn"}\n{"type":"end"}\n')


def test_unreadable_sessions_are_listed_with_their_reason(workspace):
    """Issue 9, fault 6: a session from a newer format with no journal, or a damaged one,
    is listed as unreadable with the reason, never dropped."""
    damaged_sessions(workspace)
    result = cli("sessions", "--workspace", str(workspace))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    future = next(line for line in lines if "from-the-future" in line)
    assert "unreadable" in future and "version 99 is newer" in future and "upgrade roleplay" in future
    torn = next(line for line in lines if "torn-0002" in line)
    assert "unreadable" in torn and "journal.jsonl:1:1" in torn
    data = json.loads(cli("sessions", "--workspace", str(workspace), "--json").stdout)
    assert {d["session_id"] for d in data if "unreadable" in d} == {"20990101-000000-from-the-future-0001",
                                                                    "20260101-000000-torn-0002"}
