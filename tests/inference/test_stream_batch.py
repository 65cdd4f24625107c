"""Batched session turns (``Recognizer.add_many``): the same predictions as sequential
``session.add`` for sessions of different lengths, with and without audio, windowed caches,
repeated sessions and unreadable turns."""

from __future__ import annotations

import numpy as np
import pytest

from altsa.errors import DataError
from altsa.inference import Recognizer


def assert_same(got, want, atol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.position, g.speaker, g.text, g.label, g.absent) == (w.position, w.speaker, w.text, w.label, w.absent)
        np.testing.assert_allclose(list(g.probabilities.values()), list(w.probabilities.values()), atol=atol)
        np.testing.assert_allclose(list(g.weights.values()), list(w.weights.values()), atol=atol)


def _with_audio(conv, every=2, seed=0):
    rng = np.random.default_rng(seed)
    return [{**u, "audio": (0.1 * rng.standard_normal(8000)).astype(np.float32)} if i % every else u
            for i, u in enumerate(conv)]


def _run_both(rec, convs):
    """Feed ``convs`` turn by turn: one set of sessions sequentially, one batched round by
    round (each round: the next turn of every conversation not yet finished)."""
    seq = [rec.stream(dialogue_id=f"d{j}") for j in range(len(convs))]
    for s, conv in zip(seq, convs):
        for u in conv:
            s.add(u)
    bat = [rec.stream(dialogue_id=f"d{j}") for j in range(len(convs))]
    for t in range(max(len(c) for c in convs)):
        round_ = [(bat[j], c[t]) for j, c in enumerate(convs) if t < len(c)]
        got = rec.add_many(round_)
        assert [p.position for p in got] == [t] * len(round_)
    return seq, bat


def test_add_many_equals_sequential_text(text_rec, conversation):
    convs = [conversation(n) for n in (1, 4, 7, 9)]
    seq, bat = _run_both(text_rec, convs)
    for s, b in zip(seq, bat):
        assert_same(b.timeline, s.timeline)
        assert b._state["turns"] == s._state["turns"] == len(s)


def test_add_many_equals_sequential_with_audio_absent(av_rec, conversation):
    """Text+audio model: some turns have audio, some do not, one conversation never does."""
    convs = [_with_audio(conversation(5)), conversation(3), _with_audio(conversation(8), every=3, seed=1)]
    seq, bat = _run_both(av_rec, convs)
    assert any("audio" in p.absent for p in bat[1].timeline)
    for s, b in zip(seq, bat):
        assert_same(b.timeline, s.timeline)


def test_add_many_windowed_cache(text_run, conversation):
    """With ``max_context`` the caches are cut to the window; padding must not leak in."""
    rec = Recognizer.from_pretrained(text_run)
    rec.model.fusion.attention.max_context = 3
    convs = [conversation(n) for n in (2, 6, 9)]
    seq, bat = _run_both(rec, convs)
    for s, b in zip(seq, bat):
        assert_same(b.timeline, s.timeline)
        assert b._state["fusion"]["ok"].shape[1] == s._state["fusion"]["ok"].shape[1] <= 3


def test_add_many_same_session_twice_keeps_order(text_rec, conversation):
    conv = conversation(4)
    ref = text_rec.stream()
    want = [ref.add(u) for u in conv]
    s = text_rec.stream()
    got = text_rec.add_many([(s, u) for u in conv])
    assert_same(got, want)
    assert [p.position for p in s.timeline] == [0, 1, 2, 3]


def test_add_many_noncausal(bilstm_run, conversation):
    rec = Recognizer.from_pretrained(bilstm_run)
    seq, bat = _run_both(rec, [conversation(3), conversation(5)])
    for s, b in zip(seq, bat):
        assert_same(b.timeline, s.timeline)


def test_add_many_bad_turn_fails_alone(text_rec, conversation):
    a, b = text_rec.stream(), text_rec.stream()
    a.add({"speaker": "Ann", "text": "Hi", "position": 5})
    bad = {"speaker": "Ann", "text": "again", "position": 2}  # does not follow position 5
    empty = {"speaker": "Bob", "text": "   "}  # nothing the model can read
    with pytest.raises(DataError):
        text_rec.add_many([(a, bad), (b, conversation(1)[0])])
    assert len(a) == 1 and len(b) == 0  # nothing changed
    out = text_rec.add_many([(a, bad), (b, conversation(1)[0]), (text_rec.stream(), empty)], return_exceptions=True)
    assert isinstance(out[0], DataError) and isinstance(out[2], DataError)
    assert out[1].text == conversation(1)[0]["text"] and len(b) == 1 and len(a) == 1


def test_add_many_other_recognizer_refused(text_rec, av_rec):
    from altsa.errors import ModelError

    with pytest.raises(ModelError):
        text_rec.add_many([(av_rec.stream(), "hi")])


@pytest.mark.parametrize("budget", [256, 12])
def test_add_many_packs_texts_into_rows_within_the_token_budget(text_rec, conversation, monkeypatch, budget):
    """The batched text pass packs turns into unpadded rows of at most ``_PACK_TOKENS``
    tokens (a longer turn gets a row alone); every split gives the sequential predictions."""
    import altsa.inference.recognizer as recognizer

    calls = []  # one (texts, tokens) per packed row
    cls = type(text_rec.encoders["text"])
    original = cls.forward_packed

    def counting(self, batch):
        calls.append((len(batch["attention_mask"]), int(batch["attention_mask"].sum())))  # (texts, tokens)
        return original(self, batch)

    monkeypatch.setattr(recognizer, "_PACK_TOKENS", budget)
    monkeypatch.setattr(cls, "forward_packed", counting)
    convs = [conversation(n) for n in (3, 5, 6, 6)]
    seq, bat = _run_both(text_rec, convs)
    for s, b in zip(seq, bat):
        assert_same(b.timeline, s.timeline)
    assert calls and all(tokens <= budget or texts == 1 for texts, tokens in calls)  # a long turn goes alone
    assert max(texts for texts, _ in calls) == 4 if budget == 256 else any(texts == 1 for texts, _ in calls)
