"""Utterance spans in corpus files: JSONL ``start``/``end``, CSV start/end columns (by
convention or mapped), bad spans skipped with a reason, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from altsa.cli.main import main
from altsa.data.config import ColumnsConfig, DataConfig, read_file
from altsa.data.readers import ColumnMapping, parse_conversation, read_corpus, write_jsonl
from altsa.data.schema import parse_seconds
from altsa.errors import DataError


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(12, 12.0), (1.25, 1.25), ("6.2901", 6.2901), ("1:02.5", 62.5), ("00:01:02,500", 62.5), ("1:00:00", 3600.0),
     ("", None), (None, None)],
)
def test_parse_seconds(raw, seconds) -> None:
    assert parse_seconds(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "1::2", "1:2:3:4", True, [1.0], "1:-2"])
def test_parse_seconds_rejects_what_is_not_a_time(raw) -> None:
    with pytest.raises(ValueError):
        parse_seconds(raw)


def jsonl(*conversations: dict) -> str:
    return "".join(json.dumps(c) + "\n" for c in conversations)


def test_jsonl_spans_round_trip(write_file, tmp_path: Path) -> None:
    path = write_file("session.jsonl", jsonl({"dialogue_id": "Ses01F", "utterances": [
        {"speaker": "F", "text": "Hi.", "media": "Ses01F.wav", "start": 6.2901, "end": 8.2357},
        {"speaker": "M", "text": "Hello.", "media": "Ses01F.wav", "start": "0:09.5", "end": "0:11"},
        {"speaker": "F", "text": "Bye.", "audio": "Ses01F.wav", "start": 12.0},  # to the end of the file
        {"speaker": "M", "text": "Times only.", "start": 20.0, "end": 21.0},  # no media: times for the timeline
        {"speaker": "F", "text": "Whole clip.", "media": "other.wav"},
    ]}))
    corpus = read_corpus(path, strict=True)
    utts = corpus.conversations[0].utterances
    assert [u.span for u in utts] == [(6.2901, 8.2357), (9.5, 11.0), (12.0, None), (20.0, 21.0), None]
    assert utts[0].media == str(tmp_path / "Ses01F.wav")
    out = write_jsonl(corpus, tmp_path / "back" / "session.jsonl")
    assert read_corpus(out).conversations == corpus.conversations
    written = json.loads(out.read_text(encoding="utf-8"))["utterances"]
    assert (written[1]["start"], written[1]["end"]) == (9.5, 11.0) and "end" not in written[2]
    assert "start" not in written[4]


BAD_SPANS = [
    ({"start": 3.0, "end": 2.0}, "end 2 s is not after start 3 s"),
    ({"start": 2.0, "end": 2.0}, "not after start"),
    ({"start": -1.0, "end": 2.0}, "start -1 s is negative"),
    ({"start": "soon", "end": 2.0}, "start 'soon' is not a time in seconds"),
    ({"start": True, "end": 2.0}, "not a time in seconds"),
    ({"start": 1.0, "end": "NaN"}, "not a finite time"),
]


def test_jsonl_bad_spans_are_skipped_with_a_reason_or_raise_in_strict_mode(write_file) -> None:
    utts = [{"speaker": "A", "text": "fine", "media": "a.wav", "start": 0.0, "end": 1.0}]
    utts += [{"speaker": "A", "text": f"bad {i}", "media": "a.wav", **span} for i, (span, _) in enumerate(BAD_SPANS)]
    path = write_file("bad.jsonl", jsonl({"dialogue_id": "d", "utterances": utts}))
    corpus = read_corpus(path)
    assert corpus.counts() == {"read": 7, "kept": 1, "skipped": 6, "skipped_by_reason": {"bad_span": 6}}
    for problem, (_, message) in zip(corpus.problems, BAD_SPANS):
        assert problem.line == 1 and message in problem.message and "\n" not in problem.message
    with pytest.raises(DataError, match=r"bad\.jsonl:1: utterance 1: span: end 2 s is not after start 3 s"):
        read_corpus(path, strict=True)
    with pytest.raises(DataError, match="utterance 0: span: start -1 s is negative"):
        parse_conversation({"utterances": [{"text": "x", "media": "a.wav", "start": -1, "end": 1}]})


SESSION = (
    "dialog,turn,speaker,transcript,emotion,wav,start,end\n"
    "Ses01F_impro01,0,F,Excuse me.,neu,Ses01F.wav,6.2901,8.2357\n"
    "Ses01F_impro01,1,M,Do you have your forms?,neu,Ses01F.wav,10.01,11.3925\n"
    "Ses01F_impro01,2,F,Yeah.,ang,Ses01F.wav,14.8872,\n"
    "Ses01F_impro02,0,M,What?,sad,Ses01F.wav,11.5,11.2\n"
)


def test_csv_start_and_end_columns_by_convention_and_by_mapping(write_file, tmp_path: Path) -> None:
    path = write_file("Session1.csv", SESSION)
    corpus = read_corpus(path, mapping=ColumnMapping(dialogue="dialog", order="turn", text="transcript",
                                                     label="emotion", audio="wav"))
    utts = list(corpus.utterances())
    assert [u.span for u in utts] == [(6.2901, 8.2357), (10.01, 11.3925), (14.8872, None)]
    assert all(u.audio == str(tmp_path / "Ses01F.wav") and "start" not in u.meta for u in utts)
    assert corpus.counts()["skipped_by_reason"] == {"bad_span": 1}
    assert "end 11.2 s is not after start 11.5 s" in corpus.problems[0].message and corpus.problems[0].line == 5
    assert (corpus.columns["start"], corpus.columns["end"]) == ("start", "end")

    # other column names: the data config's columns (the CLI's --start-col / --end-col)
    renamed = write_file("renamed.csv", SESSION.replace("start,end", "t0,t1", 1))
    data = DataConfig(corpus="csv", columns=ColumnsConfig(dialogue="dialog", order="turn", text="transcript",
                                                          label="emotion", audio="wav", start="t0", end="t1"))
    again = read_file(renamed, data)
    assert [u.span for u in again.utterances()] == [u.span for u in utts]
    assert again.columns["start"] == "t0"
    unmapped = read_file(renamed, DataConfig(corpus="csv", columns=ColumnsConfig(
        dialogue="dialog", order="turn", text="transcript", label="emotion", audio="wav")))
    assert all(u.span is None and "t0" in u.meta for u in unmapped.utterances())


def test_data_inspect_counts_spans_and_takes_the_column_options(write_file, capsys) -> None:
    path = write_file("renamed.csv", SESSION.replace("start,end", "t0,t1", 1))
    code = main(["data", "inspect", str(path), "--dialogue-col", "dialog", "--order-col", "turn", "--text-col",
                 "transcript", "--label-col", "emotion", "--audio-col", "wav", "--start-col", "t0", "--end-col", "t1",
                 "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (out["with_span"], out["with_media"], out["columns"]["start"], out["columns"]["end"]) == (3, 3, "t0", "t1")
    assert out["rows"]["skipped_by_reason"] == {"bad_span": 1}
