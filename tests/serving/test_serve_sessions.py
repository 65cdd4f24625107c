"""Session store: expiry by an injected clock, the cap, turn order under concurrency."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from altsa.serving.app import create_app
from altsa.serving.config import ServeSettings
from altsa.serving.errors import ApiError
from altsa.serving.sessions import SessionStore


def test_expiry_follows_the_clock(recognizer, clock):
    store = SessionStore(recognizer.stream, max_sessions=3, idle_s=10, clock=clock)
    a = store.create()
    clock.advance(6)
    b = store.create()
    clock.advance(6)  # a: idle 12 s, b: 6 s
    assert store.sweep() == 1 and len(store) == 1
    with pytest.raises(ApiError) as err:
        store.get(a.id)
    assert err.value.status == 404 and err.value.code == "unknown_session"
    assert store.get(b.id) is b  # a request refreshes the idle time...
    clock.advance(9)
    assert store.get(b.id) is b  # ...so 15 s after creation, b is still live
    clock.advance(10.5)
    assert store.sweep() == 1 and len(store) == 0
    assert store.expired_total == 2


def test_cap_counts_only_live_sessions(recognizer, clock):
    store = SessionStore(recognizer.stream, max_sessions=2, idle_s=5, clock=clock)
    store.create()
    store.create()
    with pytest.raises(ApiError) as err:
        store.create()
    assert err.value.status == 429
    clock.advance(5.5)
    store.create()  # the two idle ones expired first
    assert len(store) == 1


def test_a_session_whose_turn_runs_is_never_expired(recognizer, clock):
    store = SessionStore(recognizer.stream, max_sessions=2, idle_s=1, clock=clock)
    s = store.create()

    async def hold() -> int:
        async with s.lock:
            clock.advance(100)
            return store.sweep()

    assert asyncio.run(hold()) == 0
    assert store.sweep() == 1


def test_concurrent_turns_of_one_session_keep_their_order(recognizer):
    """Turns sent at once to one session run one by one, in arrival order: the timeline holds
    every turn exactly once, in order, and equals the whole-conversation answer."""
    texts = [f"Turn number {i}: I really can't believe you did that!" for i in range(6)]

    async def main() -> tuple[list[dict], dict]:
        app = create_app(recognizer, ServeSettings(inference_threads=2))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            sid = (await c.post("/v1/sessions")).json()["id"]
            # created in order; the event loop starts them in this order and the lock is FIFO
            tasks = [asyncio.create_task(c.post(f"/v1/sessions/{sid}/utterances", json={"speaker": "A", "text": t}))
                     for t in texts]  # fmt: skip
            answers = [(await t).json() for t in tasks]
            return answers, (await c.get(f"/v1/sessions/{sid}")).json()

    answers, timeline = asyncio.run(main())
    assert [a["text"] for a in answers] == texts
    assert [t["text"] for t in timeline["timeline"]] == texts
    assert [t["key"] for t in timeline["timeline"]] == [f"live/{i}" for i in range(len(texts))]
    whole = recognizer.predict([{"speaker": "A", "text": t} for t in texts])
    assert [t["label"] for t in timeline["timeline"]] == [p.label for p in whole]


def test_turns_queued_behind_a_delete_are_not_run(stalling):
    """A DELETE while turns wait their turn: the one already running finishes, the queued ones
    answer 404 (the session is gone) instead of running on the ended conversation."""

    async def main() -> tuple[int, list[int], int]:
        app = create_app(stalling, ServeSettings(inference_threads=1))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=20) as c:
            sid = (await c.post("/v1/sessions")).json()["id"]
            turns = [asyncio.create_task(c.post(f"/v1/sessions/{sid}/utterances", json={"speaker": "A", "text": f"t{i}"}))
                     for i in range(3)]  # fmt: skip
            await asyncio.to_thread(stalling.entered.wait, 10)  # the first turn is in the model
            deleted = (await c.delete(f"/v1/sessions/{sid}")).status_code
            stalling.gate.set()
            codes = [(await t).status_code for t in turns]
            return deleted, codes, (await c.get(f"/v1/sessions/{sid}")).status_code

    deleted, codes, after = asyncio.run(main())
    assert deleted == 204
    assert codes == [200, 404, 404]
    assert after == 404


def test_a_running_turn_is_counted_once_answered(stalling):
    """A timeline read while a turn runs: ``turns`` equals the turns it holds."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    with TestClient(base_url="http://localhost", app=create_app(stalling, ServeSettings())) as c, \
            ThreadPoolExecutor(1) as pool:  # fmt: skip
        sid = c.post("/v1/sessions").json()["id"]
        stalling.gate.set()
        assert c.post(f"/v1/sessions/{sid}/utterances", json={"text": "Hi there!"}).status_code == 200
        stalling.gate.clear()
        stalling.entered.clear()
        turn = pool.submit(c.post, f"/v1/sessions/{sid}/utterances", json={"text": "Oh no."})
        assert stalling.entered.wait(10)
        during = c.get(f"/v1/sessions/{sid}").json()
        stalling.gate.set()
        assert turn.result(timeout=20).status_code == 200
        after = c.get(f"/v1/sessions/{sid}").json()
    assert during["turns"] == len(during["timeline"]) == 1
    assert after["turns"] == len(after["timeline"]) == 2
