"""A scripted fake model for every test that is not about the real one.

It has the same shape as :class:`simulator.models.gateway.Gateway` (``stream`` and
``complete``), so the engine, the evaluator and the TUI cannot tell the difference.
Replies come from scripts (lists consumed in order) or from functions of the
messages; an item that is an exception is raised instead of answered.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from simulator.core.errors import ModelError
from simulator.models.config import CAPABLE, Capabilities
from simulator.models.gateway import CallRecord, Reply, RetryNotice

Script = list[Any] | Callable[[list[dict[str, str]]], Any]


class FakeStream:
    def __init__(self, agen, record):
        self._agen = agen
        self.record = record

    def __aiter__(self):
        return self._agen


@dataclass
class ScriptedModel:
    """``replies``: customer replies for ``stream``; ``directions``: director JSON (dicts
    are dumped) for ``complete`` calls that carry the director prompt; ``completions``:
    other ``complete`` calls (hints, grading). A callable gets the messages."""

    replies: Script = field(default_factory=list)
    directions: Script = field(default_factory=list)
    completions: Script = field(default_factory=list)
    model: str = "fake/scripted"
    capabilities: Capabilities = CAPABLE
    chunk_size: int = 7
    chunk_delay: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)
    retry_before: list[str] = field(default_factory=list)  # partial texts streamed before a simulated retry

    def _next(self, script: Script, messages: list[dict[str, str]], default: Any) -> Any:
        if callable(script):
            item = script(messages)
        elif script:
            item = script.pop(0)
        else:
            item = default
        if isinstance(item, BaseException):
            raise item
        return item

    def _record(self) -> CallRecord:
        return CallRecord(role="persona", model=self.model, started_at="2026-01-01T00:00:00.000+00:00",
                          latency_s=0.01, first_token_s=0.005, tokens_in=10, tokens_out=5, cost_usd=0.0)

    def stream(self, messages, *, on_retry: Callable[[RetryNotice], None] | None = None,
               max_tokens=None, temperature=None, cache_slot=None, stop=None, prefill=None) -> FakeStream:
        self.calls.append({"kind": "stream", "messages": messages, "cache_slot": cache_slot})
        record = self._record()

        async def agen():
            if self.retry_before:
                partial = self.retry_before.pop(0)
                yield partial
                if on_retry:
                    on_retry(RetryNotice(attempt=1, max_attempts=4, wait_s=0.0, kind="stream_broken",
                                         reason="reply cut off"))
            text = self._next(self.replies, messages, "Fine.")
            for i in range(0, len(text), self.chunk_size):
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                yield text[i:i + self.chunk_size]

        return FakeStream(agen(), record)

    async def complete(self, messages, *, max_tokens=None, temperature=None, json_schema=None,
                       cache_slot=None) -> Reply:
        prompt = messages[-1]["content"]
        is_director = "latest_agent_message" in prompt
        self.calls.append({"kind": "director" if is_director else "complete", "messages": messages,
                           "temperature": temperature, "json_schema": json_schema, "max_tokens": max_tokens})
        if is_director:
            item = self._next(self.directions, messages, {"frustration_change": 0, "reveal": [],
                                                          "outcome": "continue", "why": "neutral"})
        else:
            item = self._next(self.completions, messages, "Ask an open question about what happened.")
        text = json.dumps(item) if isinstance(item, (dict, list)) else str(item)
        return Reply(text=text, record=self._record())


def model_error(kind: str = "unreachable") -> ModelError:
    return ModelError(f"persona model fake/scripted: {kind}", kind=kind, model="fake/scripted",
                      hint="try again")
