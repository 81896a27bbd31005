"""How many API answers run at once, and how many may wait: the API's counterpart of Gradio's queue.

An answer runs on a worker thread (the model call blocks); without a bound, a burst of
API questions waiting for the one model would hold every thread of the process, which
the chat page's handlers share, and the page would stall. Waiting here costs no thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Busy(Exception):
    """More questions are waiting than the queue holds."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"The server is busy: {waiting} questions are waiting for an answer; try again shortly.")


class Admission:
    """At most ``running`` answers at once; up to ``waiting`` more wait their turn, the rest are refused (Busy)."""

    def __init__(self, running: int, waiting: int) -> None:
        self.running, self.max_waiting = running, waiting
        self._slots: asyncio.Semaphore | None = None  # made in the server's event loop, on first use
        self.waiting = 0

    async def acquire(self) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.running)
        if self._slots.locked() and self.waiting >= self.max_waiting:
            raise Busy(self.waiting)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1

    def release(self) -> None:
        assert self._slots is not None
        self._slots.release()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()
