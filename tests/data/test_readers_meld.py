"""The MELD reader on the real CSVs and on small fixtures (order, speakers, clips)."""

from __future__ import annotations

from pathlib import Path

import pytest

from altsa.data.readers import read_corpus, summarize
from altsa.data.schema import MELD_EMOTION, MELD_SENTIMENT
from altsa.errors import DataError

MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"


@pytest.mark.parametrize(("split", "dialogues", "utterances"), [("dev", 114, 1109), ("train", 1038, 9989)])
def test_meld_counts(meld_dir: Path, split: str, dialogues: int, utterances: int) -> None:
    corpus = read_corpus(meld_dir / f"{split}_sent_emo.csv")
    assert corpus.name == f"meld-{split}"
    assert len(corpus.conversations) == dialogues
    assert corpus.num_utterances == utterances
    assert corpus.problems == []
    assert corpus.label_sets == {"emotion": MELD_EMOTION, "sentiment": MELD_SENTIMENT}
    assert corpus.missing_media == []


def test_meld_dev_content(meld_dir: Path) -> None:
    corpus = read_corpus(meld_dir / "dev_sent_emo.csv")
    first = corpus.conversations[0]
    assert first.dialogue_id == "0"
    u = first.utterances[0]
    assert (u.speaker, u.speaker_tag, u.text) == ("Phoebe", "s1", "Oh my God, he’s lost it. He’s totally lost it.")
    assert u.labels == {"emotion": "sadness", "sentiment": "negative"}
    assert u.meta["season"] == "4" and u.meta["start"] == "00:20:57,256"
    assert first.utterances[1].speaker_tag == "s2"
    s = summarize(corpus)
    assert s["labels"] == {
        "anger": 153, "disgust": 22, "fear": 40, "joy": 163, "neutral": 470, "sadness": 111, "surprise": 150
    }
    assert sum(s["label_counts"]["sentiment"].values()) == 1109
    # Only MELD's double spaces after full stops get repaired in the clean official file.
    assert corpus.repaired_rows == 62 and corpus.repairs == {"whitespace": 62}
    # Dialogues come in numeric id order.
    ids = [int(c.dialogue_id) for c in corpus.conversations]
    assert ids == sorted(ids)


def test_meld_train_gaps_are_kept(meld_dir: Path) -> None:
    """72 train dialogues have Utterance_ID gaps: positions are sort keys, never indices."""
    corpus = read_corpus(meld_dir / "train_sent_emo.csv")
    gapped = [c for c in corpus.conversations if [u.position for u in c] != list(range(len(c)))]
    assert len(gapped) == 72
    for conv in gapped:
        positions = [u.position for u in conv]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)


def _row(sr: int, text: str, speaker: str, emo: str, sent: str, dia: int, utt: int) -> str:
    return f'{sr},"{text}",{speaker},{emo},{sent},{dia},{utt},1,1,"00:00:01,000","00:00:02,000"\n'


def test_order_by_utterance_id_and_speaker_tags(write_file) -> None:
    path = write_file(
        "dev_sent_emo.csv",
        MELD_HEADER
        + _row(1, "Third.", "Ann", "joy", "positive", 7, 5)
        + _row(2, "First.", "Bob", "neutral", "neutral", 7, 0)
        + _row(3, "Second.", "Ann", "anger", "negative", 7, 2)
        + _row(4, "Fourth.", "Cy", "fear", "negative", 7, 9)
        + _row(5, "Other.", "Cy", "Surprise", "Positive", 3, 0),
    )
    corpus = read_corpus(path)
    assert [c.dialogue_id for c in corpus.conversations] == ["3", "7"]
    conv = corpus.conversations[1]
    assert [u.text for u in conv] == ["First.", "Second.", "Third.", "Fourth."]
    assert [u.position for u in conv] == [0, 2, 5, 9]
    assert [(u.speaker, u.speaker_tag) for u in conv] == [("Bob", "s1"), ("Ann", "s2"), ("Ann", "s2"), ("Cy", "s3")]
    assert corpus.conversations[0].utterances[0].speaker_tag == "s1"  # tags restart per dialogue
    assert corpus.conversations[0].utterances[0].labels == {"emotion": "surprise", "sentiment": "positive"}


def test_mojibake_rows_are_repaired_and_counted(write_file) -> None:
    path = write_file(
        "dev.csv",
        MELD_HEADER
        + _row(1, "Youâ€™re here!", "Ann", "joy", "positive", 0, 0)
        + _row(2, "Fine.", "Bob", "neutral", "neutral", 0, 1)
        + _row(3, "CafÃ©  time", "Bob", "joy", "positive", 0, 2),
    )
    corpus = read_corpus(path)
    texts = [u.text for u in corpus.utterances()]
    assert texts == ["You’re here!", "Fine.", "Café time"]
    assert corpus.repaired_rows == 2
    assert corpus.repairs == {"mojibake": 2, "whitespace": 1}


def test_clips_are_mapped_and_missing_ones_reported(meld_dir: Path, tmp_path: Path) -> None:
    split_dir = tmp_path / "MELD.Raw" / "dev_splits_complete"
    split_dir.mkdir(parents=True)
    corpus = read_corpus(meld_dir / "dev_sent_emo.csv")
    first = corpus.conversations[0]
    for u in first.utterances:
        (split_dir / f"dia{u.dialogue_id}_utt{u.position}.mp4").write_bytes(b"")
    with_clips = read_corpus(meld_dir / "dev_sent_emo.csv", clips=tmp_path / "MELD.Raw")
    u0 = with_clips.conversations[0].utterances[0]
    assert u0.media == str(split_dir.resolve() / "dia0_utt0.mp4")
    assert u0.audio_source() == u0.video_source() == u0.media
    assert len(with_clips.missing_media) == 1109 - len(first)
    assert "0/0" not in with_clips.missing_media
    assert f"{with_clips.conversations[1].dialogue_id}/0" in with_clips.missing_media
    # Pointing straight at the split folder works too.
    direct = read_corpus(meld_dir / "dev_sent_emo.csv", clips=split_dir)
    assert direct.missing_media == with_clips.missing_media


def test_split_from_argument_when_the_name_does_not_tell(write_file, tmp_path: Path) -> None:
    path = write_file("mine.csv", MELD_HEADER + _row(1, "Hi.", "Ann", "joy", "positive", 4, 0))
    (tmp_path / "clips" / "train_splits").mkdir(parents=True)
    (tmp_path / "clips" / "train_splits" / "dia4_utt0.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="cannot tell the MELD split"):
        read_corpus(path, clips=tmp_path / "clips")
    corpus = read_corpus(path, clips=tmp_path / "clips", split="train")
    assert corpus.missing_media == []
    assert corpus.name == "meld-train"
    (tmp_path / "clips" / "dev_splits_complete").mkdir()
    assert read_corpus(path, clips=tmp_path / "clips", split="val").name == "meld-dev"  # alias
    with pytest.raises(DataError, match="unknown MELD split"):
        read_corpus(path, clips=tmp_path / "clips", split="holdout")


def test_missing_clip_folder_is_an_error(meld_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="clip folder not found"):
        read_corpus(meld_dir / "dev_sent_emo.csv", clips=tmp_path / "nope")


def test_label_set_cannot_be_changed(meld_dir: Path) -> None:
    from altsa.data.readers import parse_labels

    with pytest.raises(DataError, match="MELD's label sets are fixed"):
        read_corpus(meld_dir / "dev_sent_emo.csv", label_set=parse_labels("a,b"))
    assert read_corpus(meld_dir / "dev_sent_emo.csv", label_set=MELD_EMOTION).num_utterances == 1109
