"""The model gateway: every model call in the app goes through here, via litellm.

* litellm is imported lazily, on the first call (``litellm_setup``); what a failure was and
  what to do about it is worked out in ``failures``.
* Retries are done here with tenacity (litellm's own ``num_retries`` is set to 0):
  exponential backoff with jitter on timeouts, connection errors, 429 (honouring
  Retry-After) and 5xx; never on 400/401/403/404 or a context-window error.
* A stream that breaks halfway is retried as a whole; the consumer is told through
  ``on_retry`` so it can drop the partial text, which is never the reply.
* Silence on a stream longer than the role's ``timeout`` counts as a timeout.
* Each call is recorded (model, latency, time to first token, tokens, cost); keys are
  read from the environment at call time and never recorded. Error messages are
  scrubbed of keys before anyone sees them.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from contextlib import nullcontext, suppress
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Callable, Protocol

from ..core.errors import ModelError
from .config import Capabilities, RoleSettings
from .failures import SUMMARY, SilenceTimeout, StreamBroken, classify, redact, retry_after, to_model_error
from .handoff import Handoff
from .litellm_setup import litellm, missing_key_vars

__all__ = ["CallRecord", "Gateway", "ModelClient", "Reply", "ReplyStream", "RetryNotice", "SilenceTimeout",
           "StreamBroken", "classify", "litellm", "missing_key_vars", "redact", "to_model_error", "warm_up"]

CONNECT_TIMEOUT = 10.0
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0


@dataclass
class CallRecord:
    """What one model call cost. Never holds a key."""

    role: str
    model: str
    started_at: str
    latency_s: float = 0.0
    first_token_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    attempts: int = 1
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RetryNotice:
    """Told to the consumer before a retry: drop any partial text, show the reason."""

    attempt: int  # the attempt that failed, 1-based
    max_attempts: int
    wait_s: float
    kind: str
    reason: str


class ModelClient(Protocol):
    """What the engine and evaluator need from a model. The gateway implements it;
    tests use a scripted fake with the same shape."""

    model: str
    capabilities: Capabilities

    def stream(self, messages: list[dict[str, str]], *, on_retry: Callable[[RetryNotice], None] | None = None,
               max_tokens: int | None = None, temperature: float | None = None,
               cache_slot: str | None = None, stop: list[str] | None = None,
               prefill: str | None = None) -> "ReplyStream": ...

    async def complete(self, messages: list[dict[str, str]], *, max_tokens: int | None = None,
                       temperature: float | None = None, json_schema: dict[str, Any] | None = None,
                       cache_slot: str | None = None) -> "Reply": ...


@dataclass
class Reply:
    text: str
    record: CallRecord


# per event loop and local model: the queue of calls waiting for the model (see Gateway._model_turn)
_LOCAL_TURNS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]]" = \
    weakref.WeakKeyDictionary()


class ReplyStream:
    """An async iterator of text chunks for one streamed reply; ``record`` is set when done."""

    def __init__(self, agen: AsyncIterator[str], record: CallRecord):
        self._agen = agen
        self.record = record

    def __aiter__(self) -> AsyncIterator[str]:
        return self._agen

    async def aclose(self) -> None:
        await self._agen.aclose()  # type: ignore[attr-defined]

    async def text(self) -> str:
        return "".join([chunk async for chunk in self])


class Gateway:
    """Calls one role's model through litellm, with retries, timeouts and records."""

    def __init__(self, settings: RoleSettings, *, max_attempts: int = MAX_ATTEMPTS,
                 on_record: Callable[[CallRecord], None] | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep, connect_timeout: float = CONNECT_TIMEOUT,
                 backoff_initial: float = 1.0, backoff_max: float = 20.0):
        self.settings = settings
        self.max_attempts = max_attempts
        self.on_record = on_record
        self.sleep = sleep
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max

    @property
    def model(self) -> str:
        return self.settings.model

    @property
    def capabilities(self) -> Capabilities:
        return self.settings.capabilities

    # -- plumbing ---------------------------------------------------------------------
    def _kwargs(self, messages: list[dict[str, str]], *, stream: bool, max_tokens: int | None,
                temperature: float | None, cache_slot: str | None = None,
                prefill: str | None = None) -> dict[str, Any]:
        import httpx

        s = self.settings
        kwargs: dict[str, Any] = dict(
            model=s.model, messages=messages, stream=stream, num_retries=0,
            temperature=s.temperature if temperature is None else temperature,
            max_tokens=max_tokens or s.max_tokens,
            # httpx reads a little longer than our own silence timer, so a stall is reported as a timeout
            timeout=httpx.Timeout(s.timeout + 5.0, connect=min(self.connect_timeout, s.timeout)),
        )
        if stream:
            kwargs["stream_options"] = {"include_usage": True}
        metadata = {}  # litellm's own; never sent to a provider
        if cache_slot and s.capabilities.prefix_cache:
            metadata["cache_slot"] = cache_slot
        if prefill and s.capabilities.prefill:
            metadata["prefill"] = prefill
        if metadata:
            kwargs["metadata"] = metadata
        if s.api_base:
            kwargs["api_base"] = s.api_base
        if key := s.api_key():
            kwargs["api_key"] = key
        elif s.api_key_env:  # named in the settings but not set: say so, do not call (or retry) at all
            where = s.sources.get("api_key_env", "the settings")
            raise ModelError(f"{s.role} model {s.model}: the environment variable {s.api_key_env} is not set",
                             kind="missing_key", model=s.model,
                             hint=f"set it to your key (export {s.api_key_env}=…), or change api_key_env ({where})")
        elif s.api_base and s.capabilities.needs_key:
            # a server of your own (llama.cpp, vLLM, LM Studio) needs no key, but the OpenAI client
            # refuses to call without one: a placeholder, never a secret
            kwargs["api_key"] = "no-key"
        elif not s.api_base and s.capabilities.needs_key and (missing := missing_key_vars(s.model)):
            raise ModelError(f"{s.role} model {s.model}: {missing[0]} is not set", kind="missing_key", model=s.model,
                             hint=f"set it to your key (export {missing[0]}=…), or choose another model "
                                  "(`roleplay config`); the built-in model needs no key")
        return kwargs

    def _wait(self, retry_state: Any) -> float:
        from tenacity import wait_random_exponential

        exc = retry_state.outcome.exception() if retry_state.outcome else None
        asked = retry_after(exc) if exc is not None else None
        if asked is not None:
            return min(asked, MAX_RETRY_AFTER)
        # exponential backoff with full jitter: random in [0, min(max, initial * 2^n)]
        return wait_random_exponential(multiplier=self.backoff_initial, max=self.backoff_max)(retry_state)

    def _retrying(self, notify: Callable[[RetryNotice], None]) -> Any:
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        def before_sleep(retry_state: Any) -> None:
            exc = retry_state.outcome.exception()
            kind, _ = classify(exc)
            wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
            notify(RetryNotice(attempt=retry_state.attempt_number, max_attempts=self.max_attempts,
                               wait_s=wait, kind=kind, reason=SUMMARY.get(kind, kind)))

        return AsyncRetrying(stop=stop_after_attempt(self.max_attempts), wait=self._wait,
                             retry=retry_if_exception(lambda e: classify(e)[1]), before_sleep=before_sleep,
                             sleep=self.sleep, reraise=True)

    def _finish(self, record: CallRecord, t0: float, response_or_usage: Any = None) -> None:
        record.latency_s = round(time.monotonic() - t0, 3)
        usage = getattr(response_or_usage, "usage", None) if response_or_usage is not None else None
        if usage is not None:
            record.tokens_in = getattr(usage, "prompt_tokens", None)
            record.tokens_out = getattr(usage, "completion_tokens", None)
        free = self.capabilities.free
        if record.tokens_in is not None and record.tokens_out is not None and not free:
            with suppress(Exception):
                prompt_cost, completion_cost = litellm().cost_per_token(
                    model=self.settings.model, prompt_tokens=record.tokens_in,
                    completion_tokens=record.tokens_out)
                record.cost_usd = round(prompt_cost + completion_cost, 6)
        if free:
            record.cost_usd = 0.0
        if self.on_record:
            self.on_record(record)

    def _model_turn(self) -> Any:
        """A model that serves one call at a time (a local one): calls queue here, in order,
        before their timeouts start, so a call waiting behind others is not timed out (and
        retried while the abandoned one keeps generating). Other models: no queue."""
        if not self.capabilities.one_call_at_a_time:
            return nullcontext()
        turns = _LOCAL_TURNS.setdefault(asyncio.get_running_loop(), {})
        return turns.setdefault(self.settings.model, asyncio.Semaphore(1))

    def _deadline(self) -> float:
        """Seconds until the first byte (or, non-streamed, the whole reply) must arrive."""
        return self.settings.timeout + min(self.connect_timeout, self.settings.timeout)

    def _new_record(self) -> CallRecord:
        return CallRecord(role=self.settings.role, model=self.settings.model,
                          started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))

    # -- calls ------------------------------------------------------------------------
    def stream(self, messages: list[dict[str, str]], *, on_retry: Callable[[RetryNotice], None] | None = None,
               max_tokens: int | None = None, temperature: float | None = None,
               cache_slot: str | None = None, stop: list[str] | None = None,
               prefill: str | None = None) -> ReplyStream:
        """Stream a reply as text chunks. On a retry, ``on_retry`` is called (in order with
        the chunks) before the new attempt's chunks: drop what was shown so far.
        ``cache_slot`` names the conversation, so a local model keeps its evaluated prompt.
        ``prefill``: the reply's first words, which a model with the ``prefill`` capability
        continues (the chunks are the continuation; other models ignore it)."""
        record = self._new_record()
        return ReplyStream(self._stream(messages, record, on_retry, max_tokens, temperature, cache_slot, stop,
                                        prefill), record)

    async def _stream(self, messages: list[dict[str, str]], record: CallRecord,
                      on_retry: Callable[[RetryNotice], None] | None, max_tokens: int | None,
                      temperature: float | None, cache_slot: str | None = None,
                      stop: list[str] | None = None, prefill: str | None = None) -> AsyncIterator[str]:
        handoff = Handoff()
        t0 = time.monotonic()
        attempts = 0
        last_chunk: list[Any] = [None]

        async def attempt() -> None:
            async with self._model_turn():
                await run_attempt()

        async def run_attempt() -> None:
            nonlocal attempts
            attempts += 1
            record.attempts = attempts
            llm = await asyncio.to_thread(litellm)
            kwargs = self._kwargs(messages, stream=True, max_tokens=max_tokens, temperature=temperature,
                                  cache_slot=cache_slot, prefill=prefill)
            if stop:
                kwargs["stop"] = stop
            response = await asyncio.wait_for(llm.acompletion(**kwargs), timeout=self._deadline())
            iterator = response.__aiter__()
            finished = False
            while True:
                try:
                    chunk = await asyncio.wait_for(iterator.__anext__(), timeout=self.settings.timeout)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    raise SilenceTimeout(f"no reply for {self.settings.timeout:g}s") from None
                last_chunk[0] = chunk
                choices = getattr(chunk, "choices", None) or []
                if choices:
                    if getattr(choices[0], "finish_reason", None):
                        finished = True
                    text = getattr(choices[0].delta, "content", None) if choices[0].delta else None
                    if text:
                        if record.first_token_s is None:
                            record.first_token_s = round(time.monotonic() - t0, 3)
                        handoff.put(text)
            if not finished and last_chunk[0] is None:
                raise StreamBroken("the stream ended before any reply")

        async def run() -> None:
            try:
                await self._retrying(handoff.put)(attempt)
                handoff.end()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - every failure becomes a ModelError
                handoff.put(to_model_error(exc, self.settings, attempts))

        task = asyncio.create_task(run())
        try:
            try:
                async for item in handoff:
                    if isinstance(item, RetryNotice):
                        record.first_token_s = None
                        if on_retry:
                            on_retry(item)
                        continue
                    yield item
            except ModelError as error:  # what run() handed over: the call failed for good
                record.error = str(error)
                self._finish(record, t0)
                raise
            self._finish(record, t0, last_chunk[0])
        finally:
            if not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    async def complete(self, messages: list[dict[str, str]], *, max_tokens: int | None = None,
                       temperature: float | None = None, json_schema: dict[str, Any] | None = None,
                       cache_slot: str | None = None) -> Reply:
        """One non-streamed call, with the same retries. ``json_schema`` asks for JSON
        output where the provider supports it (the caller still parses tolerantly)."""
        record = self._new_record()
        t0 = time.monotonic()
        attempts = 0
        response: Any = None

        async def attempt() -> str:
            async with self._model_turn():
                return await run_attempt()

        async def run_attempt() -> str:
            nonlocal attempts, response
            attempts += 1
            record.attempts = attempts
            llm = await asyncio.to_thread(litellm)
            kwargs = self._kwargs(messages, stream=False, max_tokens=max_tokens, temperature=temperature,
                                  cache_slot=cache_slot)
            if json_schema is not None:
                supported = self.capabilities.schema_json  # e.g. local models: grammar-constrained JSON
                if not supported:
                    with suppress(Exception):
                        supported = bool(llm.supports_response_schema(model=self.settings.model))
                if supported:
                    kwargs["response_format"] = {"type": "json_schema",
                                                 "json_schema": {"name": "result", "schema": json_schema}}
            # a non-streamed reply is silent until it is complete: the whole call gets `timeout`
            response = await asyncio.wait_for(llm.acompletion(**kwargs), timeout=self._deadline())
            choices = getattr(response, "choices", None)
            if not choices:
                raise StreamBroken("the reply had no choices")
            return choices[0].message.content or ""

        try:
            text = await self._retrying(lambda notice: None)(attempt)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            error = to_model_error(exc, self.settings, attempts)
            record.error = str(error)
            self._finish(record, t0)
            raise error from None
        self._finish(record, t0, response)
        return Reply(text=text, record=record)


async def warm_up(settings: RoleSettings) -> None:
    """Import litellm and load a local model in the background, off the UI thread."""
    await asyncio.to_thread(litellm)
    if settings.capabilities.preload:
        from . import local_process

        await asyncio.to_thread(local_process.load, settings.model.split("/", 1)[1])
