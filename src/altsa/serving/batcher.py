"""Micro-batching of live-session turns: the turns that arrive together run as ONE model call.

Why: each turn alone is a tiny encoder forward pass plus one ``model.step``; on a small CPU a
per-turn call makes latency grow linearly with the number of clients. Stacked, eight turns
cost little more than one (``Recognizer.add_many``: one text-encoder pass over all their
texts, one ``model.step`` over all their carried states).

Policy: a batch takes at most a fair share of the active sessions (those answered in the
last second, running or waiting), ``ceil(active / inference_threads)``, capped at
``batch_max_turns``; it is dispatched when an inference thread is free (at most
``inference_threads`` batches run at once) and either a share of turns is waiting, or every
*expected* session has its next turn waiting, or the oldest turn has waited
``batch_wait_ms``. Expected: answered in the last second, no turn running, and its client
came back within ``batch_wait_ms`` of its previous answer (a program feeding turns as fast
as they are answered); a session paced by people is never waited for.

So a lone client never waits; clients answered together come back as one batch instead of
a few turns dispatching early and the rest queueing a whole batch behind them; and 8
sessions on 2 threads run as two batches of 4 on two cores instead of one batch of 8 on one
core while the other idles. While a batch runs, new turns gather for the next one. A
session never has two turns in one batch: the route holds the session's lock until its
turn is answered.

Timeout semantics (as ``InferenceRunner``): a turn whose batch had not started when its
request timed out is withdrawn (503, the session unchanged); a started turn is awaited to
the end (it changes the session). Beyond ``max_waiting`` waiting turns, 503 at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from altsa.serving.errors import ApiError
from altsa.serving.runner import InferenceRunner

_ACTIVE_S = 1.0  # a session answered this recently is expected to send its next turn soon

AddMany = Callable[[list[tuple[Any, Any]]], list[Any]]  # [(stream, utterance)] -> prediction | exception


@dataclass(eq=False)
class _Turn:
    stream: Any
    utterance: Any
    prepare: Callable[[], None]  # per-turn checks run in the worker (upload probing); may raise
    future: asyncio.Future
    arrived: float
    deadline: float
    state: str = "waiting"  # -> "started" (in a running batch) or "cancelled" (its request gave up)
    lock: threading.Lock = field(default_factory=threading.Lock)


def sequential_add_many(items: list[tuple[Any, Any]]) -> list[Any]:
    """Fallback for a recognizer without ``add_many``: one ``stream.add`` per turn."""
    out: list[Any] = []
    for stream, utterance in items:
        try:
            out.append(stream.add(utterance))
        except Exception as e:  # noqa: BLE001 - reported to that turn's request
            out.append(e)
    return out


class TurnBatcher:
    def __init__(self, runner: InferenceRunner, add_many: AddMany, *, max_batch: int, wait_s: float, max_waiting: int,
                 job_context: Callable[[float], contextlib.AbstractContextManager] | None = None):  # fmt: skip
        self.runner = runner
        # entered around each batch's work in its thread, given the seconds left to the batch's
        # latest deadline (the service sets media-decoding limits that stop at that deadline)
        self.job_context = job_context or (lambda _: contextlib.nullcontext())
        self.add_many = add_many
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.max_waiting = max_waiting
        self._pending: list[_Turn] = []
        self._running = 0  # batches dispatched and not finished
        self._timer: asyncio.TimerHandle | None = None
        self._answered: dict[int, float] = {}  # id(stream) -> when its last turn was answered
        self._gap: dict[int, float] = {}  # id(stream) -> seconds from its last answer to its next turn
        self._in_batch: set[int] = set()  # id(stream) of turns in running batches
        self._closed: set[int] = set()  # of those, sessions deleted meanwhile (forget)
        self.batches = 0  # counters, for tests and /metrics-style inspection
        self.turns = 0

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def submit(self, stream: Any, utterance: Any, prepare: Callable[[], None], *, timeout_s: float) -> Any:
        """The prediction of ``stream``'s next turn, batched with whatever else is waiting."""
        if len(self._pending) >= self.max_waiting:
            raise ApiError(503, "busy", f"server busy: {len(self._pending)} session turns waiting; retry shortly",
                           {"Retry-After": "1"})  # fmt: skip
        loop = asyncio.get_running_loop()
        now = loop.time()
        key = id(stream)
        self._gap[key] = now - self._answered[key] if key in self._answered else float("inf")
        turn = _Turn(stream, utterance, prepare, loop.create_future(), now, now + max(timeout_s, 0.0))
        turn.future.add_done_callback(lambda f: f.cancelled() or f.exception())  # never "unretrieved"
        self._pending.append(turn)
        self._kick()
        try:
            return await asyncio.wait_for(asyncio.shield(turn.future), timeout=max(timeout_s, 0.0))
        except TimeoutError:
            with turn.lock:
                if turn.state == "waiting":
                    turn.state = "cancelled"
            if turn.state == "cancelled":
                if turn in self._pending:
                    self._pending.remove(turn)
                raise ApiError(
                    503, "busy", "server busy: the turn waited its whole timeout for a free inference thread",
                    {"Retry-After": "1"},
                ) from None  # fmt: skip
            return await turn.future  # started: it changes the session, so it finishes

    # -- dispatch (event loop only) ------------------------------------------------------------

    def _kick(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._prune(now)
        while self._pending and self._running < self.runner.threads:
            due = self._pending[0].arrived + self.wait_s
            share = self._share()
            if len(self._pending) < min(share, self._expected()) and now < due:
                self._timer = loop.call_at(due, self._kick)
                return
            batch, self._pending = self._pending[:share], self._pending[share:]
            self._in_batch.update(id(t.stream) for t in batch)
            self._running += 1
            loop.create_task(self._run(batch))

    def forget(self, stream: Any) -> None:
        """A closed session sends no next turn: stop expecting one (else a lone client's turns
        would wait ``batch_wait_ms`` for a session that has gone)."""
        self._answered.pop(id(stream), None)
        self._gap.pop(id(stream), None)
        if id(stream) in self._in_batch:  # its running turn must not mark it answered when it ends
            self._closed.add(id(stream))

    def _expected(self) -> int:
        """Turns worth waiting for: sessions answered in the last ``_ACTIVE_S`` seconds with no
        turn running whose client came back within ``batch_wait_ms`` last time (a program
        feeding turns as fast as they are answered). A session paced by people, seconds
        between turns, is never waited for, so it costs other turns no waiting."""
        fast = sum(1 for k in self._answered if k not in self._in_batch and self._gap.get(k, float("inf")) <= self.wait_s)
        return max(1, fast)

    def _share(self) -> int:
        """Most turns one batch takes: the active sessions split evenly over the inference
        threads, so that the threads run batches side by side (capped at ``max_batch``)."""
        active = set(self._answered) | self._in_batch | {id(t.stream) for t in self._pending}
        return max(1, min(self.max_batch, math.ceil(len(active) / self.runner.threads)))

    def _prune(self, now: float) -> None:
        """Sessions not answered for ``_ACTIVE_S`` seconds are no longer active."""
        for key in [k for k, t in self._answered.items() if now - t > _ACTIVE_S]:
            del self._answered[key]
            self._gap.pop(key, None)

    async def _run(self, batch: list[_Turn]) -> None:
        loop = asyncio.get_running_loop()
        try:
            left = max(t.deadline for t in batch) - loop.time()
            until = time.monotonic() + left
            live, results = await self.runner.run(lambda: self._job(batch, until), timeout_s=left, must_finish=True)
        except BaseException as e:  # the batch never started (503: no session changed) or failed
            for t in batch:
                if not t.future.done() and t.state != "cancelled":
                    t.future.set_exception(e)
            if not isinstance(e, Exception):
                raise
        else:
            self.batches += 1
            self.turns += len(live)
            for t, r in zip(live, results):
                if t.future.done():
                    continue
                if isinstance(r, BaseException):
                    t.future.set_exception(r)
                else:
                    t.future.set_result(r)
        finally:
            now = loop.time()
            for t in batch:
                key = id(t.stream)
                self._in_batch.discard(key)
                if key in self._closed:  # deleted while its turn ran
                    self._closed.discard(key)
                else:
                    self._answered[key] = now
            self._running -= 1
            self._kick()

    def _job(self, batch: list[_Turn], until: float) -> tuple[list[_Turn], list[Any]]:
        """In a worker thread: claim the turns still wanted, check them, run them as one call,
        inside ``job_context`` (given the seconds left until the batch's latest deadline)."""
        with self.job_context(until - time.monotonic()):
            return self._claim_and_run(batch)

    def _claim_and_run(self, batch: list[_Turn]) -> tuple[list[_Turn], list[Any]]:
        live = []
        for t in batch:
            with t.lock:
                if t.state == "cancelled":
                    continue
                t.state = "started"
            live.append(t)
        results: list[Any] = [None] * len(live)
        todo = []
        for j, t in enumerate(live):
            try:
                t.prepare()
                todo.append(j)
            except Exception as e:  # noqa: BLE001 - this turn's error, answered to its request
                results[j] = e
        if todo:
            out = self.add_many([(live[j].stream, live[j].utterance) for j in todo])
            for j, r in zip(todo, out):
                results[j] = r
        return live, results
