"""The gateway against a fake OpenAI-compatible server over real HTTP: every fault
ends in a recovery or a one-line explanation, and nothing is lost."""

from __future__ import annotations

import socket

import pytest
from fakeserver import (
    FakeServer,
    context_length_exceeded,
    drop_mid_stream,
    fake_server_fixture,
    hang,
    malformed,
    ok,
    stall,
    status,
)

from simulator.core.errors import ModelError
from simulator.models.config import RoleSettings
from simulator.models.gateway import Gateway, classify, redact

fake_server = fake_server_fixture()
KEY = "sk-test-abcdefghijklmnopqrstuvwxyz0123"


def settings(server: FakeServer, *, timeout: float = 5.0, role: str = "persona") -> RoleSettings:
    return RoleSettings(role=role, model="openai/fake", api_base=server.base_url, api_key_env="FAKE_KEY",
                        timeout=timeout, temperature=0.2, max_tokens=50)


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("FAKE_KEY", KEY)


def gateway(server, *, timeout=5.0, attempts=4, records=None):
    return Gateway(settings(server, timeout=timeout), max_attempts=attempts, backoff_initial=0.05,
                   backoff_max=0.2, on_record=(records.append if records is not None else None))


async def collect(stream):
    """What a UI shows: chunks, dropped whenever a retry is announced."""
    shown: list[str] = []
    notices = []

    def on_retry(notice):
        notices.append(notice)
        shown.clear()

    stream_obj = stream(on_retry)
    async for chunk in stream_obj:
        shown.append(chunk)
    return "".join(shown), notices, stream_obj.record


MSGS = [{"role": "user", "content": "hello"}]


async def test_stream_ok_records_the_call(fake_server):
    fake_server.enqueue(ok("The quick brown fox jumps."))
    records = []
    text, notices, record = await collect(lambda r: gateway(fake_server, records=records).stream(MSGS, on_retry=r))
    assert text == "The quick brown fox jumps." and not notices
    assert record.attempts == 1 and record.first_token_s is not None and record.tokens_out
    assert records == [record]
    request = fake_server.chat_requests[0]
    assert request.body["stream"] is True and request.body["temperature"] == 0.2
    assert request.headers["authorization"] == f"Bearer {KEY}"  # the key is sent ...
    assert KEY not in str(record.to_dict())  # ... and never recorded


async def test_429_honours_retry_after(fake_server):
    fake_server.enqueue(status(429, retry_after=1), ok("Finally."))
    text, notices, record = await collect(lambda r: gateway(fake_server).stream(MSGS, on_retry=r))
    assert text == "Finally." and record.attempts == 2
    assert len(notices) == 1 and notices[0].kind == "rate_limit" and notices[0].wait_s == pytest.approx(1.0)
    first, second = fake_server.chat_requests
    assert second.arrived - first.arrived >= 0.95  # it really waited as asked


async def test_5xx_backs_off_and_recovers(fake_server):
    fake_server.enqueue(status(500), status(503), ok("Recovered."))
    text, notices, record = await collect(lambda r: gateway(fake_server).stream(MSGS, on_retry=r))
    assert text == "Recovered." and record.attempts == 3
    assert [n.kind for n in notices] == ["server", "server"]
    assert all(0 < n.wait_s <= 0.3 for n in notices)


async def test_drop_mid_stream_is_retried_whole_and_partial_text_dropped(fake_server):
    fake_server.enqueue(drop_mid_stream("Partial words that never finish", after_chunks=2), ok("Whole reply."))
    seen = []
    notices = []
    stream = gateway(fake_server).stream(MSGS, on_retry=lambda n: (notices.append(n), seen.append("|RESET|")))
    async for chunk in stream:
        seen.append(chunk)
    assert "|RESET|" in seen
    # whatever arrived before the drop (transport timing decides how much) is announced as void
    assert "Partial words that never finish".startswith("".join(seen[:seen.index("|RESET|")]))
    assert "".join(seen[seen.index("|RESET|") + 1:]) == "Whole reply."
    assert notices[0].kind == "stream_broken"


async def test_stalled_stream_times_out_and_retries(fake_server):
    fake_server.enqueue(stall("Slow start then nothing", after_chunks=1, seconds=5), ok("Back."))
    text, notices, record = await collect(lambda r: gateway(fake_server, timeout=0.5).stream(MSGS, on_retry=r))
    assert text == "Back." and notices[0].kind in ("timeout", "stream_broken")


async def test_malformed_reply_is_retried(fake_server):
    fake_server.enqueue(malformed(), ok("Readable."))
    reply = await gateway(fake_server).complete(MSGS)
    assert reply.text == "Readable." and reply.record.attempts == 2


