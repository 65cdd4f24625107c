"""DailyDialog as published (format ``dailydialog``): utterances split on ``__eou__``, labels
from the emotion file beside it by id, alternating speakers, lines that do not match skipped
and counted."""

from __future__ import annotations

import pytest

from altsa.data.readers import detect_format, read_corpus
from altsa.data.schema import LabelSet
from altsa.errors import DataError

TEXT = ("The kitchen stinks . __eou__ I'll throw out the garbage . __eou__\n"
        "So Dick , how about some coffee ? __eou__ Coffee ? I don \u2019 t like it . __eou__ Come on , try it . __eou__\n"
        "Hi . __eou__\n"
        "\n"
        "Wow ! __eou__ Oh no . __eou__\n")
IDS = "2 0 \n4 2 0 \n0 1 \n\n6 9 \n"


def _write(tmp_path, text=TEXT, ids=IDS, split="train"):
    (tmp_path / f"dialogues_emotion_{split}.txt").write_text(ids, encoding="utf-8")
    path = tmp_path / f"dialogues_{split}.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_dialogues_labels_and_speakers(tmp_path):
    path = _write(tmp_path)
    assert detect_format(path) == "dailydialog"
    corpus = read_corpus(path)
    assert [c.dialogue_id for c in corpus.conversations] == ["1", "2", "5"]
    first, second, last = corpus.conversations
    assert [u.text for u in first] == ["The kitchen stinks .", "I'll throw out the garbage ."]
    assert [u.labels["emotion"] for u in first] == ["disgust", "neutral"]
    assert [u.labels["emotion"] for u in second] == ["happiness", "disgust", "neutral"]
    assert [u.speaker for u in second] == ["A", "B", "A"]
    assert [u.text for u in last] == ["Wow !"]  # id 9 is no label: that utterance is skipped, counted
    assert corpus.label_sets["emotion"].name == "dailydialog-emotion"
    counts = corpus.counts()
    assert counts["read"] == 8 and counts["kept"] == 6
    assert counts["skipped_by_reason"] == {"malformed_row": 1, "unknown_label": 1}
    with pytest.raises(DataError, match=r"dialogues_train.txt:3: 1 utterances but 2 labels"):
        read_corpus(path, strict=True)


def test_a_label_set_maps_the_published_names(tmp_path):
    four = LabelSet("dd-4", ("anger", "happiness", "neutral", "sadness"))
    corpus = read_corpus(_write(tmp_path), label_set=four)
    assert corpus.counts()["skipped_by_reason"]["unknown_label"] == 4  # disgust twice, surprise, id 9


def test_the_whole_corpus_file_and_a_missing_emotion_file(tmp_path):
    (tmp_path / "dialogues_text.txt").write_text("Hi . __eou__ Hello . __eou__\n")
    (tmp_path / "dialogues_emotion.txt").write_text("0 4\n")
    assert read_corpus(tmp_path / "dialogues_text.txt").counts()["kept"] == 2
    (tmp_path / "dialogues_test.txt").write_text("Hi . __eou__\n")
    with pytest.raises(DataError, match="no emotion file dialogues_emotion_test.txt beside it"):
        read_corpus(tmp_path / "dialogues_test.txt")
