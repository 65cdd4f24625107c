"""Live conversations held in memory: one recognizer stream per session, with limits.

A session wraps ``Recognizer.stream()`` (causal mode: each turn costs the same however long
the conversation is). The store caps how many sessions live at once and drops sessions idle
longer than ``idle_s``; the clock is injectable so tests need not sleep. Each session has an
``asyncio.Lock`` so its turns run one after another in arrival order, while different
sessions proceed together (their turns are batched: ``serving/batcher.py``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from altsa.serving.errors import ApiError


@dataclass
class LiveSession:
    id: str
    stream: Any  # altsa.inference stream session: .add(utterance_or_dict), .timeline
    created: float
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # orders the turns (FIFO)
    turns: int = 0  # turns answered (checked against max_turns and counted under the lock: no race)

    def timeline(self) -> list[Any]:
        return list(self.stream.timeline)


class SessionStore:
    """Session id -> ``LiveSession``, bounded in number and idle time."""

    def __init__(
        self,
        open_stream: Callable[[], Any],
        *,
        max_sessions: int,
        idle_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_close: Callable[[Any], None] | None = None,
    ):
        self._open_stream = open_stream
        self._on_close = on_close  # called with the stream of every deleted or expired session
        self.max_sessions = max_sessions
        self.idle_s = idle_s
        self.clock = clock
        self._sessions: dict[str, LiveSession] = {}
        self.expired_total = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def sweep(self) -> int:
        """Drop sessions idle past ``idle_s`` (never one whose turn is running). Returns how many."""
        now = self.clock()
        stale = [
            s.id for s in self._sessions.values() if now - s.last_used > self.idle_s and not s.lock.locked()
        ]
        for sid in stale:
            self._close(sid)
        self.expired_total += len(stale)
        return len(stale)

    def create(self) -> LiveSession:
        self.sweep()
        if len(self._sessions) >= self.max_sessions:
            raise ApiError(
                429,
                "too_many_sessions",
                f"{self.max_sessions} live sessions already (the limit); delete finished sessions "
                f"or wait: idle ones expire after {self.idle_s:g} s",
                {"Retry-After": str(max(1, int(self.idle_s)))},
            )
        now = self.clock()
        session = LiveSession(id=secrets.token_urlsafe(16), stream=self._open_stream(), created=now, last_used=now)
        self._sessions[session.id] = session
        return session

    def get(self, sid: str) -> LiveSession:
        """The session, marked as used now; 404 if unknown or expired."""
        self.sweep()
        session = self._sessions.get(sid)
        if session is None:
            raise self._unknown(sid)
        session.last_used = self.clock()
        return session

    def check_open(self, session: LiveSession) -> None:
        """404 if ``session`` was deleted (or expired) since it was looked up: a turn queued
        behind earlier ones must not run on a conversation its client has ended."""
        if self._sessions.get(session.id) is not session:
            raise self._unknown(session.id)

    def _unknown(self, sid: str) -> ApiError:
        return ApiError(404, "unknown_session", f"no live session {sid[:64]!r} (never created, deleted, or expired "
                        f"after {self.idle_s:g} s idle)")

    def delete(self, sid: str) -> None:
        self.get(sid)
        self._close(sid)

    def _close(self, sid: str) -> None:
        session = self._sessions.pop(sid)
        if self._on_close is not None:
            self._on_close(session.stream)
