"""Model calls off the event loop, bounded in concurrency, queue length and time.

Inference (and media decoding) is CPU work that would freeze every connection if run on the
event loop, so it runs in a fixed pool of ``threads`` worker threads. Why not
``anyio.to_thread`` with a ``CapacityLimiter``: a timed-out call abandoned there releases its
limiter slot while its thread keeps computing, so overload would pile up unbounded threads.
Here a timed-out call keeps its thread until it finishes, and the number of jobs waiting is
capped (``max_queue``: 503 at once beyond it).

Timeout semantics: a job that never started is cancelled (503, nothing happened); a started
stateless job is abandoned (504, its result dropped); a started job that changes a session
(``must_finish``) is awaited to the end, because a turn half-recorded would leave the
client and the session disagreeing about the conversation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from altsa.serving.errors import ApiError

T = TypeVar("T")


class InferenceRunner:
    def __init__(self, threads: int, max_queue: int):
        self.threads = threads
        self.max_queue = max_queue
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="altsa-infer")
        self._lock = threading.Lock()
        self._jobs = 0  # queued + running, abandoned ones included until they end

    @property
    def jobs(self) -> int:
        return self._jobs

    def _done(self, fut: Future) -> None:
        with self._lock:
            self._jobs -= 1
        if not fut.cancelled():
            fut.exception()  # retrieve it, so an abandoned job's error is not reported as lost

    async def run(self, fn: Callable[[], T], *, timeout_s: float, must_finish: bool = False) -> T:
        with self._lock:
            if self._jobs >= self.threads + self.max_queue:
                raise ApiError(
                    503, "busy", f"server busy: {self._jobs} inference jobs queued or running; retry shortly",
                    {"Retry-After": "1"},
                )  # fmt: skip
            self._jobs += 1
        try:
            fut = self._pool.submit(fn)
        except BaseException:
            with self._lock:
                self._jobs -= 1
            raise
        fut.add_done_callback(self._done)
        waiter = asyncio.wrap_future(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout=max(timeout_s, 0.0))
        except TimeoutError:
            if fut.cancel():
                raise ApiError(
                    503, "busy", "server busy: the request waited its whole timeout for a free inference thread",
                    {"Retry-After": "1"},
                ) from None  # fmt: skip
            if must_finish:
                return await waiter
            raise ApiError(504, "timeout", "inference did not finish within the request timeout") from None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
