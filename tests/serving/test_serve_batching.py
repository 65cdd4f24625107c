"""Micro-batched session turns: concurrent sessions share model calls, each gets exactly the
answer it would alone, a turn whose batch never started within its timeout is withdrawn
(503, session unchanged), a started one finishes."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from fastapi.testclient import TestClient

from altsa.serving.app import create_app
from altsa.serving.config import ServeSettings

TEXTS = ["We won the match!", "No way, are you serious?", "Totally serious. I scored twice.",
         "I missed it. I'm so annoyed.", "You always miss the good ones."]  # fmt: skip


def test_concurrent_sessions_are_batched_and_exact(recognizer):
    """Six sessions of different lengths, every turn sent as soon as the previous answered:
    fewer model calls than turns, and each timeline equals the whole conversation's answer."""
    convs = [[{"speaker": "AB"[i % 2], "text": TEXTS[(i + j) % len(TEXTS)]} for i in range(n)]
             for j, n in enumerate((1, 2, 3, 4, 5, 5))]  # fmt: skip

    async def main():
        app = create_app(recognizer, ServeSettings(batch_max_turns=4, batch_wait_ms=20))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
            async def client(conv):
                sid = (await c.post("/v1/sessions")).json()["id"]
                for u in conv:
                    r = await c.post(f"/v1/sessions/{sid}/utterances", json=u)
                    assert r.status_code == 200, r.text
                return (await c.get(f"/v1/sessions/{sid}")).json()["timeline"]

            timelines = await asyncio.gather(*(client(conv) for conv in convs))
            return timelines, app.state.service.batcher

    timelines, batcher = asyncio.run(main())
    assert batcher.turns == sum(len(c) for c in convs)
    assert batcher.batches < batcher.turns  # turns of different sessions shared calls
    for conv, timeline in zip(convs, timelines):
        whole = recognizer.predict(conv)
        assert [t["text"] for t in timeline] == [u["text"] for u in conv]
        for got, want in zip(timeline, whole):
            assert got["label"] == want.label
            np.testing.assert_allclose(list(got["probabilities"].values()), list(want.probabilities.values()), atol=1e-5)


