"""Every error class: a one-line DataError with file and line (strict), or a reported and
skipped row (default); file-level errors are fatal in both modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from altsa.data.readers import ColumnMapping, parse_labels, read_corpus, write_jsonl
from altsa.data.schema import Conversation, Utterance
from altsa.errors import DataError

MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
GOOD1 = '1,"Hello, you.",Ann,joy,positive,0,0,1,1,"00:00:01,000","00:00:02,000"\n'
GOOD2 = '2,Hi.,Bob,neutral,neutral,0,1,1,1,"00:00:03,000","00:00:04,000"\n'
GOOD3 = '3,"Bye.",Ann,sadness,negative,1,0,1,1,"00:00:05,000","00:00:06,000"\n'

# (name, bad row placed on physical line 3 after GOOD1, message pattern)
ROW_ERRORS = [
    ("unknown label", '9,"Whatever.",Bob,happy,positive,0,2,1,1,a,b\n', r"unknown label 'happy' for meld-emotion"),
    ("empty text", '9,"   ",Bob,joy,positive,0,2,1,1,a,b\n', r"empty text"),
    ("duplicate", '9,"Again.",Bob,joy,positive,0,0,1,1,a,b\n', r"duplicate utterance: dialogue '0' position 0 \(first at line 2\)"),
    ("bad order", '9,"Odd.",Bob,joy,positive,0,x,1,1,a,b\n', r"Utterance_ID must be an integer, got 'x'"),
    ("field count", '9,"Short.",Bob,joy\n', r"row has 4 fields, the header has 11"),
    ("bad quoting", '9,"Broken" quote,Bob,joy,positive,0,2,1,1,a,b\n', r"malformed CSV row"),
]


def _one_line(err: DataError) -> str:
    text = str(err)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(("name", "row", "pattern"), ROW_ERRORS, ids=[e[0] for e in ROW_ERRORS])
def test_meld_row_errors(write_file, name: str, row: str, pattern: str) -> None:
    path = write_file("dev_sent_emo.csv", MELD_HEADER + GOOD1 + row + GOOD2 + GOOD3)
    with pytest.raises(DataError, match=pattern) as info:
        read_corpus(path, strict=True)
    assert info.value.path == str(path) and info.value.line == 3
    assert _one_line(info.value).startswith(f"{path}:3: ")

    corpus = read_corpus(path)  # default: skip the row and report it
    assert corpus.num_utterances == 3
    assert [(p.path, p.line) for p in corpus.problems] == [(str(path), 3)]
    assert str(corpus.problems[0]).startswith(f"{path}:3: ")


def test_line_numbers_are_physical_lines(write_file) -> None:
    """A quoted field spanning lines shifts the following rows' line numbers."""
    multi = '1,"Line one\nline two\nline three",Ann,joy,positive,0,0,1,1,a,b\n'
    bad = '2,"Oops.",Bob,hapy,positive,0,1,1,1,a,b\n'
    path = write_file("dev_sent_emo.csv", MELD_HEADER + multi + "\n" + bad)
    with pytest.raises(DataError) as info:
        read_corpus(path, strict=True)
    assert info.value.line == 6
    corpus = read_corpus(path)
    assert corpus.conversations[0].utterances[0].text == "Line one line two line three"
    assert corpus.problems[0].line == 6


def test_missing_required_column_is_fatal_in_both_modes(write_file) -> None:
    header = MELD_HEADER.replace("Emotion,", "")
    path = write_file("dev_sent_emo.csv", header + GOOD1)
    for strict in (True, False):
        with pytest.raises(DataError, match=r"missing required column 'Emotion'") as info:
            read_corpus(path, format="meld", strict=strict)
        assert info.value.line == 1 and _one_line(info.value).startswith(f"{path}:1: ")
    csv_path = write_file("mine.csv", "conv,who,words\n1,Ann,Hi\n")
    with pytest.raises(DataError, match=r"missing required column 'text' \(text; or name a media.*\); the file has 3 columns: conv, who, words"):
        read_corpus(csv_path, mapping=ColumnMapping(dialogue="conv", speaker="who"))


def test_non_utf8_is_fatal_with_the_line(write_file) -> None:
    data = (MELD_HEADER + GOOD1).encode() + '2,"Caf\xe9.",Bob,joy,positive,0,1,1,1,a,b\n'.encode("cp1252")
    path = write_file("dev_sent_emo.csv", data)
    for strict in (True, False):
        with pytest.raises(DataError, match=r"not UTF-8 \(byte 0xe9") as info:
            read_corpus(path, strict=strict)
        assert info.value.line == 3


def test_unreadable_files_are_fatal(tmp_path: Path) -> None:
    for fmt in (None, "meld", "csv", "jsonl"):
        with pytest.raises(DataError, match="file not found") as info:
            read_corpus(tmp_path / "absent.csv", format=fmt)
        assert info.value.path == str(tmp_path / "absent.csv")
        # a folder is a folder of clips unless a file format is named
        with pytest.raises(DataError, match="is a directory" if fmt else "no media files in this folder"):
            read_corpus(tmp_path, format=fmt)
    if os.geteuid() != 0:  # root reads a mode-000 file anyway
        locked = tmp_path / "locked.csv"
        locked.write_text(MELD_HEADER)
        locked.chmod(0)
        with pytest.raises(DataError, match="cannot read file"):
            read_corpus(locked, format="meld")


def test_empty_file_and_bom(write_file) -> None:
    with pytest.raises(DataError, match="empty file"):
        read_corpus(write_file("dev.csv", ""), format="meld")
    bom = write_file("dev_sent_emo.csv", "\ufeff" + MELD_HEADER + GOOD1)
    assert read_corpus(bom).num_utterances == 1


def test_generic_csv_row_errors(write_file) -> None:
    path = write_file(
        "mine.csv",
        "conv,who,line,feel\n"
        "a,Ann,Hello,happy\n"
        ",Bob,No dialogue,happy\n"  # line 3: empty dialogue id
        "a,Bob,,happy\n"  # line 4: empty text
        "a,Bob,No label,\n"  # line 5: empty label
        "a,Bob,Odd label,grumpy\n",  # line 6: unknown label (set given)
    )
    mapping = ColumnMapping(dialogue="conv", speaker="who", text="line", label="feel")
    corpus = read_corpus(path, mapping=mapping, label_set=parse_labels("happy,sad"))
    assert [p.line for p in corpus.problems] == [3, 4, 5, 6]
    assert [p.message.split(" (")[0] for p in corpus.problems] == [
        "empty dialogue id", "empty text", "empty label", "unknown label 'grumpy' for custom"
    ]
    with pytest.raises(DataError, match="empty dialogue id") as info:
        read_corpus(path, mapping=mapping, strict=True)
    assert info.value.line == 3


def test_write_jsonl_is_atomic(tmp_path: Path) -> None:
    """A conversation that cannot be written leaves the previous file intact and no
    temporary file behind (write_jsonl serialises everything, then replaces atomically)."""
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    bad = Conversation("d", [Utterance("d", 0, "Ann", "Hi", meta={"x": object()})])  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        write_jsonl([bad], out)
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
