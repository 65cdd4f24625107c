"""The data section of a config: how a file given to evaluate/predict is read (the run's way
unless the file says what it is), label sets with aliases, a split of several files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from altsa.data.config import ColumnsConfig, DataConfig, DataOptions, for_input, label_set, read_split
from altsa.errors import ConfigError, DataError

EMORY = "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode\nHi,['A'],Joyful,1,1,1,1\n"


def test_a_file_is_read_the_runs_way_unless_it_says_what_it_is(write_file, tmp_path: Path) -> None:
    clips_run = DataConfig(corpus="csv", columns=ColumnsConfig(dialogue="file", text="none", audio="file"),
                           labels=["a", "b"], label_aliases={"x": "a"})
    plain = write_file("new.csv", "file,emotion\nc.wav,a\n")
    got = for_input(plain, clips_run, DataOptions())
    assert (got.corpus, got.columns.text, got.labels, got.label_aliases) == ("csv", "none", ["a", "b"], {"x": "a"})
    # self-describing files are read as what they are, with none of the run's mapping
    jsonl = write_file("talk.jsonl", json.dumps({"utterances": [{"text": "hi"}]}) + "\n")
    got = for_input(jsonl, clips_run, DataOptions())
    assert (got.corpus, got.columns, got.labels, got.label_aliases) == ("jsonl", ColumnsConfig(), None, {})
    emory = write_file("emorynlp_test_final.csv", EMORY)
    assert for_input(emory, DataConfig(corpus="meld"), DataOptions()).corpus == "emorynlp"
    assert for_input(emory, clips_run, DataOptions()).corpus == "csv"  # a csv-family run keeps its own mapping
    clip = write_file("clip.wav", b"RIFF")
    assert for_input(clip, DataConfig(corpus="meld"), DataOptions()).corpus == "clips"
    assert for_input(tmp_path, None, DataOptions()).corpus == "clips"  # a folder of clips
    # options win; a column option means a csv file
    got = for_input(emory, DataConfig(corpus="meld"), DataOptions(columns={"dialogue": "Scene_ID"}))
    assert (got.corpus, got.columns.dialogue) == ("csv", "Scene_ID")
    with pytest.raises(DataError, match="cannot tell the corpus format"):
        for_input(plain, None, DataOptions())


def test_label_sets_with_aliases() -> None:
    ls = label_set(DataConfig(labels=["ang", "hap", "neu", "sad"], label_aliases={"exc": "hap", "Excited": "HAP"}))
    assert ls.labels == ("ang", "hap", "neu", "sad")
    assert ls.canonical("EXC") == "hap" and ls.canonical("excited") == "hap" and ls.index("exc") == 1
    assert label_set(DataConfig(labels="a, b")).labels == ("a", "b")
    assert label_set(DataConfig(labels="meld-emotion")).name == "meld-emotion"
    with pytest.raises(ConfigError, match="'fru' -> 'frustrated', which is not one of data.labels"):
        label_set(DataConfig(labels=["ang"], label_aliases={"fru": "frustrated"}))
    with pytest.raises(ConfigError, match="name the labels too"):
        label_set(DataConfig(label_aliases={"exc": "hap"}))


def test_a_split_of_several_files(write_file, tmp_path: Path) -> None:
    write_file("s1.csv", "dialog,speaker,text,emotion\nd1,A,hi,joy\nd1,B,no,calm\n")
    write_file("s2.csv", "dialog,speaker,text,emotion\nd2,A,yes,joy\nd2,B,what,angry\nd2,A,,joy\n")
    data = DataConfig(corpus="csv", root=str(tmp_path), splits={"train": ["s1.csv", "s2.csv"]},
                      columns=ColumnsConfig(dialogue="dialog"), max_skipped_fraction=0.25)
    corpus = read_split(data, "train")
    assert [c.dialogue_id for c in corpus.conversations] == ["d1", "d2"]
    assert corpus.counts() == {"read": 5, "kept": 4, "skipped": 1, "skipped_by_reason": {"empty_text": 1}}
    # each file inferred its own set; the split has one holding every label, in a stable order
    assert corpus.label_sets["emotion"].labels == ("angry", "calm", "joy")
    assert [u.labels["emotion"] for u in corpus.utterances()] == ["joy", "calm", "joy", "angry"]
    write_file("s3.csv", "dialog,speaker,text,emotion\nd1,C,again,joy\n")
    with pytest.raises(DataError, match=r"dialogue 'd1' is also in .*s1.csv: dialogue ids must be unique"):
        read_split(DataConfig(corpus="csv", root=str(tmp_path), splits={"train": ["s1.csv", "s3.csv"]},
                              columns=ColumnsConfig(dialogue="dialog")), "train")
    with pytest.raises(DataError, match=r"1 of 5 rows skipped \(20.0 %, above the 10 % limit\)"):
        read_split(DataConfig(corpus="csv", root=str(tmp_path), splits={"train": ["s1.csv", "s2.csv"]},
                              columns=ColumnsConfig(dialogue="dialog"), max_skipped_fraction=0.1), "train")
