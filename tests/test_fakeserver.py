"""The fake OpenAI server, proved through litellm itself (real HTTP on 127.0.0.1).

Each test pins down which litellm exception a fault turns into, so the gateway's
retry logic can rely on it (litellm 1.106.2).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import threading
import time
import urllib.request

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm  # noqa: E402
import openai  # noqa: E402
import pytest  # noqa: E402
from fakeserver import (  # noqa: E402
    CONTEXT_LENGTH_MESSAGE,
    FakeServer,
    context_length_exceeded,
    drop_mid_stream,
    fake_server_fixture,
    hang,
    malformed,
    ok,
    slow,
    stall,
    status,
)
from litellm.exceptions import MidStreamFallbackError  # noqa: E402  (not exported as litellm.X)

litellm.suppress_debug_info = True

fake_server = fake_server_fixture()

MESSAGES = [{"role": "system", "content": "You are a customer."}, {"role": "user", "content": "Hello, how can I help?"}]


async def call(server: FakeServer, *, stream: bool = False, timeout: float = 2.0, **kwargs):
    """One litellm call against the fake server; a stream is read to the end.
    Returns the response, or the list of chunks for a stream."""
    response = await litellm.acompletion(model="openai/fake", api_base=server.base_url, api_key="sk-test",
                                         messages=kwargs.pop("messages", MESSAGES), stream=stream, num_retries=0,
                                         timeout=timeout, **kwargs)
    if not stream:
        return response
    return [chunk async for chunk in response]


def text_of(chunks) -> str:
    return "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)


# -- normal answers ---------------------------------------------------------------------------
async def test_ok_non_stream_text_usage_and_recorded_request(fake_server: FakeServer):
    fake_server.enqueue(ok("Hi there, my parcel never arrived."))
    response = await call(fake_server, temperature=0.3, max_tokens=50)

    assert response.choices[0].message.content == "Hi there, my parcel never arrived."
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens == 6
    assert response.usage.prompt_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens

    [request] = fake_server.requests
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["model"] == "fake"
    assert request.body["temperature"] == 0.3
    assert request.body["max_tokens"] == 50
    assert request.body["messages"] == MESSAGES
    assert not request.stream
    assert request.behaviour.kind == "ok"
    assert isinstance(request.arrived, float) and request.arrived <= time.monotonic()


async def test_ok_stream_chunks_concatenate_to_the_text(fake_server: FakeServer):
    fake_server.enqueue(ok("The washer is leaking again, third time this month."))
    chunks = await call(fake_server, stream=True)

    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(contents) > 3  # really streamed in pieces
    assert text_of(chunks) == "The washer is leaking again, third time this month."
    assert fake_server.requests[0].stream


async def test_stream_usage_chunk_when_include_usage(fake_server: FakeServer):
    fake_server.enqueue(ok("one two three", usage=(11, 3)))
    chunks = await call(fake_server, stream=True, stream_options={"include_usage": True})

    assert text_of(chunks) == "one two three"
    usages = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert usages and usages[-1].prompt_tokens == 11 and usages[-1].completion_tokens == 3
    assert fake_server.requests[0].body["stream_options"] == {"include_usage": True}


async def test_slow_stream_spaces_the_chunks(fake_server: FakeServer):
    fake_server.enqueue(slow("a b c d", delay=0.1))
    t0 = time.monotonic()
    response = await litellm.acompletion(model="openai/fake", api_base=fake_server.base_url, api_key="sk-test",
                                         messages=MESSAGES, stream=True, num_retries=0, timeout=2)
    arrivals = []
    async for chunk in response:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    assert arrivals[-1] - t0 >= 0.35
    assert all(b - a >= 0.05 for a, b in zip(arrivals, arrivals[1:]))


async def test_slow_non_stream_waits_then_answers(fake_server: FakeServer):
    fake_server.enqueue(slow("late", delay=0.2))
    t0 = time.monotonic()
    response = await call(fake_server)
    assert response.choices[0].message.content == "late"
    assert time.monotonic() - t0 >= 0.2


async def test_reply_fn_computes_the_reply_from_the_messages(fake_server: FakeServer):
    fake_server.reply_fn = lambda body: f"You said: {body['messages'][-1]['content']}"
    response = await call(fake_server, messages=[{"role": "user", "content": "refund please"}])
    assert response.choices[0].message.content == "You said: refund please"
    chunks = await call(fake_server, stream=True, messages=[{"role": "user", "content": "now"}])
    assert text_of(chunks) == "You said: now"
    # A behaviour with its own text wins over reply_fn.
    fake_server.enqueue(ok("fixed"))
    assert (await call(fake_server)).choices[0].message.content == "fixed"


async def test_script_is_consumed_in_order_then_falls_back_to_default(fake_server: FakeServer):
    fake_server.default = ok("default answer")
    fake_server.enqueue(status(429, retry_after=1), status(500), ok("third"))

    with pytest.raises(litellm.RateLimitError):
        await call(fake_server)
    with pytest.raises(litellm.InternalServerError):
        await call(fake_server)
    assert (await call(fake_server)).choices[0].message.content == "third"
    assert fake_server.pending == 0
    assert (await call(fake_server)).choices[0].message.content == "default answer"

    assert [str(r.behaviour) for r in fake_server.requests] == ["status(429)", "status(500)", "ok", "ok"]
    arrivals = [r.arrived for r in fake_server.requests]
    assert arrivals == sorted(arrivals)


# -- HTTP errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
async def test_429_is_rate_limit_error_with_retry_after(fake_server: FakeServer, stream: bool):
    fake_server.enqueue(status(429, retry_after=1))
    with pytest.raises(litellm.RateLimitError) as info:
        await call(fake_server, stream=stream)
    exc = info.value
    assert exc.status_code == 429
    # litellm keeps the real response headers here (an httpx.Headers, case-insensitive) ...
    assert exc.litellm_response_headers["retry-after"] == "1"
    assert exc.litellm_response_headers["Retry-After"] == "1"
    # ... while exc.response is a synthetic httpx.Response with no headers from the server.
    assert "retry-after" not in exc.response.headers
    assert exc.body["code"] == "rate_limit_exceeded"


async def test_retry_after_on_5xx_is_visible_too(fake_server: FakeServer):
    fake_server.enqueue(status(503, retry_after=3))
    with pytest.raises(litellm.ServiceUnavailableError) as info:
        await call(fake_server)
    assert info.value.status_code == 503
    assert info.value.litellm_response_headers["retry-after"] == "3"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code, exc_class", [
    (500, litellm.InternalServerError),
    (503, litellm.ServiceUnavailableError),
    (400, litellm.BadRequestError),
    (401, litellm.AuthenticationError),
    (404, litellm.NotFoundError),
])
async def test_status_codes_map_to_litellm_exceptions(fake_server: FakeServer, code, exc_class, stream):
    fake_server.enqueue(status(code))
    with pytest.raises(exc_class) as info:
        await call(fake_server, stream=stream)
    assert type(info.value) is exc_class
    assert info.value.status_code == code
    assert fake_server.requests[0].behaviour.code == code


async def test_error_body_is_openai_style(fake_server: FakeServer):
    fake_server.enqueue(status(401))
    with pytest.raises(litellm.AuthenticationError) as info:
        await call(fake_server)
    assert "Incorrect API key provided" in str(info.value)

    fake_server.enqueue(status(400, body={"error": {"message": "custom words", "type": "invalid_request_error",
                                                    "param": None, "code": "x"}}))
    with pytest.raises(litellm.BadRequestError, match="custom words"):
        await call(fake_server)


@pytest.mark.parametrize("stream", [False, True])
async def test_context_length_400_is_context_window_exceeded(fake_server: FakeServer, stream: bool):
    fake_server.enqueue(context_length_exceeded())
    with pytest.raises(litellm.ContextWindowExceededError) as info:
        await call(fake_server, stream=stream)
    assert isinstance(info.value, litellm.BadRequestError)  # a subclass: catch it first
    assert info.value.status_code == 400
    assert "maximum context length is 8192 tokens" in str(info.value)
    assert CONTEXT_LENGTH_MESSAGE.startswith("This model's maximum context length is 8192 tokens")


# -- connection-level faults -------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
async def test_hang_is_litellm_timeout(fake_server: FakeServer, stream: bool):
    fake_server.enqueue(hang())
    t0 = time.monotonic()
    with pytest.raises(litellm.Timeout) as info:
        await call(fake_server, stream=stream, timeout=0.3)
    assert time.monotonic() - t0 < 1.5
    assert info.value.status_code == 408
    # litellm.Timeout subclasses openai.APITimeoutError -> openai.APIConnectionError, NOT litellm.APIConnectionError.
    assert isinstance(info.value, openai.APIConnectionError)
    assert not isinstance(info.value, litellm.APIConnectionError)
    assert fake_server.requests[0].behaviour.kind == "hang"


async def test_hang_with_seconds_closes_without_answer(fake_server: FakeServer):
    fake_server.enqueue(hang(0.1))
    # The connection closes with no response: litellm reports it as a 500 InternalServerError.
    with pytest.raises(litellm.InternalServerError, match="Connection error") as info:
        await call(fake_server, timeout=2)
    assert info.value.status_code == 500


async def test_drop_mid_stream_raises_while_iterating(fake_server: FakeServer):
    fake_server.enqueue(drop_mid_stream("a b c d e f", after_chunks=2))
    response = await litellm.acompletion(model="openai/fake", api_base=fake_server.base_url, api_key="sk-test",
                                         messages=MESSAGES, stream=True, num_retries=0, timeout=2)
    received = []
    with pytest.raises(MidStreamFallbackError) as info:
        async for chunk in response:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert received == ["a ", "b "]  # the call itself succeeded; the failure came mid-iteration
    exc = info.value
    assert isinstance(exc, litellm.ServiceUnavailableError)  # MidStreamFallbackError's base class
    assert exc.status_code == 500
    assert exc.generated_content == "a b "
    assert exc.is_pre_first_chunk is False
    assert isinstance(exc.original_exception, litellm.APIConnectionError)


async def test_drop_non_stream_is_internal_server_error(fake_server: FakeServer):
    fake_server.enqueue(drop_mid_stream("cut off"))
    with pytest.raises(litellm.InternalServerError, match="Connection error"):
        await call(fake_server)


async def test_stalled_stream_read_timeout_is_mid_stream_error(fake_server: FakeServer):
    fake_server.enqueue(stall("a b c", after_chunks=1))
    t0 = time.monotonic()
    with pytest.raises(MidStreamFallbackError) as info:
        await call(fake_server, stream=True, timeout=0.3)
    assert time.monotonic() - t0 < 1.5
    assert info.value.generated_content == "a "


async def test_malformed_non_stream(fake_server: FakeServer):
    fake_server.enqueue(malformed())
    with pytest.raises(litellm.InternalServerError, match="Expecting value"):
        await call(fake_server)


async def test_malformed_stream(fake_server: FakeServer):
    fake_server.enqueue(malformed())
    with pytest.raises(MidStreamFallbackError) as info:
        await call(fake_server, stream=True)
    assert isinstance(info.value.original_exception, litellm.APIConnectionError)
    assert "Expecting" in str(info.value)


async def test_server_down_is_api_connection_error():
    with FakeServer() as server:
        base_url = server.base_url
    # Connection refused is NOT litellm.APIConnectionError: litellm maps it to a 500 InternalServerError.
    with pytest.raises(litellm.InternalServerError, match="Connection error") as info:
        await litellm.acompletion(model="openai/fake", api_base=base_url, api_key="sk-test", messages=MESSAGES,
                                  num_retries=0, timeout=1)
    assert info.value.status_code == 500


# -- the server itself --------------------------------------------------------------------------
def test_models_endpoint_and_raw_sse_format(fake_server: FakeServer):
    with urllib.request.urlopen(f"{fake_server.base_url}/models", timeout=2) as response:
        listing = json.load(response)
    assert listing["object"] == "list" and listing["data"][0]["id"] == "fake"

    conn = http.client.HTTPConnection("127.0.0.1", fake_server.port, timeout=2)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(
        {"model": "m", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}),
        headers={"Content-Type": "application/json"})
    raw = conn.getresponse()
    assert raw.status == 200 and raw.getheader("Content-Type").startswith("text/event-stream")
    events = [e for e in raw.read().decode().split("\n\n") if e]
    conn.close()
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert [r.path for r in fake_server.requests] == ["/v1/models", "/v1/chat/completions"]
    assert len(fake_server.chat_requests) == 1


async def test_stop_is_fast_while_a_request_hangs():
    server = FakeServer(default=hang()).start()
    task = asyncio.create_task(litellm.acompletion(
        model="openai/fake", api_base=server.base_url, api_key="sk-test", messages=MESSAGES, num_retries=0,
        timeout=30))
    await asyncio.to_thread(server.wait_for_requests, 1)
    t0 = time.monotonic()
    await asyncio.to_thread(server.stop)
    assert time.monotonic() - t0 < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("fakeserver")]
    with pytest.raises(litellm.InternalServerError, match="Connection error"):  # the connection was cut
        await asyncio.wait_for(task, 2)


async def test_stop_is_fast_during_a_slow_stream_and_idle_keepalive():
    with FakeServer() as server:
        await call(server)  # leaves a pooled keep-alive connection open
        server.enqueue(slow("a b c d e f g h", delay=5))
        response = await litellm.acompletion(model="openai/fake", api_base=server.base_url, api_key="sk-test",
                                             messages=MESSAGES, stream=True, num_retries=0, timeout=30)
        iterator = response.__aiter__()
        await iterator.__anext__()  # the role chunk arrived; the server now sleeps 5 s
        t0 = time.monotonic()
        await asyncio.to_thread(server.stop)
        assert time.monotonic() - t0 < 1.0
    with pytest.raises(Exception):
        async with asyncio.timeout(2):
            async for _ in iterator:
                pass
    assert not [t for t in threading.enumerate() if t.name.startswith("fakeserver")]


async def test_concurrent_requests_are_served_in_parallel(fake_server: FakeServer):
    await call(fake_server)  # litellm's first call pays for lazy imports; keep it out of the timing
    fake_server.default = slow(delay=0.2)
    fake_server.reply_fn = lambda body: body["messages"][-1]["content"].upper()
    t0 = time.monotonic()
    replies = await asyncio.gather(*[
        call(fake_server, messages=[{"role": "user", "content": f"caller {n}"}]) for n in range(8)])
    assert time.monotonic() - t0 < 1.0  # 8 x 0.2 s in parallel, not in series
    assert sorted(r.choices[0].message.content for r in replies) == sorted(f"CALLER {n}" for n in range(8))
    assert len(fake_server.chat_requests) == 9
