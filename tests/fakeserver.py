"""A fake OpenAI-compatible HTTP server for fault-injection tests (standard library only).

litellm talks to it over real HTTP::

    with FakeServer() as server:
        server.enqueue(status(429, retry_after=1), status(500), ok("hello"))
        await litellm.acompletion(model="openai/fake", api_base=server.base_url,
                                  api_key="sk-test", messages=[...], num_retries=0)
        server.requests[0].headers["authorization"]   # "Bearer sk-test"

Endpoints: ``POST /v1/chat/completions`` (streamed SSE or plain JSON) and
``GET /v1/models``. Each chat request takes the next behaviour from the queue, or
``server.default`` when the queue is empty. Every request is recorded in
``server.requests``.

Behaviours (module-level constructors returning :class:`Behaviour`):

* ``ok(text=None)``: a normal answer; streamed in several chunks when ``stream`` is
  true (plus a usage chunk when ``stream_options.include_usage`` is set).
* ``slow(text=None, delay=0.2)``: like ``ok`` but ``delay`` seconds before every
  content chunk (non-streamed: ``delay`` once before the answer).
* ``status(code, retry_after=None, body=None, headers=None, message=None)``: that HTTP
  status with an OpenAI-style error body and optional ``Retry-After`` header.
* ``context_length_exceeded()``: the real OpenAI 400 ``context_length_exceeded`` error.
* ``hang(seconds=None)``: read the request, send nothing; after ``seconds`` (or at
  stop) the connection is closed without an answer.
* ``stall(text=None, after_chunks=1, seconds=None)``: stream ``after_chunks`` chunks,
  then go silent (a stalled stream) until ``seconds`` pass or stop; then close.
* ``drop_mid_stream(text=None, after_chunks=2)``: send some chunks, then close the
  connection abruptly (the chunked body is left unterminated, no ``[DONE]``).
* ``malformed()``: 200 with a body that is not JSON (streams: a ``data:`` line with
  broken JSON, then ``[DONE]``).

When a behaviour's text is ``None`` the reply comes from ``server.reply_fn(body)`` if
set, else ``server.default_text``.
"""

from __future__ import annotations

import collections
import itertools
import json
import re
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

__all__ = [
    "Behaviour", "RecordedRequest", "FakeServer", "ok", "slow", "status", "context_length_exceeded",
    "hang", "stall", "drop_mid_stream", "malformed", "fake_server_fixture", "CONTEXT_LENGTH_MESSAGE",
]

DEFAULT_TEXT = "Hello from the fake server. How can I help you today?"

CONTEXT_LENGTH_MESSAGE = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages."
)

