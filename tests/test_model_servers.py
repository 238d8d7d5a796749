"""Issue 13, real model servers: llama-cpp-python's own OpenAI-compatible server, serving the
built-in GGUF on 127.0.0.1 (a port chosen at run time), is found by discovery, and a whole
headless session is played through it and graded."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers import free_port, start_llama_server, stop

from simulator.models.discovery import discover, discovery_lines
from simulator.practice.sessions import list_session_folders, read_session

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def llama_server():
    """llama-cpp-python's server with the built-in model; yields its api_base."""
    from conftest import builtin_model_installed

    if not builtin_model_installed():
        pytest.skip("the built-in model is not installed")
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    port = free_port()
    proc = start_llama_server(port)
    yield f"http://127.0.0.1:{port}/v1"
    stop(proc)


def test_discovery_finds_the_server_and_its_model(llama_server):
    servers = asyncio.run(discover(known=[("llama.cpp server", llama_server, "openai")]))
    assert len(servers) == 1 and servers[0].models == ["smollm2"]
    assert "openai/smollm2" in "\n".join(discovery_lines(servers))
    nothing = asyncio.run(discover(known=[("vLLM", f"http://127.0.0.1:{free_port()}/v1", "openai")]))
    assert nothing == []


def test_a_session_is_played_and_graded_through_the_server(llama_server, workspace, tmp_path):
    (workspace / "roleplay.yaml").write_text(f"persona:\n  model: openai/smollm2\n  api_base: {llama_server}\n"
                                             "  max_tokens: 60\n")
    script = tmp_path / "script.txt"
    script.write_text("Hi Dana, I'm sorry about the bill. What happened?\n\nSo it went up without warning?\n")
    out = subprocess.run([sys.executable, "-m", "simulator", "run", "--persona", "overcharged-loyal-customer",
                          "--script", str(script), "--json"], capture_output=True, text=True,
                         env={**os.environ, "ROLEPLAY_EVALUATOR_MODEL": "local/smollm2-135m"})
    assert out.returncode == 0, out.stderr[-800:]
    data = json.loads(out.stdout)
    assert data["models"]["persona"] == "openai/smollm2"
    replies = [t["text"] for t in data["turns"] if t["speaker"] == "customer"][1:]
    assert len(replies) == 2 and all(r.strip() for r in replies)
    assert data["evaluation"] and data["evaluation"]["overall"]["score"] > 0
    record = read_session(list_session_folders(workspace)[0])
    assert record.ended and record.evaluations
    assert not any(Path(p).suffix == ".tmp" for p in os.listdir(record.folder))


async def test_a_server_stopped_mid_reply_is_a_fault_like_any_other(llama_server, workspace):
    """The server dies while the customer's reply streams: the learner's message is handed
    back, the journal keeps everything before it, and the error names the cause."""
    from simulator.content.library import load_library
    from simulator.core.errors import ModelError
    from simulator.models.config import RoleSettings
    from simulator.models.gateway import Gateway
    from simulator.practice.engine import Conversation
    from simulator.practice.sessions import read_journal

    port = free_port()
    proc = start_llama_server(port)
    try:
        settings = RoleSettings(role="persona", model="openai/smollm2", api_base=f"http://127.0.0.1:{port}/v1",
                                max_tokens=150, timeout=20)
        library = load_library(workspace)
        persona = library.persona("overcharged-loyal-customer")
        conversation = Conversation.start(persona, library.rubric_for(persona),
                                          Gateway(settings, max_attempts=2, backoff_initial=0.05),
                                          workspace=workspace, use_director=False)

        def kill_on_first_chunk(chunk: str) -> None:
            if proc.poll() is None:
                proc.kill()

        with pytest.raises(ModelError) as err:
            await conversation.send("Tell me everything about your bill, in detail.", on_chunk=kill_on_first_chunk)
        assert err.value.kind in ("stream_broken", "unreachable", "timeout", "server")
        assert conversation.pending_text == "Tell me everything about your bill, in detail."
        saved = read_journal(conversation.record.folder)
        assert [t.speaker for t in saved.turns] == ["customer"]  # nothing half-made kept
    finally:
        proc.kill()
        proc.wait(timeout=30)
