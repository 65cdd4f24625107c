"""JSONL conversations: schema, errors, and round trips CSV -> JSONL -> conversations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from altsa.data.readers import ColumnMapping, parse_conversation, parse_labels, read_corpus, write_jsonl
from altsa.data.schema import EMORYNLP_EMOTION, MELD_EMOTION, MELD_SENTIMENT
from altsa.errors import DataError

EMORY = (
    "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
    "Where is it?,['Ann Lee'],Scared,5,1,2,1,00:00:01.000,00:00:02.000\n"
    "Right here.,\"['Bo Park', 'Ann Lee']\",Peaceful,5,2,2,1,00:00:03.000,00:00:04.000\n"
    "  Great â€™news ,['Bo Park'],joyful,6,0,2,1,00:01:00.000,00:01:01.000\n"
)


def test_round_trip_meld(meld_dir: Path, tmp_path: Path) -> None:
    corpus = read_corpus(meld_dir / "dev_sent_emo.csv")
    out = write_jsonl(corpus, tmp_path / "dev.jsonl")
    again = read_corpus(out)
    assert again.conversations == corpus.conversations
    assert again.label_sets == {"emotion": MELD_EMOTION, "sentiment": MELD_SENTIMENT}
    assert again.repaired_rows == 0  # already repaired text stays as it is
    assert len(out.read_text(encoding="utf-8").splitlines()) == 114


def test_round_trip_emorynlp_with_clips(write_file, tmp_path: Path) -> None:
    path = write_file("emory.csv", EMORY)
    corpus = read_corpus(path, format="emorynlp")
    assert corpus.conversations[1].utterances[0].text == "Great ’news"
    assert corpus.repaired_rows == 1
    write_jsonl(corpus.conversations, tmp_path / "sub" / "e.jsonl")
    again = read_corpus(tmp_path / "sub" / "e.jsonl")
    assert again.conversations == corpus.conversations
    assert again.label_sets == {"emotion": EMORYNLP_EMOTION}

    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "1.mp4").write_bytes(b"")
    media_csv = write_file(
        "m.csv", "dialogue_id,position,speaker,text,emotion,clip\nd,0,A,Hi,joy,clips/1.mp4\nd,1,B,Yo,fear,clips/2.mp4\n"
    )
    mapped = read_corpus(media_csv, mapping=ColumnMapping(order="position", label="emotion", media="clip"))
    write_jsonl(mapped, tmp_path / "m.jsonl")
    again = read_corpus(tmp_path / "m.jsonl")
    assert again.conversations == mapped.conversations
    assert again.missing_media == mapped.missing_media == ["d/1"]


def test_schema_variants(write_file, tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    lines = [
        {"dialogue_id": "x", "utterances": [
            {"speaker": "Ann", "text": "Hi!", "emotion": "Joy"},
            {"speaker": "Bob", "text": "Hey.", "labels": {"emotion": "neutral", "sentiment": "neutral"},
             "audio": "a.wav", "video": "/abs/v.mp4"},
        ]},
        {"dialogue_id": 7, "utterances": [{"speaker": "Cy", "text": "Yo", "position": 4, "meta": {"n": 1}}]},
        {"utterances": [{"text": "no id, no speaker"}]},
    ]
    path = write_file("conv.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    corpus = read_corpus(path)
    assert [c.dialogue_id for c in corpus.conversations] == ["x", "7", "3"]  # missing id: the line number
    a, b = corpus.conversations[0].utterances
    assert a.labels == {"emotion": "joy"} and a.position == 0 and b.position == 1
    assert b.audio == str((tmp_path / "a.wav").resolve()) and b.video == "/abs/v.mp4"
    assert corpus.missing_media == ["x/1"]  # /abs/v.mp4 is not there
    assert corpus.conversations[1].utterances[0].meta == {"n": "1"}
    assert corpus.conversations[2].utterances[0].speaker == ""
    assert corpus.label_sets["emotion"] is MELD_EMOTION
    assert corpus.label_sets["sentiment"] is MELD_SENTIMENT


JSONL_ERRORS = [
    ("{not json", r"invalid JSON"),
    ("[1, 2]", r"expected a JSON object"),
    ('{"dialogue_id": "b", "utterances": []}', r"'utterances' must be a non-empty list"),
    ('{"dialogue_id": "a", "utterances": [{"speaker": "X", "text": "dup id"}]}', r"duplicate dialogue_id 'a'"),
    ('{"dialogue_id": "b", "utterances": [{"speaker": "X", "text": " "}]}', r"utterance 0: empty text"),
    ('{"dialogue_id": "b", "utterances": [{"speaker": "X", "text": "t", "emotion": "grumpy"}]}', r"unknown label 'grumpy'"),
    ('{"dialogue_id": "b", "utterances": [{"text": "t", "position": 0}, {"text": "u", "position": 0}]}',
     r"duplicate utterance: dialogue 'b' position 0"),
    ('{"dialogue_id": "b", "utterances": [{"text": "t", "position": "one"}]}', r"'position' must be an integer"),
    ('{"dialogue_id": "b", "utterances": [{"text": 3}]}', r"'text' must be a string, not int"),
    ('{"dialogue_id": "b", "utterances": [{"speaker": "X"}]}', r"utterance 0: empty text and no media"),
]


@pytest.mark.parametrize(("line", "pattern"), JSONL_ERRORS)
def test_jsonl_errors(write_file, line: str, pattern: str) -> None:
    good = json.dumps({"dialogue_id": "a", "utterances": [{"speaker": "A", "text": "fine", "emotion": "joy"}]})
    path = write_file("c.jsonl", good + "\n" + line + "\n")
    with pytest.raises(DataError, match=pattern) as info:
        read_corpus(path, strict=True, label_set=MELD_EMOTION)
    assert info.value.line == 2 and "\n" not in str(info.value)
    corpus = read_corpus(path, label_set=MELD_EMOTION)
    assert corpus.conversations[0].utterances[0].text == "fine"
    assert [p.line for p in corpus.problems] == [2]


def test_non_utf8_jsonl(write_file) -> None:
    path = write_file("c.jsonl", b'{"utterances": [{"text": "ok"}]}\n{"utterances": [{"text": "caf\xe9"}]}\n')
    with pytest.raises(DataError, match="not UTF-8") as info:
        read_corpus(path)
    assert info.value.line == 2


def test_parse_conversation() -> None:
    conv = parse_conversation(
        {"dialogue_id": "r", "utterances": [{"speaker": "A", "text": "Hi"}, {"speaker": "B", "text": "CafÃ©?"}]}
    )
    assert [(u.speaker_tag, u.text) for u in conv] == [("s1", "Hi"), ("s2", "Café?")]
    with pytest.raises(DataError, match=r"^utterance 1: empty text and no media"):
        parse_conversation({"utterances": [{"text": "a"}, {"text": ""}]})
    with pytest.raises(DataError, match="unknown label"):
        parse_conversation({"utterances": [{"text": "a", "emotion": "x"}]}, label_sets={"emotion": MELD_EMOTION})
    with pytest.raises(DataError, match="expected a JSON object"):
        parse_conversation([])
    assert parse_labels("meld-emotion") is MELD_EMOTION


def test_utterances_without_text(write_file, tmp_path: Path) -> None:
    line = json.dumps({"dialogue_id": "d", "utterances": [
        {"speaker": "A", "audio": "a.wav", "emotion": "joy"},
        {"speaker": "B", "text": None, "media": "b.mp4"},
        {"speaker": "C", "text": "", "video": "c.mp4"},
        {"speaker": "D", "text": "words"},
    ]})
    path = write_file("t.jsonl", line + "\n")
    corpus = read_corpus(path)
    assert [u.text for u in corpus.utterances()] == ["", "", "", "words"]
    assert not corpus.conversations[0].utterances[0].has_text
    assert parse_conversation(json.loads(line)).utterances[1].media == str((Path(".") / "b.mp4").resolve())
