"""The generic CSV reader: EmoryNLP-shaped files (our own rows), mappings, label sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from altsa.data.readers import CORPORA, MAPPINGS, ColumnMapping, parse_labels, parse_speaker, read_corpus
from altsa.data.schema import EMORYNLP_EMOTION, LabelSet
from altsa.errors import ConfigError, DataError

EMORY_HEADER = "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
# Our own rows in EmoryNLP's published shape: list-literal speakers, capitalised labels, rows
# not in Utterance_ID order, and -- as in the published files -- Scene_ID and Utterance_ID
# restarting in every episode: scene 1 of S1E3, of S1E4 and of S2E3 are three dialogues.
EMORY_ROWS = (
    "\"Did anyone see my keys?\",['Rachel Green'],Neutral,1,2,1,3,00:01:02.100,00:01:03.200\n"
    "Good morning everyone!,['Monica Geller'],Joyful,1,1,1,3,00:01:00.000,00:01:01.500\n"
    "\"They're in the fridge, again.\",['Ross Geller'],Peaceful,1,3,1,3,00:01:04.000,00:01:05.000\n"
    "NO WAY.,\"['Ross Geller', 'Rachel Green']\",Mad,1,4,1,3,00:01:05.500,00:01:06.000\n"
    "I'm scared of that duck.,['Joey Tribbiani'],Scared,1,1,1,4,00:10:00.000,00:10:02.000\n"
    "You can do it.,['Monica Geller'],Powerful,1,2,1,4,00:10:03.000,00:10:04.000\n"
    "I miss her.,['Joey Tribbiani'],Sad,1,3,1,4,00:10:05.000,00:10:06.000\n"
    "Who's hungry?,['Joey Tribbiani'],Joyful,1,1,2,3,00:02:00.000,00:02:01.000\n"
    "Not me.,['Chandler Bing'],Neutral,1,2,2,3,00:02:02.000,00:02:03.000\n"
)


def test_emorynlp_format(write_file) -> None:
    path = write_file("emorynlp_dev_final.csv", EMORY_HEADER + EMORY_ROWS)
    for corpus in (read_corpus(path, format="emorynlp"), read_corpus(path)):  # given and detected
        assert corpus.name == "emorynlp_dev_final"
        # dialogue = Season/Episode/Scene_ID: the repeating scene ids stay apart, nothing is skipped
        assert [c.dialogue_id for c in corpus.conversations] == ["1/3/1", "1/4/1", "2/3/1"]
        assert corpus.problems == []
        assert corpus.counts() == {"read": 9, "kept": 9, "skipped": 0, "skipped_by_reason": {}}
        scene = corpus.conversations[0]
        assert [u.position for u in scene] == [1, 2, 3, 4]
        assert [u.speaker for u in scene] == ["Monica Geller", "Rachel Green", "Ross Geller", "Ross Geller, Rachel Green"]
        assert [u.speaker_tag for u in scene] == ["s1", "s2", "s3", "s4"]
        assert [u.labels["emotion"] for u in scene] == ["joyful", "neutral", "peaceful", "mad"]
        assert corpus.label_sets == {"emotion": EMORYNLP_EMOTION}
        assert scene.utterances[0].meta == {"StartTime": "00:01:00.000", "EndTime": "00:01:01.500"}
        assert [u.text for u in corpus.conversations[1]] == ["I'm scared of that duck.", "You can do it.", "I miss her."]


def test_emorynlp_scene_id_alone_drops_rows_and_says_so(write_file) -> None:
    """The reading that kept 31 % of EmoryNLP: Scene_ID alone as the dialogue. Every later
    scene 1 collides with the first; the rows are counted as skipped, by reason."""
    path = write_file("emorynlp_dev_final.csv", EMORY_HEADER + EMORY_ROWS)
    corpus = read_corpus(path, format="emorynlp", mapping=MAPPINGS["emorynlp"].with_overrides(dialogue="Scene_ID"))
    assert [c.dialogue_id for c in corpus.conversations] == ["1"]
    assert corpus.counts() == {"read": 9, "kept": 4, "skipped": 5, "skipped_by_reason": {"duplicate_utterance": 5}}
    assert all(p.reason == "duplicate_utterance" for p in corpus.problems)


def test_emorynlp_via_csv_mapping_preset(write_file) -> None:
    path = write_file("scenes.csv", EMORY_HEADER + EMORY_ROWS)
    corpus = read_corpus(path, format="csv", mapping=MAPPINGS["emorynlp"])
    assert corpus.num_utterances == 9
    assert corpus.label_sets["emotion"] is EMORYNLP_EMOTION


def test_label_set_inferred_when_not_given(write_file) -> None:
    """Labels outside every known set: inferred, case-folded, sorted (stable order)."""
    path = write_file(
        "mine.csv",
        "conv,who,line,feel\n"
        "a,Ann,Hello there,Happy\n"
        "a,Bob,Go away,ANGRY\n"
        "b,Bob,Fine,calm\n",
    )
    mapping = ColumnMapping(dialogue="conv", speaker="who", text="line", label="feel")
    corpus = read_corpus(path, mapping=mapping)
    assert corpus.label_sets["emotion"].labels == ("angry", "calm", "happy")
    assert [u.labels["emotion"] for u in corpus.utterances()] == ["happy", "angry", "calm"]
    # No order column: file order within the dialogue.
    assert [u.position for u in corpus.conversations[0]] == [0, 1]
    # A known set is chosen when it holds every label seen.
    meldish = write_file("meldish.csv", "conv,who,line,feel\na,Ann,Hi,Joy\na,Bob,Oh,Fear\n")
    assert read_corpus(meldish, mapping=mapping).label_sets["emotion"].name == "meld-emotion"


def test_label_set_given(write_file) -> None:
    path = write_file("mine.csv", "conv,who,line,feel\na,Ann,Hello,Happy\na,Bob,Bye,sad\n")
    mapping = ColumnMapping(dialogue="conv", speaker="who", text="line", label="feel")
    labels = parse_labels("sad,happy")
    corpus = read_corpus(path, mapping=mapping, label_set=labels)
    assert corpus.label_sets["emotion"].labels == ("sad", "happy")  # the given order is the class index
    assert [u.labels["emotion"] for u in corpus.utterances()] == ["happy", "sad"]
    assert parse_labels("emorynlp-emotion") is EMORYNLP_EMOTION


def test_composite_dialogue_and_media(write_file, tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.wav").write_bytes(b"")
    path = write_file(
        "multi.csv",
        "season,scene,turn,speaker,text,file\n"
        "1,1,0,Ann,Hi,media/a.wav\n"
        "2,1,0,Bob,Hey,media/b.wav\n",
    )
    mapping = ColumnMapping(dialogue="season+scene", order="turn", media="file")
    corpus = read_corpus(path, mapping=mapping)
    assert [c.dialogue_id for c in corpus.conversations] == ["1/1", "2/1"]
    assert corpus.conversations[0].utterances[0].media == str((tmp_path / "media" / "a.wav").resolve())
    assert corpus.missing_media == ["2/1/0"]
    assert corpus.label_sets == {}
    # Relative media paths resolve against --clips when given.
    other = read_corpus(path, mapping=mapping, clips=tmp_path)
    assert other.conversations[0].utterances[0].media == str((tmp_path / "media" / "a.wav").resolve())
    with pytest.raises(DataError, match="needs a media column"):
        read_corpus(path, mapping=ColumnMapping(dialogue="scene"), clips=tmp_path)


def test_tab_separated(write_file) -> None:
    path = write_file("t.tsv", "dialogue_id\tspeaker\ttext\n1\tAnn\tHi, you\n")
    corpus = read_corpus(path, mapping=ColumnMapping(delimiter="\t"))
    assert corpus.conversations[0].utterances[0].text == "Hi, you"


@pytest.mark.parametrize(
    ("raw", "speaker"),
    [
        ("['Rachel Green']", "Rachel Green"),
        ("['Ross Geller', 'Rachel Green']", "Ross Geller, Rachel Green"),
        ("[]", ""),
        ("Rachel", "Rachel"),
        ("[not a literal", "[not a literal"),
        ("[__import__('os').system('true')]", "[__import__('os').system('true')]"),  # never evaluated
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_parse_speaker(raw: str, speaker: str) -> None:
    assert parse_speaker(raw) == speaker


def test_registry_and_format_errors(write_file) -> None:
    assert {"meld", "csv", "emorynlp", "jsonl"} <= set(CORPORA.names())
    assert all(CORPORA.get(n).description for n in CORPORA.names())
    path = write_file("x.csv", "a,b\n1,2\n")
    with pytest.raises(ConfigError, match="unknown corpus format 'parquet'"):
        read_corpus(path, format="parquet")
    with pytest.raises(DataError, match="cannot tell the corpus format"):
        read_corpus(path)
    with pytest.raises(DataError, match="column mapping applies to the csv formats"):
        read_corpus(path, format="meld", mapping=ColumnMapping())
    with pytest.raises(DataError, match="duplicate labels"):
        parse_labels("a,b,a")
    assert LabelSet("x", ("a",)).canonical(" A ") == "a"


def test_clips_without_transcripts(write_file, tmp_path: Path) -> None:
    """A CSV of labelled clips: no text column at all (``text: none``), or an empty text cell
    beside a clip; a row with neither text nor clip is skipped and counted."""
    path = write_file(
        "clips.csv",
        "file,who,emotion,text\n"
        "a.wav,Ann,anger,\n"
        "b.wav,Bob,joy,you made it\n"
        ",Cy,joy,\n",
    )
    corpus = read_corpus(path, mapping=ColumnMapping(dialogue="none", speaker="who", audio="file"))
    assert [u.text for u in corpus.utterances()] == ["", "you made it"]
    assert [u.audio for u in corpus.utterances()] == [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]
    assert [c.dialogue_id for c in corpus.conversations] == ["2", "3"]  # one conversation per row (its line)
    assert corpus.counts() == {"read": 3, "kept": 2, "skipped": 1, "skipped_by_reason": {"empty_text": 1}}
    assert corpus.columns["label"] == "emotion"  # the conventional label column
    no_text = read_corpus(path, mapping=ColumnMapping(dialogue="file", text="none", media="file"))
    assert [u.text for u in no_text.utterances()] == ["", ""] and no_text.columns["text"] == "none"
    assert [c.dialogue_id for c in no_text.conversations] == ["a.wav", "b.wav"]
    with pytest.raises(DataError, match=r"missing required column 'text' \(text; or name a media"):
        read_corpus(path, mapping=ColumnMapping(dialogue="file", text="none"))
