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
    with pytest.raises(DataError, match=r"dialogues_train.txt:3: 1 utterance\(s\) but 2 label\(s\)"):
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


@pytest.mark.parametrize("inside", ["\u0085", "\r", "\x0c", "\u2028"])
def test_only_newlines_end_a_line(tmp_path, inside):
    """``str.splitlines`` also broke lines on U+0085 (mojibake of an accented letter), a lone CR
    or a form feed inside a line: every later dialogue took the labels of another line."""
    text = f"Hi . __eou__ Hello . __eou__\nI {inside}ngstr . __eou__ Fine . __eou__\nBye . __eou__ See you . __eou__\n"
    corpus = read_corpus(_write(tmp_path, text, "0 0 \n4 4 \n0 1 \n"))
    by_id = {c.dialogue_id: [u.labels["emotion"] for u in c] for c in corpus.conversations}
    assert by_id == {"1": ["neutral", "neutral"], "2": ["happiness", "happiness"], "3": ["neutral", "anger"]}
    assert corpus.counts()["read"] == 6


def test_files_of_different_lengths_are_refused(tmp_path):
    """A label line more (or a text line less) shifted every later label onto another turn, and
    nothing was said, even with --strict."""
    text = "Hi . __eou__ Hello . __eou__\nBye . __eou__ See you . __eou__\n"
    with pytest.raises(DataError, match="2 lines, but dialogues_emotion_train.txt beside it has 3"):
        read_corpus(_write(tmp_path, text, "0 0 \n5 5 \n4 6 \n"))
    crlf = _write(tmp_path, text.replace("\n", "\r\n"), "0 0\n5 5\n")  # CRLF in one file only: the same lines
    assert read_corpus(crlf).counts()["kept"] == 4


def test_labels_beside_an_empty_line_are_counted(tmp_path):
    corpus = read_corpus(_write(tmp_path, "Hi . __eou__\n   \nBye . __eou__\n", "0\n5 5\n4\n"))
    assert corpus.counts()["kept"] == 2 and corpus.counts()["skipped_by_reason"] == {"malformed_row": 1}
    assert "an empty line, but 2 label(s) on line 2 of dialogues_emotion_train.txt" in corpus.problems[0].message


def test_only_a_txt_file_is_taken_for_dailydialog(tmp_path):
    path = tmp_path / "dialogues_m.csv"  # an EmoryNLP CSV whose text holds the marker
    path.write_text("Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
                    "hi __eou__ there,['Ann'],Joyful,1,1,1,1,00:00:01,00:00:02\n")
    assert detect_format(path) == "emorynlp"