async def test_hang_ends_in_timeout_error_after_bounded_attempts(fake_server):
    fake_server.enqueue(hang(5), hang(5))
    with pytest.raises(ModelError) as err:
        await gateway(fake_server, timeout=0.4, attempts=2).complete(MSGS)
    assert err.value.kind == "timeout" and err.value.attempts == 2
    assert len(fake_server.chat_requests) == 2
    assert "\n" not in str(err.value) and "raise `timeout`" in str(err.value)


@pytest.mark.parametrize("behaviour,kind,needle", [
    (status(401), "auth", "FAKE_KEY"),
    (status(404), "not_found", "openai/fake"),
    (status(400), "bad_request", "rejected"),
    (context_length_exceeded(), "context_window", "too long"),
])
async def test_client_errors_are_not_retried(fake_server, behaviour, kind, needle):
    fake_server.enqueue(behaviour, ok("never used"))
    with pytest.raises(ModelError) as err:
        await collect(lambda r: gateway(fake_server).stream(MSGS, on_retry=r))
    assert err.value.kind == kind and len(fake_server.chat_requests) == 1
    message = str(err.value)
    assert needle in message and "\n" not in message and KEY not in message


async def test_persistent_5xx_gives_up_with_one_line(fake_server):
    fake_server.default = status(500)
    records = []
    with pytest.raises(ModelError) as err:
        await gateway(fake_server, records=records).complete(MSGS)
    assert err.value.kind == "server" and err.value.attempts == 4
    assert len(fake_server.chat_requests) == 4
    assert "after 4 attempts" in str(err.value) and "try again" in str(err.value)
    assert records[0].error and records[0].attempts == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_host(monkeypatch):
    s = RoleSettings(role="persona", model="openai/fake", api_base=f"http://127.0.0.1:{_free_port()}/v1",
                     api_key_env="FAKE_KEY", timeout=2.0)
    with pytest.raises(ModelError) as err:
        await Gateway(s, max_attempts=2, backoff_initial=0.05).complete(MSGS)
    assert err.value.kind == "unreachable" and "cannot reach" in str(err.value)


async def test_engine_loses_nothing_when_the_model_fails(fake_server, workspace):
    from simulator.content.library import load_library
    from simulator.practice.engine import Conversation
    from simulator.practice.sessions import read_journal

    library = load_library(workspace)
    persona = library.persona("overcharged-loyal-customer")
    fake_server.enqueue(*[status(500)] * 8)  # director and reply both fail, after retries
    conv = Conversation.start(persona, library.rubric_for(persona), gateway(fake_server, attempts=2),
                              workspace=workspace, use_director=False)
    with pytest.raises(ModelError):
        await conv.send("I'm sorry about the bill, Dana.")
    assert conv.pending_text == "I'm sorry about the bill, Dana."
    fake_server.script([ok("Okay. Explain it then.")])
    turn = await conv.send(conv.pending_text)
    assert turn.text == "Okay. Explain it then."
    record = read_journal(conv.record.folder)
    assert [t.text for t in record.turns] == [persona.opening, "I'm sorry about the bill, Dana.", "Okay. Explain it then."]
    assert KEY not in (conv.record.folder / "journal.jsonl").read_text()


def test_redact_scrubs_keys():
    assert "sk-" not in redact(f"Incorrect API key provided: {KEY}")
    assert redact("secret=hunter2hunter2", ["hunter2hunter2"]) == "secret=****"


def test_a_key_at_the_cut_of_a_long_error_is_redacted_whole(fake_server):
    """The error text is cut to fit one line: the key is scrubbed before the cut, so no part
    of it (a key minus its last character) reaches the screen or the journal."""
    from simulator.models.gateway import to_model_error

    class BadRequestError(Exception):
        status_code = 400

    for pad in range(140, 165):  # the key straddles the 160-character cut at every offset
        error = to_model_error(BadRequestError("x" * pad + " " + KEY + " trailing words"), settings(fake_server), 1)
        assert KEY[:12] not in str(error), pad


def test_classify_litellm_midstream():
    class MidStreamFallbackError(Exception):
        status_code = 500
    assert classify(MidStreamFallbackError("x")) == ("stream_broken", True)


def test_models_check_against_fake_server_and_dead_port(fake_server, workspace, monkeypatch):
    import subprocess
    import sys

    (workspace / "roleplay.yaml").write_text(
        f"persona:\n  model: openai/fake\n  api_base: {fake_server.base_url}\n  api_key_env: FAKE_KEY\n"
        f"evaluator:\n  model: openai/fake\n  api_base: http://127.0.0.1:{_free_port()}/v1\n  api_key_env: FAKE_KEY\n"
        "  timeout: 3\n")
    fake_server.default = ok("ready")
    out = subprocess.run([sys.executable, "-m", "simulator", "models", "check"], capture_output=True, text=True,
                         timeout=120)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 1, out.stderr
    assert lines[0].startswith("persona") and "ok in" in lines[0]
    assert lines[1].startswith("evaluator") and "FAILED (unreachable)" in lines[1]
    assert KEY not in out.stdout + out.stderr


