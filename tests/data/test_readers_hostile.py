"""Hostile input to the readers: media paths no file can have, JSON objects that say one
thing twice, CSV headers that name a column twice, inputs that are not regular files, a
first line of megabytes. Each is a counted per-row problem or a one-line file-level error,
never a traceback or a hang."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from altsa.cli.main import main
from altsa.data.config import AUTO, DataConfig, read_file
from altsa.data.media import MediaConfig, decode_audio
from altsa.data.readers import ColumnMapping, detect_format, parse_conversation, read_corpus
from altsa.errors import DataError

LONG = "a" * 5000 + ".wav"  # longer than any file name the system takes (NAME_MAX 255, PATH_MAX 4096)


def _inspect(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["data", "inspect", *args])
    out, err = capsys.readouterr()
    return rc, out, err


# 1. media paths that cannot name a file ------------------------------------------------------


@pytest.mark.parametrize("name", ["a\x00b.wav", "/abs/a\x00b.wav", LONG, "sub/" + LONG], ids=["nul", "nul-abs", "long", "long-sub"])
@pytest.mark.parametrize("key", ["media", "audio", "video"])
def test_jsonl_unusable_media_path_is_a_missing_clip(write_file, name: str, key: str) -> None:
    lines = [
        {"dialogue_id": "s", "utterances": [{"text": "hi", key: name}, {"text": "there"}]},
        {"dialogue_id": "t", "utterances": [{"text": "next line"}]},
    ]
    path = write_file("n.jsonl", "".join(json.dumps(o) + "\n" for o in lines))
    for strict in (False, True):  # a missing clip is not a row problem in either mode
        corpus = read_corpus(path, strict=strict)
        assert corpus.num_utterances == 3 and corpus.problems == []
        assert corpus.missing_media == ["s/0"]
        assert corpus.counts()["read"] == 3
        utt = corpus.conversations[0].utterances[0]
        assert getattr(utt, key) is not None and os.path.isabs(getattr(utt, key))


@pytest.mark.parametrize("name", ["a\x00b.wav", LONG], ids=["nul", "long"])
def test_csv_unusable_media_path_is_a_missing_clip(write_file, name: str) -> None:
    path = write_file("n.csv", f"dialogue_id,text,label,media\nd1,hi,joy,{name}\nd2,yo,anger,\n")
    corpus = read_corpus(path, format="csv")
    assert corpus.num_utterances == 2 and corpus.problems == [] and corpus.missing_media == ["d1/0"]
    corpus = read_corpus(path, mapping=ColumnMapping(media="media"), clips=path.parent)
    assert corpus.missing_media == ["d1/0"]


def test_media_symlink_loop_is_a_missing_clip(write_file, tmp_path: Path) -> None:
    (tmp_path / "loop.wav").symlink_to("loop.wav")
    path = write_file("n.jsonl", json.dumps({"dialogue_id": "s", "utterances": [{"text": "hi", "audio": "loop.wav"}]}) + "\n")
    corpus = read_corpus(path)
    assert corpus.num_utterances == 1 and corpus.missing_media == ["s/0"]
    absent = decode_audio(corpus.conversations[0].utterances[0].audio, MediaConfig())
    assert absent.reason == "unreadable"


@pytest.mark.parametrize("name", ["a\x00b.wav", LONG], ids=["nul", "long"])
def test_decoding_an_unusable_path_is_an_absent_clip(tmp_path: Path, name: str) -> None:
    absent = decode_audio(str(tmp_path / name), MediaConfig())
    assert absent.reason == "missing_file"
    assert "\x00" not in absent.detail and len(absent.detail) < 400


def test_decoding_a_pipe_is_unreadable_not_a_hang(tmp_path: Path) -> None:
    with _fifo(tmp_path / "fifo.wav") as fifo:
        absent = decode_audio(str(fifo), MediaConfig())
    assert absent.reason == "unreadable" and "not a regular file" in absent.detail


@pytest.mark.parametrize("fmt", [[], ["--format", "csv"]], ids=["jsonl", "csv"])
def test_inspect_unusable_media_path_reports_no_traceback(capsys, write_file, fmt: list[str]) -> None:
    if fmt:
        path = write_file("n.csv", f"dialogue_id,text,label,media\nd1,hi,joy,a\x00b.wav\nd2,x,joy,{LONG}\nd3,y,joy,\n")
    else:
        lines = [{"dialogue_id": "s", "utterances": [{"text": "hi", "audio": "a\x00b.wav"}, {"text": "x", "audio": LONG}]},
                 {"dialogue_id": "t", "utterances": [{"text": "y"}]}]
        path = write_file("n.jsonl", "".join(json.dumps(o) + "\n" for o in lines))
    rc, out, err = _inspect(capsys, str(path), "--json", *fmt)
    assert rc == 0 and err == ""
    summary = json.loads(out)
    assert summary["utterances"] == 3 and len(summary["missing_media"]) == 2 and summary["rows"]["skipped"] == 0


# 2. JSONL: a label given twice, a key named twice ---------------------------------------------


def test_jsonl_conflicting_label_is_reported(write_file) -> None:
    lines = [
        {"dialogue_id": "d", "utterances": [
            {"text": "hi", "emotion": "joy", "labels": {"emotion": "anger"}},
            {"text": "same", "emotion": "Joy", "labels": {"emotion": "joy"}},  # the same label twice is fine
            {"text": "other task", "sentiment": "positive", "labels": {"emotion": "joy"}},
        ]},
    ]
    path = write_file("c.jsonl", "".join(json.dumps(o) + "\n" for o in lines))
    corpus = read_corpus(path)
    assert corpus.num_utterances == 2
    assert corpus.counts()["skipped_by_reason"] == {"conflicting_label": 1}
    (problem,) = corpus.problems
    assert problem.line == 1 and "'emotion' is 'joy' but 'labels.emotion' is 'anger'" in problem.message
    assert [u.labels for u in corpus.utterances()] == [{"emotion": "joy"}, {"sentiment": "positive", "emotion": "joy"}]
    with pytest.raises(DataError, match=r"utterance 0: 'emotion' is 'joy' but 'labels.emotion' is 'anger'") as info:
        read_corpus(path, strict=True)
    assert str(info.value).startswith(f"{path}:1: ")
    with pytest.raises(DataError, match="'labels.emotion' is 'anger'"):  # requests too
        parse_conversation(lines[0])


DUPLICATES = [
    # (line, key named in the problem, rows skipped)
    ('{"dialogue_id":"d","dialogue_id":"e","utterances":[{"text":"a"},{"text":"b"}]}', "'dialogue_id'", 2),
    ('{"dialogue_id":"f","utterances":[{"text":"a"}],"utterances":[{"text":"b"},{"text":"c"}]}', "'utterances'", 2),
    ('{"dialogue_id":"g","utterances":[{"text":"a","text":"b"},{"text":"kept"}]}', "utterance 0: duplicate key 'text'", 1),
    ('{"dialogue_id":"h","utterances":[{"text":"a","labels":{"emotion":"joy","emotion":"sadness"}}]}', "'labels.emotion'", 1),
    ('{"dialogue_id":"i","utterances":[{"text":"a","meta":{"x":{"y":1,"y":2}}}]}', "'meta.x.y'", 1),
    ('{"dialogue_id":"j","utterances":[{"text":"a","emotion":"joy","emotion":"anger"}]}', "'emotion'", 1),
]


@pytest.mark.parametrize(("line", "key", "rows"), DUPLICATES, ids=[d[1] for d in DUPLICATES])
def test_jsonl_duplicate_key_is_reported(write_file, line: str, key: str, rows: int) -> None:
    good = '{"dialogue_id":"ok","utterances":[{"text":"fine"}]}\n'
    path = write_file("d.jsonl", good + line + "\n" + good.replace('"ok"', '"ok2"'))
    corpus = read_corpus(path)
    counts = corpus.counts()
    assert counts["skipped_by_reason"] == {"duplicate_key": rows}
    assert counts["read"] == counts["kept"] + counts["skipped"]
    assert {"ok", "ok2"} <= {c.dialogue_id for c in corpus.conversations}
    (problem,) = corpus.problems
    assert problem.line == 2 and problem.reason == "duplicate_key" and key in problem.message
    with pytest.raises(DataError, match="duplicate key") as info:
        read_corpus(path, strict=True)
    assert info.value.line == 2 and key in str(info.value) and str(info.value).startswith(f"{path}:2: ")


def test_jsonl_duplicate_key_deep_in_meta(write_file) -> None:
    deep = '{"b":1,"b":2}'
    for _ in range(900):  # as deep as json.loads goes from here; the search must not recurse
        deep = '{"a":' + deep + "}"
    path = write_file("deep.jsonl", '{"dialogue_id":"d","utterances":[{"text":"x","meta":%s},{"text":"y"}]}\n' % deep)
    corpus = read_corpus(path)
    assert corpus.num_utterances == 1 and corpus.counts()["skipped_by_reason"] == {"duplicate_key": 1}
    assert len(corpus.problems[0].message) < 300


def test_jsonl_duplicate_keys_outside_the_format_are_only_ignored(write_file) -> None:
    path = write_file("d.jsonl", '{"dialogue_id":"d","x":1,"x":2,"utterances":[{"text":"a","junk":1,"junk":{"k":1,"k":2}}]}\n')
    corpus = read_corpus(path, strict=True)
    assert corpus.num_utterances == 1 and corpus.problems == []
    assert corpus.ignored_keys == {"conversation.x": 1, "junk": 1}


# 3. CSV: a header naming a column twice -------------------------------------------------------


def test_csv_duplicate_header_is_fatal(write_file) -> None:
    path = write_file("dup.csv", "dialogue_id,text,text,label\nd1,first,second,joy\n")
    for strict in (False, True):
        with pytest.raises(DataError, match=r"duplicate column name in the header: 'text' \(columns 2, 3\)") as info:
            read_corpus(path, format="csv", strict=strict)
        assert info.value.line == 1 and str(info.value).startswith(f"{path}:1: ")
    # a duplicated column no role reads would land in meta, one of the two lost
    path = write_file("dup2.csv", "dialogue_id,text,note,label,note\nd1,hi,a,joy,b\n")
    with pytest.raises(DataError, match=r"'note' \(columns 3, 5\)"):
        read_corpus(path, format="csv")
    # unnamed columns are never read: they may repeat
    path = write_file("blank.csv", "dialogue_id,text,label,,\nd1,hi,joy,,\n")
    assert read_corpus(path, format="csv").num_utterances == 1


def test_csv_case_variant_columns_are_ambiguous(write_file) -> None:
    path = write_file("amb.csv", "dialogue_id,Text,TEXT,label\nd1,first,second,joy\n")
    with pytest.raises(DataError, match=r"'text' \(text\) matches 'Text', 'TEXT'"):
        read_corpus(path, format="csv")
    path = write_file("exact.csv", "dialogue_id,text,TEXT,label\nd1,first,second,joy\n")  # an exact name decides
    corpus = read_corpus(path, format="csv")
    assert corpus.conversations[0].utterances[0].text == "first"
    assert corpus.conversations[0].utterances[0].meta == {"TEXT": "second"}


def test_meld_duplicate_header_is_fatal(write_file) -> None:
    header = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime,Emotion\n"
    path = write_file("dev_sent_emo.csv", header + "1,Hi,Ann,joy,positive,0,0,1,1,a,b,anger\n")
    with pytest.raises(DataError, match=r"'Emotion' \(columns 4, 12\)"):
        read_corpus(path, format="meld")


# 4. inputs that are not regular files ----------------------------------------------------------


@contextlib.contextmanager
def _fifo(path: Path) -> Iterator[Path]:
    """A named pipe that a reader can never hang on: should anything open it for reading, a
    writer opens and closes it at once (the reader sees end of file), so a regression fails
    the test instead of blocking the suite."""
    os.mkfifo(path)
    stop = threading.Event()

    def unblock() -> None:
        while not stop.wait(0.2):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as exc:  # ENXIO: no reader has it open (the expected case)
                if exc.errno != errno.ENXIO:
                    return

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("name", ["fifo.wav", "fifo.csv", "fifo.jsonl"])
def test_pipe_input_is_an_error_not_a_hang(tmp_path: Path, name: str) -> None:
    with _fifo(tmp_path / name) as fifo:
        for fmt in (None, "csv", "meld", "jsonl", "clips"):
            with pytest.raises(DataError, match="not a file") as info:
                read_corpus(fifo, format=fmt)
            assert str(info.value) == f"{fifo}: not a file"
        if fifo.suffix == ".jsonl":
            assert detect_format(fifo) == "jsonl"  # by name alone, as for a missing file
        else:
            with pytest.raises(DataError, match="not a file"):
                detect_format(fifo)


def test_inspect_pipe_exits_with_one_line(tmp_path: Path, altsa_script: str) -> None:
    with _fifo(tmp_path / "fifo.wav") as fifo:
        for extra in ([], ["--format", "csv"]):
            proc = subprocess.run([altsa_script, "data", "inspect", str(fifo), "--json", *extra], capture_output=True,
                                  text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            assert proc.returncode == 2 and proc.stderr == f"error: {fifo}: not a file\n" and proc.stdout == ""


def test_empty_path_is_an_error(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.wav").write_bytes(b"")  # the current folder would read as a folder of clips
    for call in (lambda: read_corpus(""), lambda: detect_format(""),
                 lambda: read_file("", DataConfig(corpus=AUTO)), lambda: read_file("", DataConfig(corpus="clips"))):
        with pytest.raises(DataError, match="empty path"):
            call()
    rc, out, err = _inspect(capsys, "")
    assert rc == 2 and out == "" and err.startswith("error: empty path") and err.count("\n") == 1
    # a folder is still a folder of clips
    assert read_corpus(tmp_path).num_utterances == 1


# 5. a header of megabytes is not echoed --------------------------------------------------------


def test_missing_columns_message_caps_the_header(write_file) -> None:
    path = write_file("big.csv", "x" * 100_000 + "\ny\n")
    with pytest.raises(DataError, match=r"the file has 1 column: x{200}\.\.\. \(100,000 characters\)$") as info:
        read_corpus(path, format="csv")
    assert len(str(info.value)) < 1000
    wide = write_file("wide.csv", ",".join(f"{'c' * 50}{i}" for i in range(30)) + "\n1\n")
    with pytest.raises(DataError, match=r"the file has 30 columns: c{50}0, .*\.\.\. \(") as info:
        read_corpus(wide, format="csv")
    assert len(str(info.value)) < 1000
    with pytest.raises(DataError, match=r"the file has 1 column: x{200}\.\.\. \(100,000 characters\)$"):
        read_corpus(path, format="csv", mapping=ColumnMapping(dialogue="conv"))


@pytest.mark.parametrize("head, kind", [
    (b"RIFF\x24\x08\x00\x00WAVEfmt ", "WAVE audio"),
    (b"\x00\x00\x00\x20ftypisom\x00\x00", "an MP4/MOV file"),
    (b"\x1aE\xdf\xa3\x9fB\x86\x81", "Matroska/WebM media"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "MP3 audio"),
])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "meld", "emorynlp"])
def test_media_under_a_corpus_name_says_what_it_is(tmp_path, head, kind, fmt):
    """A clip whose name has no media extension was read as a corpus and failed as 'not UTF-8
    (byte 0xac at offset 4)', which says nothing about what to do."""
    from altsa.data.readers import read_corpus

    path = tmp_path / "clip.xyz"
    path.write_bytes(head + bytes(range(128, 256)) * 4)
    with pytest.raises(DataError, match=f"this is {kind}, not a corpus file; .* --format clips"):
        read_corpus(path, format=fmt)