# Real OpenAI wording for each status, as (message, type, code).
_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided: sk-test. You can find your API key at "
          "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "invalid_request_error", "unsupported_country_region_territory"),
    404: ("The model `{model}` does not exist or you do not have access to it.",
          "invalid_request_error", "model_not_found"),
    408: ("Request timed out.", "timeout", None),
    422: ("Unprocessable entity.", "invalid_request_error", None),
    429: ("Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
          "Limit 3, Used 3, Requested 1. Please try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


# --------------------------------------------------------------------------------------
# Behaviours
# --------------------------------------------------------------------------------------
@dataclass
class Behaviour:
    """What the server does with one chat request. Build with the constructors below."""

    kind: str  # ok | slow | status | hang | stall | drop | malformed
    text: str | None = None
    delay: float = 0.0  # slow: seconds before each content chunk
    seconds: float | None = None  # hang/stall: how long to stay silent (None: until stop)
    after_chunks: int = 0  # drop/stall: content chunks sent before the fault
    code: int = 200  # status: the HTTP status
    retry_after: float | int | str | None = None
    body: dict[str, Any] | str | bytes | None = None  # status: the error body (default: OpenAI-style)
    message: str | None = None  # status: the error message for the default body
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    usage: tuple[int, int] | None = None  # ok/slow: (prompt_tokens, completion_tokens) override
    finish_reason: str = "stop"

    def __str__(self) -> str:
        if self.kind == "status":
            return f"status({self.code})"
        return self.kind


def ok(text: str | None = None, *, usage: tuple[int, int] | None = None, finish_reason: str = "stop",
       headers: dict[str, str] | None = None) -> Behaviour:
    """Answer normally (``text`` None: ``reply_fn`` or the default text)."""
    return Behaviour("ok", text=text, usage=usage, finish_reason=finish_reason, headers=dict(headers or {}))


def slow(text: str | None = None, delay: float = 0.2, *, usage: tuple[int, int] | None = None) -> Behaviour:
    """Answer normally but wait ``delay`` seconds before each streamed content chunk
    (before the whole answer when not streaming)."""
    return Behaviour("slow", text=text, delay=delay, usage=usage)


def status(code: int, retry_after: float | int | str | None = None, body: dict[str, Any] | str | bytes | None = None,
           *, headers: dict[str, str] | None = None, message: str | None = None) -> Behaviour:
    """Answer with HTTP ``code`` and an OpenAI-style error body
    ``{"error": {"message", "type", "param", "code"}}`` (or ``body`` as given: a dict is
    sent as JSON, a str/bytes raw). ``retry_after`` sets the Retry-After header."""
    return Behaviour("status", code=code, retry_after=retry_after, body=body, message=message,
                     headers=dict(headers or {}))


def context_length_exceeded(limit: int = 8192, used: int = 9000) -> Behaviour:
    """The 400 OpenAI sends when the prompt is too long."""
    message = CONTEXT_LENGTH_MESSAGE.replace("8192", str(limit)).replace("9000", str(used))
    return status(400, body={"error": {"message": message, "type": "invalid_request_error",
                                       "param": "messages", "code": "context_length_exceeded"}})


def hang(seconds: float | None = None) -> Behaviour:
    """Read the request and send nothing; after ``seconds`` (or at stop) close the connection."""
    return Behaviour("hang", seconds=seconds)


def stall(text: str | None = None, after_chunks: int = 1, seconds: float | None = None) -> Behaviour:
    """Start a stream, send ``after_chunks`` content chunks, then go silent until ``seconds``
    pass (or stop), then close the connection. Non-streamed requests behave like ``hang``."""
    return Behaviour("stall", text=text, after_chunks=after_chunks, seconds=seconds)


def drop_mid_stream(text: str | None = None, after_chunks: int = 2) -> Behaviour:
    """Send ``after_chunks`` content chunks then close the connection abruptly: the chunked
    body is never terminated and no ``[DONE]`` is sent. Non-streamed: half the JSON body
    is sent under a Content-Length for the whole, then the connection is closed."""
    return Behaviour("drop", text=text, after_chunks=after_chunks)


def malformed() -> Behaviour:
    """200 with a body that is not valid JSON (streams: a ``data:`` line of broken JSON)."""
    return Behaviour("malformed")


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------
@dataclass
class RecordedRequest:
    """One request the server received."""

    index: int  # 0-based, in arrival order over all paths
    method: str
    path: str
    arrived: float  # time.monotonic() when the request's headers were read
    headers: dict[str, str]  # lower-case names -> values
    body: Any  # the parsed JSON body (None if no body or not JSON)
    raw_body: bytes
    behaviour: Behaviour | None  # what served it (None for /v1/models and unknown paths)

    @property
    def stream(self) -> bool:
        return bool(isinstance(self.body, dict) and self.body.get("stream"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------
class _Aborted(Exception):
    """The handler must drop the connection now (stop requested or a fault injected)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # we join our own threads, with a deadline
    allow_reuse_address = True

    def __init__(self, owner: "FakeServer"):
        self.owner = owner
        self._live: dict[threading.Thread, socket.socket] = {}
        self._live_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve_one, args=(request, client_address),
                                  name=f"fakeserver-conn-{client_address[1]}", daemon=True)
        with self._live_lock:
            self._live[thread] = request
        thread.start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception as exc:  # noqa: BLE001
            self.handle_error_exc(exc)
        finally:
            self.shutdown_request(request)
            with self._live_lock:
                self._live.pop(threading.current_thread(), None)

    def handle_error_exc(self, exc: BaseException) -> None:
        if isinstance(exc, (OSError, _Aborted)):
            return
        self.owner.errors.append(exc)

    def handle_error(self, request: Any, client_address: Any) -> None:  # pragma: no cover - quiet
        pass

    def kill_connections(self) -> list[threading.Thread]:
        with self._live_lock:
            live = list(self._live.items())
        for _thread, sock in live:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for thread, _ in live]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "fakeserver/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # -- helpers ------------------------------------------------------------------------
    @property
    def owner(self) -> "FakeServer":
        return self.server.owner

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else (
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        if self.owner.stopping.is_set():
            raise _Aborted
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _sse(self, payload: Any) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {data}\n\n".encode())

    def _end_stream(self) -> None:
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _wait(self, seconds: float | None) -> None:
        """Sleep, but wake at once on stop (then abort the connection)."""
        if self.owner.stopping.wait(seconds):
            raise _Aborted

    def _abort(self) -> None:
        """Close the connection now, mid-message."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Aborted

    # -- routes -------------------------------------------------------------------------
    def do_GET(self) -> None:
        record = self.owner._record(self, b"", None)
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 1700000000, "owned_by": "fakeserver"}
                for name in self.owner.models]})
        else:
            self._not_found(record)

    def do_POST(self) -> None:
        arrived = time.monotonic()
        raw = self._read_body()
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._not_found(self.owner._record(self, raw, None, arrived))
            return
        behaviour = self.owner._next_behaviour()
        record = self.owner._record(self, raw, behaviour, arrived)
        try:
            self._serve(behaviour, record)
        except _Aborted:
            self.close_connection = True
        except OSError:  # the client went away
            self.close_connection = True

    def _not_found(self, record: RecordedRequest) -> None:
        self._send_json(404, {"error": {"message": f"Unknown request URL: {record.method} {record.path}.",
                                        "type": "invalid_request_error", "param": None,
                                        "code": "unknown_url"}})

    # -- behaviours ---------------------------------------------------------------------
    def _serve(self, b: Behaviour, record: RecordedRequest) -> None:
        body = record.body if isinstance(record.body, dict) else {}
        stream = bool(body.get("stream"))
        model = str(body.get("model") or "fake")
        if b.kind == "status":
            self._serve_status(b, model)
        elif b.kind == "hang":
            self._wait(b.seconds)
            self._abort()
        elif b.kind == "malformed":
            if stream:
                self._start_stream()
                self._sse('{"id": "chatcmpl-broken", "object": "chat.completion.chunk", "choices": [{"delta": '
                          '{"content": "oops"')
                self._end_stream()
            else:
                self._send_json(200, b'{"id": "chatcmpl-broken", "choices": [ this is not json')
        elif b.kind in ("ok", "slow", "drop", "stall"):
            text = self.owner._reply_text(b, body)
            if b.kind == "stall" and not stream:
                self._wait(b.seconds)
                self._abort()
            if stream:
                self._serve_stream(b, body, model, text)
            else:
                self._serve_plain(b, body, model, text)
        else:  # pragma: no cover - a typo in a test
            raise ValueError(f"unknown behaviour {b.kind!r}")

    def _serve_status(self, b: Behaviour, model: str) -> None:
        headers = dict(b.headers)
        if b.retry_after is not None:
            headers["Retry-After"] = str(b.retry_after)
        headers.setdefault("x-request-id", f"req_fake{next(self.owner._ids)}")
        if b.body is not None:
            payload: Any = b.body
        else:
            message, kind, code = _ERRORS.get(b.code, (f"HTTP {b.code}", "server_error" if b.code >= 500
                                                       else "invalid_request_error", None))
            payload = {"error": {"message": (b.message or message).replace("{model}", model), "type": kind,
                                 "param": None, "code": code}}
        self._send_json(b.code, payload, headers)

    def _serve_plain(self, b: Behaviour, body: dict[str, Any], model: str, text: str) -> None:
        if b.kind == "slow":
            self._wait(b.delay)
        prompt, completion = b.usage or (_count_prompt(body), len(_split(text)))
        payload = {
            "id": f"chatcmpl-fake{next(self.owner._ids)}", "object": "chat.completion",
            "created": int(time.time()), "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": b.finish_reason}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        }
        data = json.dumps(payload).encode()
        if b.kind == "drop":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self._abort()
        self._send_json(200, data, b.headers)

    def _serve_stream(self, b: Behaviour, body: dict[str, Any], model: str, text: str) -> None:
        pieces = _split(text)
        ident = f"chatcmpl-fake{next(self.owner._ids)}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "system_fingerprint": "fp_fake",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        self._start_stream(b.headers)
        self._sse(chunk({"role": "assistant", "content": "", "refusal": None}))
        for n, piece in enumerate(pieces):
            if b.kind in ("drop", "stall") and n >= b.after_chunks:
                break
            if b.kind == "slow":
                self._wait(b.delay)
            self._sse(chunk({"content": piece}))
        if b.kind == "drop":
            self._abort()
        if b.kind == "stall":
            self._wait(b.seconds)
            self._abort()
        self._sse(chunk({}, b.finish_reason))
        options = body.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            prompt, completion = b.usage or (_count_prompt(body), len(pieces))
            self._sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                       "system_fingerprint": "fp_fake", "choices": [],
                       "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                 "total_tokens": prompt + completion}})
        self._end_stream()


