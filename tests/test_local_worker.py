"""The built-in model runs in a worker process: native code that crashes (SIGILL from a build
for another CPU, SIGSEGV) costs one reply, never the app, the session or the learner's text."""

from __future__ import annotations

import os
import signal

import pytest
from conftest import requires_builtin_model

from simulator.core.errors import ModelError
from simulator.models import local_process
from simulator.models.config import BUILTIN_MODEL, load_settings
from simulator.models.gateway import Gateway

pytestmark = requires_builtin_model

NAME = BUILTIN_MODEL.split("/", 1)[1]
LONG = [{"role": "system", "content": "You are a customer. Tell long stories."},
        {"role": "user", "content": "Tell me everything about your bill, every line of it, in detail."}]


def kill_worker(sig: signal.Signals) -> None:
    pid = local_process.worker(NAME).pid
    assert pid is not None, "the worker should be running while it replies"
    os.kill(pid, sig)


class KillsOnFirstChunk:
    """The real gateway, whose model worker is killed with ``sig`` once its first chunk is in."""

    def __init__(self, gateway: Gateway, sig: signal.Signals):
        self.gateway, self.sig, self.killed = gateway, sig, False

    def __getattr__(self, name):
        return getattr(self.gateway, name)

    def stream(self, messages, **kwargs):
        inner = self.gateway.stream(messages, **kwargs)
        outer = self

        class Stream:
            record = inner.record

            def __aiter__(self):
                return self.chunks()

            async def chunks(self):
                async for chunk in inner:
                    if not outer.killed:
                        outer.killed = True
                        kill_worker(outer.sig)
                    yield chunk

            async def aclose(self):
                await inner.aclose()

            async def text(self):
                return "".join([c async for c in self])

        return Stream()


@pytest.mark.parametrize("sig", [signal.SIGILL, signal.SIGSEGV])
async def test_a_worker_killed_mid_reply_is_one_line_and_the_next_call_restarts_it(workspace, sig):
    settings = load_settings(workspace).persona
    stream = KillsOnFirstChunk(Gateway(settings), sig).stream(LONG, max_tokens=400, temperature=0.9)
    with pytest.raises(ModelError) as err:
        async for _ in stream:
            pass
    message = str(err.value)
    assert err.value.kind == "crashed" and "\n" not in message
    assert sig.name in message
    if sig == signal.SIGILL:  # the cause a learner's desk most likely has, and its fix
        assert "built for another CPU" in message and "roleplay doctor" in message
    # the next call starts a new worker and answers
    again = Gateway(settings).stream(LONG, max_tokens=12)
    assert "".join([chunk async for chunk in again]).strip()
    assert local_process.worker(NAME).pid is not None


async def test_a_crash_mid_reply_hands_the_message_back_and_keeps_the_session(workspace):
    from simulator.content.library import load_library
    from simulator.practice.engine import Conversation
    from simulator.practice.sessions import read_journal

    library = load_library(workspace)
    persona = library.persona("overcharged-loyal-customer")
    model = KillsOnFirstChunk(Gateway(load_settings(workspace).persona), signal.SIGSEGV)
    conversation = Conversation.start(persona, library.rubric_for(persona), model, workspace=workspace)
    with pytest.raises(ModelError) as err:
        await conversation.send("Tell me everything about your bill, in detail.")
    assert err.value.kind == "crashed"
    assert conversation.pending_text == "Tell me everything about your bill, in detail."
    saved = read_journal(conversation.record.folder)
    assert [t.speaker for t in saved.turns] == ["customer"]  # the opening line, nothing half-made
    # the learner retries: the worker comes back and the customer answers
    turn = await conversation.send(conversation.pending_text)
    assert turn.text.strip()
    assert [t.speaker for t in read_journal(conversation.record.folder).turns] == ["customer", "learner", "customer"]


def test_closing_a_stream_early_stops_the_worker_between_tokens(workspace):
    """Esc on a reply: the worker stops and serves the next call at once (no leftovers)."""
    chunks = local_process.chat(NAME, LONG, stream=True, temperature=0.9, max_tokens=400, stop=None)
    first = next(chunks)
    assert first["choices"][0]["delta"] is not None
    chunks.close()
    result = local_process.chat(NAME, [{"role": "user", "content": "Say hi."}], stream=False,
                                temperature=0.0, max_tokens=8)
    assert result["choices"][0]["message"]["content"].strip()


