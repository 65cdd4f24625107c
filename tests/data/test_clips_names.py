"""Speech corpora as published: labels from the clips' file names (``data.name_pattern``) and
splits as file patterns (``data.splits``), checked on the real EmoDB files and on a RAVDESS
layout written here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from altsa.data.config import DataConfig, read_file, read_split
from altsa.data.readers import read_corpus
from altsa.errors import ConfigError, DataError

EMODB = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "emodb").resolve()
EMODB_PATTERN = r"^(?P<speaker>\d\d).{3}(?P<label>[WLNFATE])"
EMODB_LABELS = ["anger", "boredom", "neutral", "happiness", "fear", "sadness", "disgust"]
EMODB_ALIASES = {"W": "anger", "L": "boredom", "N": "neutral", "F": "happiness", "A": "fear", "T": "sadness",
                 "E": "disgust"}
# ../shared/data/README.md: W 127, L 81, N 79, F 71, A 69, T 62, E 46
EMODB_COUNTS = {"anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69, "sadness": 62, "disgust": 46}


@pytest.fixture(scope="module")
def emodb() -> Path:
    if not (EMODB / "03a01Wa.wav").is_file():
        pytest.skip(f"shared EmoDB clips not found at {EMODB} (see ../shared/data/README.md)")
    return EMODB


def emodb_config(root: Path, **splits) -> DataConfig:
    return DataConfig(corpus="clips", root=str(root), name_pattern=EMODB_PATTERN, labels=EMODB_LABELS,
                      label_aliases=EMODB_ALIASES, splits=splits or {"train": "."})


def test_emodb_folder_is_labelled_from_its_file_names(emodb):
    corpus = read_file(emodb, emodb_config(emodb))
    counts = Counter(u.labels["emotion"] for u in corpus.utterances())
    assert dict(counts) == EMODB_COUNTS and not corpus.problems
    assert corpus.label_sets["emotion"].labels == tuple(EMODB_LABELS)
    speakers = Counter(u.speaker for u in corpus.utterances())
    assert sorted(speakers) == ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    first = next(u for u in corpus.utterances() if u.dialogue_id == "03a01Wa.wav")
    assert first.labels == {"emotion": "anger"} and first.audio.endswith("03a01Wa.wav") and first.text == ""


def test_speaker_splits_as_file_patterns(emodb):
    data = emodb_config(emodb, train=["0[389]*.wav", "1[0-3]*.wav"], dev="14*.wav", test=["15*.wav", "16*.wav"])
    splits = {name: read_split(data, name) for name in ("train", "dev", "test")}
    speakers = {name: {u.speaker for u in c.utterances()} for name, c in splits.items()}
    assert speakers == {"train": {"03", "08", "09", "10", "11", "12", "13"}, "dev": {"14"}, "test": {"15", "16"}}
    ids = [{u.dialogue_id for u in c.utterances()} for c in splits.values()]
    assert sum(len(i) for i in ids) == 535 and not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert "03a01Wa.wav" in ids[0]  # named relative to data.root, as a folder read names them


def test_a_pattern_that_matches_nothing_names_the_key(emodb):
    with pytest.raises(DataError, match=r"data.splits.dev: '99\*.wav' matches nothing"):
        read_split(emodb_config(emodb, dev="99*.wav"), "dev")


def test_unmatched_names_and_labels_outside_the_set_are_counted(tmp_path, write_wav):
    for name in ("03a01Wa.wav", "03a01La.wav", "03a01Xa.wav", "readme.wav"):
        write_wav(tmp_path / name, "anger")
    # boredom (L) left out of the set: its clip is an unknown label; X is no emotion letter
    data = DataConfig(corpus="clips", root=str(tmp_path), name_pattern=r"^\d\d.{3}(?P<label>[A-Z])",
                      labels=["anger", "neutral"], label_aliases={"W": "anger", "N": "neutral"})
    corpus = read_file(tmp_path, data)
    assert [u.dialogue_id for u in corpus.utterances()] == ["03a01Wa.wav"]
    reasons = Counter(p.reason for p in corpus.problems)
    assert reasons == {"unknown_label": 2, "name_unmatched": 1}
    assert corpus.counts()["read"] == 4 and corpus.counts()["skipped"] == 3
    with pytest.raises(DataError, match="does not match data.name_pattern"):
        read_corpus(tmp_path / "readme.wav", name_pattern=r"^\d\d.{3}(?P<label>[A-Z])", strict=True)


@pytest.mark.parametrize(("pattern", "message"), [
    ("(?P<label>[A-Z]", "is not a regular expression"),
    (r"^\d\d", r"needs a \(\?P<label>...\) group"),
    (r"(?P<label>\w)(?P<take>\d)", "unknown group"),
])
def test_a_bad_pattern_is_a_config_error(tmp_path, write_wav, pattern, message):
    write_wav(tmp_path / "a.wav", "anger")
    with pytest.raises(ConfigError, match=message):
        read_file(tmp_path, DataConfig(corpus="clips", root=str(tmp_path), name_pattern=pattern))


def test_a_pattern_applies_to_clips_only(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("dialogue_id,text,label\n1,hi,joy\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="labels clips from their file names"):
        read_file(csv, DataConfig(corpus="csv", name_pattern="(?P<label>x)"))


def test_ravdess_layout_actor_folders_as_splits(tmp_path, write_wav):
    """RAVDESS: Actor_NN/ folders; 03-01-EE-II-SS-RR-AA.wav, EE the emotion (05 angry, 01 neutral)."""
    root = tmp_path / "ravdess"
    for actor in (1, 2, 3):
        for emo, tone in (("05", "anger"), ("01", "neutral")):
            write_wav(root / f"Actor_{actor:02d}" / f"03-01-{emo}-01-01-01-{actor:02d}.wav", tone)
    (root / "Actor_01" / "notes.txt").write_text("not a clip", encoding="utf-8")
    data = DataConfig(corpus="clips", root=str(root),
                      name_pattern=r"^\d\d-\d\d-(?P<label>\d\d)-\d\d-\d\d-\d\d-(?P<speaker>\d\d)",
                      labels=["neutral", "angry"], label_aliases={"01": "neutral", "05": "angry"},
                      splits={"train": ["Actor_01", "Actor_02"], "dev": "Actor_03"})
    train = read_split(data, "train")
    assert sorted(u.dialogue_id for u in train.utterances()) == [
        "Actor_01/03-01-01-01-01-01-01.wav", "Actor_01/03-01-05-01-01-01-01.wav",
        "Actor_02/03-01-01-01-01-01-02.wav", "Actor_02/03-01-05-01-01-01-02.wav"]
    assert Counter(u.labels["emotion"] for u in train.utterances()) == {"neutral": 2, "angry": 2}
    assert {u.speaker for u in train.utterances()} == {"01", "02"} and train.ignored_files == 1
    dev = read_split(data, "dev")  # one folder: read as a folder, named within it
    assert sorted(u.labels["emotion"] for u in dev.utterances()) == ["angry", "neutral"]


def test_patterns_spelled_any_way_name_each_clip_once(tmp_path, write_wav):
    root = tmp_path / "corpus"
    write_wav(root / "a" / "03a01Wa.wav", "anger")
    write_wav(root / "b" / "08a01Wa.wav", "anger")
    (tmp_path / "outside.wav").write_bytes((root / "a" / "03a01Wa.wav").read_bytes())

    def read(entries, **kw):
        return read_split(DataConfig(corpus="clips", root=str(root), splits={"train": entries}, **kw), "train")

    absolute = read([str(root / "*" / "*.wav"), "b"], max_skipped_fraction=1.0)  # b's clip named twice
    assert sorted(u.dialogue_id for u in absolute.utterances()) == ["a/03a01Wa.wav", "b/08a01Wa.wav"]
    assert absolute.counts()["skipped_by_reason"] == {"duplicate_utterance": 1}
    dotted = read(["a/../b/*.wav", "a"])
    assert sorted(u.dialogue_id for u in dotted.utterances()) == ["a/03a01Wa.wav", "b/08a01Wa.wav"]
    with pytest.raises(DataError, match="not under the corpus folder"):
        read(["../*.wav", "a"])


def test_a_root_holding_glob_characters_is_taken_literally(tmp_path, write_wav):
    root = tmp_path / "emo [v1]"
    write_wav(root / "14a01Wa.wav", "anger")
    write_wav(tmp_path / "emo v" / "14a01Na.wav", "neutral")  # what '[v1]' as a pattern could match
    corpus = read_split(DataConfig(corpus="clips", root=str(root), splits={"train": "14*"}), "train")
    assert [u.dialogue_id for u in corpus.utterances()] == ["14a01Wa.wav"]


def test_split_entries_empty_or_naming_a_file_twice_are_config_errors(tmp_path, write_wav):
    write_wav(tmp_path / "14a01Wa.wav", "anger")
    with pytest.raises(ConfigError, match="empty entry"):
        read_split(DataConfig(corpus="clips", root=str(tmp_path), splits={"train": ["", "14*"]}), "train")
    with pytest.raises(ConfigError, match=r"names .*14a01Wa.wav twice \('14\*' and '14a01Wa.wav'\)"):
        read_split(DataConfig(corpus="clips", root=str(tmp_path), splits={"train": ["14*", "14a01Wa.wav"]}), "train")


def test_one_entry_or_several_the_same_rules(tmp_path, write_wav):
    root = tmp_path / "c2"
    write_wav(root / "sub" / "03x01Fa.wav", "joy")
    write_wav(tmp_path / "c1" / "14a01Wa.wav", "anger")
    one = read_split(DataConfig(corpus="clips", root=str(root), splits={"train": "s*"}), "train")
    assert [u.dialogue_id for u in one.utterances()] == ["sub/03x01Fa.wav"]  # named from the root, as with several
    for entries in ("../c1/14a01Wa.wav", ["../c1/14a01Wa.wav", "sub"]):
        with pytest.raises(DataError, match="not under the corpus folder"):
            read_split(DataConfig(corpus="clips", root=str(root), splits={"train": entries}), "train")


def test_a_file_of_another_format_drops_the_runs_name_pattern(tmp_path):
    from altsa.data.config import DataOptions, for_input

    jsonl = tmp_path / "ev.jsonl"
    jsonl.write_text('{"dialogue_id": "d1", "utterances": [{"speaker": "A", "text": "hi", "emotion": "anger"}]}\n',
                     encoding="utf-8")
    run = DataConfig(corpus="clips", name_pattern=EMODB_PATTERN, labels=EMODB_LABELS, label_aliases=EMODB_ALIASES)
    data = for_input(jsonl, run, DataOptions())
    assert data.corpus == "jsonl" and data.name_pattern is None
    assert [u.labels for u in read_file(jsonl, data).utterances()] == [{"emotion": "anger"}]
    folder = tmp_path / "clips"
    folder.mkdir()
    assert for_input(folder, run, DataOptions()).name_pattern == EMODB_PATTERN  # clips keep it


def test_training_refuses_a_dev_split_sharing_clips_or_without_labels(emodb):
    from altsa.training.pipeline import check_splits

    leak = emodb_config(emodb, train=["0[389]*.wav", "1[0-4]*.wav"], dev="14*.wav")
    with pytest.raises(DataError, match=r"69 dev utterance\(s\) use a clip the train split uses too"):
        check_splits({s: read_split(leak, s) for s in ("train", "dev")}, "emotion")
    unlabelled = DataConfig(corpus="clips", root=str(emodb), splits={"train": "03*.wav", "dev": "14*.wav"},
                            name_pattern=r"^(?P<speaker>0\d).{3}(?P<label>[A-Z])", max_skipped_fraction=1.0)
    corpora = {s: read_split(unlabelled, s) for s in ("train", "dev")}
    with pytest.raises(DataError, match="the dev split has no utterance with a label of the task 'emotion' to choose epochs by "
                                        r"\(read 69, kept 0, skipped 69: name_unmatched 69\)"):
        check_splits(corpora, "emotion")


def test_mead_video_clips_are_labelled_from_their_names():
    mead = (EMODB.parent / "faces" / "mead").resolve()
    if not mead.is_dir():
        pytest.skip(f"shared MEAD clips not found at {mead}")
    corpus = read_corpus(mead, name_pattern=r"^(?P<speaker>[MW]\d{3})_[a-z]+_(?P<label>[a-z]+)_level")
    counts = Counter(u.labels["emotion"] for u in corpus.utterances())
    assert counts == {e: 3 for e in ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")}
    assert {u.speaker for u in corpus.utterances()} == {"M030", "W009", "W011"}
    assert all(u.media and not u.audio for u in corpus.utterances())  # video files: the clip is media


def test_an_entry_naming_a_file_with_brackets_is_that_file(tmp_path):
    (tmp_path / "train [v2].csv").write_text("dialogue_id,text,label\n1,hi,joy\n", encoding="utf-8")
    corpus = read_split(DataConfig(corpus="csv", root=str(tmp_path), splits={"train": "train [v2].csv"}), "train")
    assert [u.text for u in corpus.utterances()] == ["hi"]
