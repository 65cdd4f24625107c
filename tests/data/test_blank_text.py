"""What counts as no text: whitespace, controls and invisible format characters only."""

from __future__ import annotations

import pytest

from altsa.data.schema import Utterance, is_blank


@pytest.mark.parametrize("text", ["", " \n\t", "\u00a0", "\u200b", "\u200d\u200c", "\ufeff", "\x00\x07", "\u2028\u3000",
                                  "\ufe0f", "\u0300\u0301", "\ue000", "\U000f0000"])
def test_blank(text):
    assert is_blank(text)
    assert not Utterance("d", 0, "A", text).has_text


@pytest.mark.parametrize("text", ["a", " ok ", "\u200bhi", "\U0001f600", "\u05e9\u05dc\u05d5\u05dd", "?", "e\u0301",
                                  "\u2764\ufe0f"])
def test_not_blank(text):
    assert not is_blank(text)
    assert Utterance("d", 0, "A", text).has_text


def test_a_corpus_row_with_invisible_text_and_no_media_is_skipped(tmp_path):
    from altsa.data.readers import ColumnMapping, read_corpus

    path = tmp_path / "talk.csv"
    path.write_text("dialogue,speaker,emotion,text\n1,Ann,joy,hello\n1,Bob,joy,\u200b\u200d \n1,Ann,anger,why\n",
                    encoding="utf-8")
    corpus = read_corpus(path, mapping=ColumnMapping(dialogue="dialogue", speaker="speaker", label="emotion", text="text"))
    assert [u.text for u in corpus.utterances()] == ["hello", "why"]
    assert corpus.counts()["skipped_by_reason"] == {"empty_text": 1}


def test_a_lone_surrogate_in_a_jsonl_file_is_repaired_and_counted(tmp_path):
    """JSON may escape half a UTF-16 pair ("\\ud800"): no character, and no tokenizer can
    encode it. The reader replaces it with U+FFFD and counts the repair."""
    from altsa.data.readers import read_corpus

    path = tmp_path / "talk.jsonl"
    path.write_text('{"dialogue_id": "d", "utterances": [{"speaker": "A", "text": "bad \\ud800 one"}]}\n',
                    encoding="utf-8")
    corpus = read_corpus(path)
    assert [u.text for u in corpus.utterances()] == ["bad \ufffd one"]
    assert corpus.repairs == {"surrogate": 1}