def test_the_app_process_never_loads_the_model(workspace):
    import subprocess
    import sys

    code = ("import os, sys\nfrom simulator.models import local_process\n"
            f"local_process.load({NAME!r})\n"
            f"print(local_process.worker({NAME!r}).pid != os.getpid(), 'llama_cpp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


async def test_in_the_app_a_crash_is_one_line_the_text_is_back_and_ctrl_r_answers(workspace):
    from test_tui import SIZE, notice, open_chat, settle
    from textual.widgets import Input
    from textual.worker import WorkerFailed

    from simulator.practice.sessions import list_session_folders, read_journal
    from simulator.tui.app import RoleplayApp

    app = RoleplayApp(workspace, model_factory=lambda s: KillsOnFirstChunk(Gateway(s), signal.SIGILL),
                      clock=lambda: 0.0, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        chat = await open_chat(pilot)
        chat.query_one("#prompt", Input).value = "Tell me everything about your bill, in detail."
        await pilot.press("enter")
        await pilot.pause()
        for worker in [w for w in app.workers if w.name == "send"]:  # the reply's worker fails: wait for it
            try:
                await worker.wait()
            except WorkerFailed:
                pass
        await pilot.pause()
        line = notice(chat)
        assert "crashed (SIGILL" in line and "Ctrl+R" in line
        assert chat.query_one("#prompt", Input).value == "Tell me everything about your bill, in detail."
        folder = list_session_folders(workspace)[0]
        assert [t.speaker for t in read_journal(folder).turns] == ["customer"]
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert [t.speaker for t in read_journal(folder).turns] == ["customer", "learner", "customer"]
        assert chat.query_one("#prompt", Input).value == ""


def test_a_worker_that_stops_answering_mid_reply_is_stopped_and_said(workspace, monkeypatch):
    """A stuck runtime (here: the worker frozen with SIGSTOP) does not hold the model for ever:
    after the stall limit it is killed, the reply fails in one line, and the next call answers."""
    chunks = local_process.chat(NAME, LONG, stream=True, temperature=0.9, max_tokens=400, stop=None)
    next(chunks)  # the worker is up and answering (however slow the machine is today)
    limit = local_process.STALL_S
    monkeypatch.setattr(local_process, "STALL_S", 3.0)  # a short limit for the silence to come, not the start
    kill_worker(signal.SIGSTOP)
    with pytest.raises(ModelError) as err:
        for _ in chunks:
            pass
    assert err.value.kind == "crashed" and "stopped answering" in str(err.value)
    monkeypatch.setattr(local_process, "STALL_S", limit)
    result = local_process.chat(NAME, [{"role": "user", "content": "Say hi."}], stream=False,
                                temperature=0.0, max_tokens=8)
    assert result["choices"][0]["message"]["content"].strip()


@requires_builtin_model
def test_the_worker_goes_when_the_app_is_killed_even_mid_request(workspace, tmp_path):
    """An app killed with SIGKILL (or a test run stopped by a timeout) while its worker is in the
    middle of a long batch of embeddings leaves no worker running on the learner's machine."""
    import subprocess
    import sys
    import time

    script = ("import threading, time\n"
              "from simulator.models import local_process\n"
              f"local_process.load({NAME!r})\n"
              f"threading.Thread(target=local_process.embed, args=({NAME!r}, ['a long line of words'] * 5000),"
              " daemon=True).start()\n"
              f"print(local_process.worker({NAME!r}).pid, flush=True)\n"
              "time.sleep(600)\n")
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid = int(app.stdout.readline())
    app.kill()
    app.wait()
    while True:  # it goes (a stuck worker fails the run by the suite's own time limit, not a fixed wait here)
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split()[2] == "Z":
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.1)


def test_a_long_batch_of_embeddings_is_sent_in_short_requests(monkeypatch):
    """A trainer's thousand example lines take minutes on a busy desk; the stall limit is for
    silence, so they go as short requests (each answered well inside it), in order."""
    sent: list[list[str]] = []

    class Fake:
        path = "model.gguf"

        def call(self, op, path, texts):
            sent.append(texts)
            return [[float(len(t))] for t in texts]

    monkeypatch.setattr(local_process, "worker", lambda name: Fake())
    texts = [f"line {i}" + "!" * i for i in range(100)]
    vectors = local_process.embed(NAME, texts)
    assert vectors == [[float(len(t))] for t in texts]
    assert len(sent) == 4 and max(len(batch) for batch in sent) <= local_process.EMBED_BATCH