def test_models_check_reports_missing_key(workspace, monkeypatch):
    import subprocess
    import sys

    monkeypatch.delenv("FAKE_KEY")
    (workspace / "roleplay.yaml").write_text("persona:\n  model: openai/gpt-4o-mini\n  api_key_env: FAKE_KEY\n")
    out = subprocess.run([sys.executable, "-m", "simulator", "models", "check", "persona"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1 and "no key: $FAKE_KEY is not set" in out.stdout


async def test_a_key_variable_that_is_not_set_is_named_not_called_a_server_error(tmp_path, monkeypatch):
    """Found by the fault benchmark: with api_key_env naming an unset variable, the call was
    retried four times and reported as "model server error". It now fails at once, naming
    the variable and what to do, and nothing is sent."""
    from fakeserver import FakeServer

    from simulator.core.errors import ModelError
    from simulator.models.config import load_settings
    from simulator.models.gateway import Gateway

    monkeypatch.delenv("ROLEPLAY_TEST_UNSET_KEY", raising=False)
    with FakeServer() as server:
        (tmp_path / "roleplay.yaml").write_text(
            f"persona:\n  model: openai/fake\n  api_base: {server.base_url}\n  api_key_env: ROLEPLAY_TEST_UNSET_KEY\n")
        gateway = Gateway(load_settings(tmp_path).persona, backoff_initial=0.01)
        with pytest.raises(ModelError) as caught:
            await gateway.complete([{"role": "user", "content": "hi"}])
        assert server.requests == []
    error = caught.value
    assert error.kind == "missing_key" and error.attempts == 1
    assert "ROLEPLAY_TEST_UNSET_KEY is not set" in str(error) and "server error" not in str(error)
    assert "\n" not in str(error)


async def test_a_hosted_model_without_its_key_says_so_before_any_call(monkeypatch):
    """Issue 10: `--evaluator-model openai/gpt-4o-mini` with no key is "OPENAI_API_KEY is not
    set", at once, not "the provider had a server error" after four attempts."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    s = RoleSettings(role="evaluator", model="openai/gpt-4o-mini")
    with pytest.raises(ModelError) as err:
        await Gateway(s, max_attempts=4, backoff_initial=0.05).complete(MSGS)
    assert err.value.kind == "missing_key" and err.value.attempts == 1
    assert "OPENAI_API_KEY is not set" in str(err.value) and "server error" not in str(err.value)


def test_a_host_that_cannot_be_looked_up_is_offline_and_not_retried():
    import socket

    class InternalServerError(Exception):
        status_code = 500

    try:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as lookup:
            raise InternalServerError("OpenAIException - Connection error.") from lookup
    except InternalServerError as exc:
        assert classify(exc) == ("unreachable", False)


def test_what_a_model_can_do_and_its_name_come_from_its_settings():
    """Issue 20: the chat's banner named "SmolLM2-135M" in the TUI and the gateway checked
    `local/` names; now the client says who plays, whether it keeps a character, and what
    running on this machine means (no key, no cost, one call at a time), for any model."""
    builtin = Gateway(RoleSettings(role="persona")).capabilities
    assert builtin.label == "SmolLM2-135M" and builtin.weak_in_character
    hosted = Gateway(RoleSettings(role="persona", model="openai/gpt-4o-mini")).capabilities
    assert hosted.label == "gpt-4o-mini" and not hosted.weak_in_character
    assert hosted.needs_key and not hosted.free and not hosted.one_call_at_a_time
    served_small = RoleSettings(role="persona", model="openai/smollm2", api_base="http://127.0.0.1:8080/v1",
                                capable=False).capabilities
    assert served_small.label == "smollm2" and served_small.weak_in_character
    mine = RoleSettings(role="persona", model="local/qwen2.5-0.5b").capabilities
    assert mine.label == "qwen2.5-0.5b" and not mine.weak_in_character
    assert not mine.needs_key and mine.free and mine.one_call_at_a_time and mine.schema_json and mine.preload


def test_the_weak_model_note_names_the_model_from_its_capabilities():
    """`roleplay run`'s note: said for any model that cannot hold a character (not only the
    built-in one), naming it; not said for a capable model."""
    from simulator.models.config import BUILTIN_MODEL, RoleSettings
    from simulator.models.modelcheck import weak_model_note

    builtin = weak_model_note(RoleSettings(role="persona", model=BUILTIN_MODEL))
    assert builtin.startswith("SmolLM2-135M: fast, but a weak actor, and too small to judge")
    served = weak_model_note(RoleSettings(role="persona", model="ollama/qwen2.5:0.5b", capable=False))
    assert served.startswith("qwen2.5:0.5b: fast, but a weak actor")
    assert weak_model_note(RoleSettings(role="persona", model="openai/gpt-4o-mini")) is None
