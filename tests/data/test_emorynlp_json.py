"""EmoryNLP as its authors publish it (``emotion-detection-*.json``, format ``emorynlp-json``):
scenes are conversations, positions come from the utterance ids (gaps kept), problems name the
utterance's line, and the format is told apart from JSONL."""

from __future__ import annotations

import json

import pytest

from altsa.data.readers import detect_format, read_corpus
from altsa.errors import DataError


def _utt(uid, text="Coffee.", emotion="Neutral", speakers=("Rachel Green",)):
    return {"utterance_id": uid, "speakers": list(speakers), "transcript": text, "tokens": [text.split()],
            "emotion": emotion}


def _doc(*scenes):
    return {"season_id": "dev", "episodes": [{"episode_id": "s01_e15", "scenes": [
        {"scene_id": sid, "utterances": list(utts)} for sid, utts in scenes]}]}


def _write(tmp_path, doc, name="emotion-detection-dev.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2) if isinstance(doc, dict) else doc, encoding="utf-8")
    return path


def test_scenes_positions_speakers_labels(tmp_path):
    path = _write(tmp_path, _doc(
        ("s01_e15_c01", [_utt("s01_e15_c01_u001"), _utt("s01_e15_c01_u002", "Thank you.", "Joyful", ["Joey Tribbiani"]),
                         _utt("s01_e15_c01_u004", "Grazie.", "Scared", ["Ross Geller", "Chandler Bing"])]),
        ("s01_e15_c06", [_utt("s01_e15_c06_u001", "OK, try this.", "Mad")])))
    assert detect_format(path) == "emorynlp-json"
    corpus = read_corpus(path)
    assert [c.dialogue_id for c in corpus.conversations] == ["s01_e15_c01", "s01_e15_c06"]
    first = corpus.conversations[0].utterances
    assert [u.position for u in first] == [1, 2, 4]  # the id's number; the gap at 3 kept
    assert [u.speaker for u in first] == ["Rachel Green", "Joey Tribbiani", "Ross Geller, Chandler Bing"]
    assert [u.labels["emotion"] for u in first] == ["neutral", "joyful", "scared"]
    assert first[2].meta["utterance_id"] == "s01_e15_c01_u004"
    assert corpus.label_sets["emotion"].name == "emorynlp-emotion"
    assert corpus.counts()["read"] == corpus.counts()["kept"] == 4


def test_row_problems_name_the_utterance_line(tmp_path):
    doc = _doc(("s01_e15_c01", [_utt("s01_e15_c01_u001"), _utt("s01_e15_c01_u002", "  "),
                                _utt("s01_e15_c01_u003", emotion="Bored"), _utt("s01_e15_c01_u001", "again"),
                                {"utterance_id": "s01_e15_c01_u005", "speakers": "Rachel", "transcript": "x",
                                 "emotion": "Sad"}]),
               ("s01_e15_c01", [_utt("s01_e15_c01_u009")]))  # the scene id again
    path = _write(tmp_path, doc)
    lines = path.read_text().splitlines()
    corpus = read_corpus(path)
    counts = corpus.counts()
    assert counts["read"] == 6 and counts["kept"] == 1
    assert counts["skipped_by_reason"] == {"empty_text": 1, "unknown_label": 1, "duplicate_utterance": 1,
                                           "invalid_field": 1, "duplicate_dialogue": 1}
    empty = next(p for p in corpus.problems if p.reason == "empty_text")
    assert '"s01_e15_c01_u002"' in lines[empty.line - 1]
    with pytest.raises(DataError, match=r"emotion-detection-dev.json:\d+: utterance 's01_e15_c01_u002': empty transcript"):
        read_corpus(path, strict=True)


def test_duplicate_keys_in_an_utterance_are_a_problem(tmp_path):
    raw = json.dumps(_doc(("s1", [_utt("s1_u001")])), indent=2).replace(
        '"transcript": "Coffee."', '"transcript": "Coffee.", "transcript": "Tea."')
    corpus = read_corpus(_write(tmp_path, raw))
    assert corpus.counts()["skipped_by_reason"] == {"duplicate_key": 1}


@pytest.mark.parametrize("text, message", [
    ('{\n  "episodes": [\n', r"not valid JSON \(line 3"),
    ('{\n  "season_id": "dev"\n}', "not an EmoryNLP document: expected an object with an 'episodes' list"),
])
def test_file_level_problems_are_fatal(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_corpus(_write(tmp_path, text), format="emorynlp-json")


def test_told_apart_from_jsonl(tmp_path):
    jsonl = tmp_path / "talk.json"  # a JSONL file under a .json name, 'episodes' in its meta
    jsonl.write_text(json.dumps({"dialogue_id": "d", "utterances": [{"text": "hi"}], "meta": {"episodes": 1}}) + "\n")
    assert detect_format(jsonl) == "jsonl"
    assert detect_format(_write(tmp_path, _doc(("s1", [_utt("s1_u001")])))) == "emorynlp-json"


def test_clips_are_refused(tmp_path):
    with pytest.raises(DataError, match="names no media"):
        read_corpus(_write(tmp_path, _doc(("s1", [_utt("s1_u001")]))), clips=tmp_path)


def test_a_key_named_twice_costs_what_it_holds(tmp_path):
    """json keeps the last of a repeated key: a second, empty 'utterances' emptied the scene
    without a word, even with --strict."""
    scene = json.dumps(_doc(("s1", [_utt("s1_u001"), _utt("s1_u002")]), ("s2", [_utt("s2_u001")])), indent=2)
    twice = scene.replace('"scene_id": "s1",', '"scene_id": "s1", "utterances": [],', 1)
    corpus = read_corpus(_write(tmp_path, twice))
    counts = corpus.counts()
    assert counts["read"] == 3 and counts["kept"] == 1 and counts["skipped_by_reason"] == {"duplicate_key": 2}
    with pytest.raises(DataError, match="duplicate key 'utterances'"):
        read_corpus(_write(tmp_path, twice), strict=True)
    episodes = scene.replace('"season_id": "dev",', '"season_id": "dev", "episodes": [],', 1)
    with pytest.raises(DataError, match="'episodes' is given twice"):
        read_corpus(_write(tmp_path, episodes, "other.json"), format="emorynlp-json")


def test_a_document_on_one_line_is_still_emorynlp(tmp_path):
    path = tmp_path / "emotion-detection-dev.json"
    path.write_text(json.dumps(_doc(("s1", [_utt("s1_u001"), _utt("s1_u002")]))) + "\n")  # minified: one line
    assert detect_format(path) == "emorynlp-json"
    assert read_corpus(path).counts()["kept"] == 2


def test_no_emotion_is_a_skipped_row_and_repeated_ids_have_their_own_lines(tmp_path):
    doc = _doc(("s1", [_utt("s1_u001"), _utt("s1_u002", emotion=None), _utt("s1_u003", emotion=""),
                       _utt("s1_u001", "again")]))
    path = _write(tmp_path, doc)
    corpus = read_corpus(path)
    assert corpus.counts()["skipped_by_reason"] == {"empty_label": 2, "duplicate_utterance": 1}
    dup = next(p for p in corpus.problems if p.reason == "duplicate_utterance")
    first = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if '"s1_u001"' in line)
    assert dup.line is not None and dup.line > first and f"(first at line {first})" in dup.message
