"""Keys outside the JSONL format are read but not understood: they are counted and reported
with the row counts (a typo such as "label" for "labels" must not pass unnoticed)."""

from __future__ import annotations

import json

from altsa.data.readers import describe_counts, read_corpus


def test_unknown_keys_are_counted_and_reported(tmp_path):
    path = tmp_path / "talk.jsonl"
    lines = [
        {"dialogue_id": "a", "topic": "x", "utterances": [{"speaker": "A", "text": "hi", "label": "joy"},
                                                           {"speaker": "B", "text": "yo", "label": "anger"}]},
        {"dialogue_id": "b", "utterances": [{"speaker": "A", "text": "ok", "emotion": "joy", "meta": {"x": 1}}]},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    corpus = read_corpus(path)
    assert corpus.ignored_keys == {"label": 2, "conversation.topic": 1}
    counts = corpus.counts()
    assert counts["ignored_keys"] == {"label": 2, "conversation.topic": 1}
    assert "keys outside the format, ignored: 'label' 2, 'conversation.topic' 1" in describe_counts(counts)
    assert [u.labels for u in corpus.utterances()] == [{}, {}, {"emotion": "joy"}]


def test_a_file_in_the_format_reports_nothing_more(tmp_path):
    path = tmp_path / "talk.jsonl"
    obj = {"dialogue_id": "a", "utterances": [{"speaker": "A", "text": "hi", "labels": {"emotion": "joy"},
                                               "position": 0, "start": 0.0, "end": 1.0, "meta": {"k": "v"}}]}
    path.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    corpus = read_corpus(path)
    assert corpus.ignored_keys == {} and "ignored_keys" not in corpus.counts()
    assert "keys outside" not in describe_counts(corpus.counts())