def _split(text: str) -> list[str]:
    """Split a reply into stream chunks: one word (with its trailing space) each."""
    return re.findall(r"\s*\S+\s*", text) or [text]


def _count_prompt(body: dict[str, Any]) -> int:
    """A deterministic stand-in for a tokenizer: words in the messages, plus 3 per message."""
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        total += len(str(content or "").split()) + 3
    return max(total, 1)


class FakeServer:
    """A fake OpenAI-compatible server on 127.0.0.1 (port chosen by the OS), in a thread.

    ``server.enqueue(b1, b2, ...)`` scripts the next chat requests, one behaviour each;
    ``server.default`` serves requests once the queue is empty. ``server.requests``
    lists every request received. Start/stop with ``with FakeServer() as server:`` or
    ``start()``/``stop()``.
    """

    def __init__(self, *behaviours: Behaviour, default: Behaviour | None = None,
                 reply_fn: Callable[[dict[str, Any]], str] | None = None,
                 default_text: str = DEFAULT_TEXT, models: list[str] | None = None):
        self.default: Behaviour = default or ok()
        self.reply_fn = reply_fn
        self.default_text = default_text
        self.models = list(models or ["fake"])
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []  # unexpected exceptions inside handlers
        self.stopping = threading.Event()
        self._queue: collections.deque[Behaviour] = collections.deque(behaviours)
        self._lock = threading.Lock()
        self._arrivals = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> "FakeServer":
        if self._httpd is not None:
            return self
        self.stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fakeserver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop serving, cut every open connection (hanging handlers wake at once) and
        join all threads. Raises RuntimeError if a thread is still alive after ``timeout``."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        deadline = time.monotonic() + timeout
        self.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        handlers = httpd.kill_connections()
        for t in [*handlers, thread]:
            if t is not None:
                t.join(max(0.0, deadline - time.monotonic()))
        self._httpd = self._thread = None
        alive = [t.name for t in [*handlers, thread] if t is not None and t.is_alive()]
        if alive:
            raise RuntimeError(f"fakeserver threads still alive after stop: {alive}")

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass as litellm's ``api_base``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ----------------------------------------------------------------------
    def enqueue(self, *behaviours: Behaviour) -> "FakeServer":
        """Append behaviours; each chat request consumes one, in order."""
        with self._lock:
            self._queue.extend(behaviours)
        return self

    def script(self, behaviours: list[Behaviour]) -> "FakeServer":
        """Replace the queue with ``behaviours``."""
        with self._lock:
            self._queue.clear()
            self._queue.extend(behaviours)
        return self

    @property
    def pending(self) -> int:
        """Behaviours still queued."""
        with self._lock:
            return len(self._queue)

    # -- records ------------------------------------------------------------------------
    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded requests to /v1/chat/completions."""
        with self._lock:
            return [r for r in self.requests if r.behaviour is not None]

    def wait_for_requests(self, n: int, timeout: float = 2.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests arrived (any path); TimeoutError otherwise."""
        with self._arrivals:
            if not self._arrivals.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"{len(self.requests)} of {n} requests arrived in {timeout}s")
            return list(self.requests)

    def reset(self) -> None:
        """Forget recorded requests and queued behaviours."""
        with self._lock:
            self.requests.clear()
            self._queue.clear()

    # -- used by the handler --------------------------------------------------------------
    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def _reply_text(self, b: Behaviour, body: dict[str, Any]) -> str:
        if b.text is not None:
            return b.text
        if self.reply_fn is not None:
            return str(self.reply_fn(body))
        return self.default_text

    def _record(self, handler: _Handler, raw: bytes, behaviour: Behaviour | None,
                arrived: float | None = None) -> RecordedRequest:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._arrivals:
            record = RecordedRequest(
                index=len(self.requests), method=handler.command, path=handler.path,
                arrived=arrived if arrived is not None else time.monotonic(),
                headers={k.lower(): v for k, v in handler.headers.items()}, body=body, raw_body=raw,
                behaviour=behaviour)
            self.requests.append(record)
            self._arrivals.notify_all()
        return record


def fake_server_fixture(name: str = "fake_server", **kwargs: Any) -> Any:
    """A pytest fixture (function scope) yielding a started :class:`FakeServer`.

    In a test module or conftest: ``fake_server = fake_server_fixture()``; then
    ``async def test_x(fake_server): ...``. ``kwargs`` go to ``FakeServer(...)``.
    """
    import pytest

    def _fixture() -> Iterator[FakeServer]:
        with FakeServer(**kwargs) as server:
            yield server

    _fixture.__name__ = name
    return pytest.fixture(name=name)(_fixture)
