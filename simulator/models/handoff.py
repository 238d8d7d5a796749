"""Items handed from a producer (a task, or a thread through the loop) to one consumer, in order.

The gateway's retrying call and the local provider's llama.cpp thread both produce a reply's
pieces while the consumer iterates them: an exception the producer hands over is raised in
the consumer, and ``end`` stops the iteration.
"""

from __future__ import annotations

import asyncio
from typing import Any

_END = object()


class Handoff:
    """An async iterator over what a producer ``put``; ``end()`` ends it, and an exception put
    on it is raised to the consumer instead of being yielded."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, item: Any) -> None:
        self._queue.put_nowait(item)

    def end(self) -> None:
        self._queue.put_nowait(_END)

    def __aiter__(self) -> Handoff:
        return self

    async def __anext__(self) -> Any:
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item