def test_a_huge_bad_value_is_quoted_short(tmp_path):
    """Per-row messages quote the value they refuse, cut to a few hundred characters (a
    100,000-character order cell was echoed whole into the one-line error)."""
    from altsa.data.readers import read_corpus

    path = tmp_path / "dev_sent_emo.csv"
    path.write_text("Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,"
                    "EndTime\n1,hi,Joey,joy,positive,0," + "x" * 100_000 + ",1,1,00:00:01,00:00:02\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_corpus(path, format="meld", strict=True)
    assert "Utterance_ID must be an integer" in str(err.value) and len(str(err.value)) < 600
    jl = tmp_path / "talk.jsonl"
    jl.write_text(json.dumps({"dialogue_id": "d", "utterances": [{"text": "hi", "position": "y" * 100_000}]}) + "\n")
    with pytest.raises(DataError) as err:
        read_corpus(jl, format="jsonl", strict=True)
    assert "'position' must be an integer" in str(err.value) and len(str(err.value)) < 600


def test_a_long_csv_field_reads_as_a_long_jsonl_text_does(tmp_path):
    """csv's default 128 KiB cap per field skipped a long transcript as malformed_row; the
    JSONL reader takes the same text."""
    from altsa.data.readers import read_corpus

    text = "word " * 60_000  # 300,000 characters
    path = tmp_path / "long.csv"
    path.write_text(f'dialogue_id,text,label\nd1,"{text}",joy\nd1,short,anger\n', encoding="utf-8")
    corpus = read_corpus(path, format="csv", strict=True)
    assert [len(u.text) for u in corpus.conversations[0].utterances] == [len(text.strip()), 5]
