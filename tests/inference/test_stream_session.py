"""Streaming sessions: equal to batch prediction in causal mode, O(1) encoder work per turn,
correct (recomputing) for a non-causal model."""

from __future__ import annotations

import numpy as np
import pytest

from altsa.errors import DataError
from altsa.inference import Recognizer



def assert_same(stream_preds, batch_preds, atol=1e-5):
    assert len(stream_preds) == len(batch_preds)
    for s, b in zip(stream_preds, batch_preds):
        assert (s.position, s.speaker, s.text, s.label) == (b.position, b.speaker, b.text, b.label)
        np.testing.assert_allclose(list(s.probabilities.values()), list(b.probabilities.values()), atol=atol)
        np.testing.assert_allclose(list(s.weights.values()), list(b.weights.values()), atol=atol)
        assert s.absent == b.absent


def test_causal_stream_equals_batch(text_rec, conversation):
    conv = conversation(12)
    session = text_rec.stream(dialogue_id="conversation")
    got = [session.add(u) for u in conv]
    assert_same(got, text_rec.predict(conv))
    assert_same(session.timeline, got)
    assert len(session) == 12


def test_causal_stream_equals_batch_with_audio(av_rec, conversation):
    rec = av_rec
    rng = np.random.default_rng(0)
    conv = [{**u, "audio": (0.1 * rng.standard_normal(8000)).astype(np.float32)} if i % 2 else u
            for i, u in enumerate(conversation(6))]
    session = rec.stream(dialogue_id="conversation")
    assert_same([session.add(u) for u in conv], rec.predict(conv))


def test_stream_encodes_one_utterance_per_turn(text_run, conversation):
    """O(1) text work per turn: each add() tokenizes exactly one (plain-mode) text."""
    rec = Recognizer.from_pretrained(text_run)
    encoder = rec.encoders["text"]
    calls = []
    original = encoder.tokenize

    def counting(texts):
        calls.append(list(texts))
        return original(texts)

    encoder.tokenize = counting
    session = rec.stream()
    conv = conversation(8)
    for u in conv:
        session.add(u)
    assert [len(c) for c in calls] == [1] * 8
    assert [c[0] for c in calls] == [u["text"] for u in conv]
    assert session._state["turns"] == 8  # one model step per turn, state carried


def test_noncausal_stream_recomputes(bilstm_run, conversation):
    rec = Recognizer.from_pretrained(bilstm_run)
    assert rec.causal is False and rec.info()["streaming"].startswith("O(n)")
    conv = conversation(5)
    session = rec.stream(dialogue_id="conversation")
    for n, u in enumerate(conv, start=1):
        pred = session.add(u)
        prefix = rec.predict(conv[:n])
        assert_same([pred], prefix[-1:])
        assert_same(session.timeline, prefix)  # earlier turns revised with the new context


def test_context_mode_window_matches_history(bilstm_run, conversation):
    """Context-mode text inputs built from the bounded window equal the full-history ones."""
    rec = Recognizer.from_pretrained(bilstm_run)
    session = rec.stream()
    conv = conversation(9)
    for u in conv:
        session.add(u)
    full = rec.text_items(session._turns)
    for i in range(len(conv)):
        window = session._turns[: i + 1]
        assert rec.text_items(window)[-1] == full[i]
    assert "<s3>" in full[-1]  # speaker tags follow first appearance in the session


def test_positions_must_grow(text_rec):
    session = text_rec.stream()
    session.add({"speaker": "A", "text": "one", "position": 5})
    assert session.add({"speaker": "B", "text": "two"}).position == 6
    with pytest.raises(DataError, match="does not follow"):
        session.add({"speaker": "A", "text": "three", "position": 6})
    assert len(session) == 2  # the bad turn left no trace
    session.reset()
    assert len(session) == 0 and session.timeline == []


def test_stream_accepts_plain_strings(text_rec):
    session = text_rec.stream()
    p = session.add("hello there")
    assert p.text == "hello there" and p.speaker == "" and p.key == "live/0"