def test_timeouts_withdraw_waiting_turns_and_finish_started_ones(stalling):
    settings = ServeSettings(request_timeout_s=0.5, inference_threads=1, batch_max_turns=1, batch_wait_ms=0)
    with TestClient(base_url="http://localhost", app=create_app(stalling, settings)) as client, ThreadPoolExecutor(1) as pool:
        a, b = (client.post("/v1/sessions").json()["id"] for _ in range(2))
        first = pool.submit(client.post, f"/v1/sessions/{a}/utterances", json={"speaker": "A", "text": "Hi there!"})
        assert stalling.entered.wait(10)
        r = client.post(f"/v1/sessions/{b}/utterances", json={"speaker": "B", "text": "Hello?"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "busy"
        time.sleep(0.6)  # a's turn is past its timeout, but started: it must finish, not 504
        stalling.gate.set()
        assert first.result(timeout=20).status_code == 200
        assert client.get(f"/v1/sessions/{a}").json()["turns"] == 1
        assert client.get(f"/v1/sessions/{b}").json()["timeline"] == []  # withdrawn: b unchanged
        assert client.get(f"/v1/sessions/{b}").json()["turns"] == 0
        r = client.post(f"/v1/sessions/{b}/utterances", json={"speaker": "B", "text": "Hello?"})
        assert r.status_code == 200 and r.json()["position"] == 0


def test_a_closed_session_is_no_longer_expected_to_send_turns(recognizer):
    """The batcher waits (up to batch_wait_ms) for sessions answered recently; a deleted one
    must drop out at once, or the next lone client would wait for a turn that never comes."""
    app = create_app(recognizer, ServeSettings(batch_wait_ms=50))
    batcher = app.state.service.batcher
    with TestClient(base_url="http://localhost", app=app) as c:
        sid = c.post("/v1/sessions").json()["id"]
        assert c.post(f"/v1/sessions/{sid}/utterances", json={"text": TEXTS[0]}).status_code == 200
        assert len(batcher._answered) == 1  # its next turn is expected
        assert c.delete(f"/v1/sessions/{sid}").status_code == 204
        assert len(batcher._answered) == 0
        other = c.post("/v1/sessions").json()["id"]
        assert c.post(f"/v1/sessions/{other}/utterances", json={"text": TEXTS[1]}).status_code == 200
        assert batcher._expected() == 1  # only the live session itself


def test_a_session_deleted_while_its_turn_runs_is_not_expected_afterwards(stalling):
    app = create_app(stalling, ServeSettings(batch_wait_ms=50))
    batcher = app.state.service.batcher
    with TestClient(base_url="http://localhost", app=app) as c, ThreadPoolExecutor(1) as pool:
        sid = c.post("/v1/sessions").json()["id"]
        turn = pool.submit(c.post, f"/v1/sessions/{sid}/utterances", json={"text": TEXTS[0]})
        assert stalling.entered.wait(10)  # its turn is in the model
        assert c.delete(f"/v1/sessions/{sid}").status_code == 204
        stalling.gate.set()
        assert turn.result(timeout=20).status_code == 200  # a started turn finishes
        assert len(batcher._answered) == 0 and not batcher._closed  # and its session is not waited for


def test_a_batch_takes_a_fair_share_of_the_active_sessions(recognizer):
    """With 2 inference threads and 8 sessions, a batch takes at most 4 turns (two batches run
    side by side) even though 8 are waiting and batch_max_turns allows 8."""
    app = create_app(recognizer, ServeSettings(inference_threads=2, batch_max_turns=8, batch_wait_ms=0))
    batcher = app.state.service.batcher
    sizes: list[int] = []
    inner = batcher.add_many
    batcher.add_many = lambda items: sizes.append(len(items)) or inner(items)

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
            sids = [(await c.post("/v1/sessions")).json()["id"] for _ in range(8)]
            for turn in range(3):
                rs = await asyncio.gather(*(c.post(f"/v1/sessions/{s}/utterances", json={"text": TEXTS[turn]})
                                            for s in sids))  # fmt: skip
                assert all(r.status_code == 200 for r in rs)

    asyncio.run(main())
    assert sum(sizes) == 24 and max(sizes) <= 4
    assert batcher._share() == 4  # 8 sessions answered within the last second, 2 threads


def test_only_sessions_that_come_back_fast_are_waited_for(recognizer):
    """A session whose client sent its next turn within batch_wait_ms of the last answer is
    expected again (worth waiting for); one paced like a person (a pause longer than that) is
    not, so it never makes other turns wait."""
    app = create_app(recognizer, ServeSettings(batch_wait_ms=200))  # generous: a loaded CI machine is slow
    batcher = app.state.service.batcher
    with TestClient(base_url="http://localhost", app=app) as c:
        fast, slow = (c.post("/v1/sessions").json()["id"] for _ in range(2))
        for text in TEXTS[:3]:
            assert c.post(f"/v1/sessions/{fast}/utterances", json={"text": text}).status_code == 200
        assert c.post(f"/v1/sessions/{slow}/utterances", json={"text": TEXTS[0]}).status_code == 200
        time.sleep(0.5)  # a pause: 500 ms > 200 ms
        assert c.post(f"/v1/sessions/{slow}/utterances", json={"text": TEXTS[1]}).status_code == 200
        gaps = sorted(batcher._gap.values())
        assert gaps[0] < 0.2 and gaps[1] >= 0.5
        assert len(batcher._answered) == 2 and batcher._expected() == 1  # the fast one only
        assert c.delete(f"/v1/sessions/{fast}").status_code == 204
        assert len(batcher._gap) == 1
