"""A transcript of ``altsa transcribe`` keeps each utterance's audio: it names the recording
and the utterance's span, so ``altsa predict MODEL transcript.jsonl`` (edited by hand or not)
reads what ``altsa predict MODEL RECORDING`` reads (tiny random text+audio run: the
plumbing is the real one)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from recording_helpers import LINES, need_recordings_extra

from altsa.cli.main import main
from altsa.data.readers import read_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ta_run(tmp_path_factory, tiny_roberta, tiny_data2vec):
    from altsa.inference.tiny import save_tiny_run

    encoders = {"text": tiny_roberta, "audio": tiny_data2vec}
    return save_tiny_run(tmp_path_factory.mktemp("runs") / "ta", encoders, modalities=("text", "audio"))


def rows(argv, capsys) -> list[dict]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def same_predictions(a: list[dict], b: list[dict]) -> None:
    assert [(r["key"], r["speaker"], r["text"], r["start"], r["end"], r["label"]) for r in a] == [
        (r["key"], r["speaker"], r["text"], r["start"], r["end"], r["label"]) for r in b]
    for x, y in zip(a, b):
        np.testing.assert_allclose(list(x["probabilities"].values()), list(y["probabilities"].values()), atol=1e-5)
        np.testing.assert_allclose(list(x["weights"].values()), list(y["weights"].values()), atol=1e-5)
        assert "audio" not in x["absent"] and x["weights"]["audio"] > 0


def test_predict_on_the_transcript_equals_predict_on_the_recording(conversation, ta_run, tmp_path, capsys):
    need_recordings_extra()
    path = str(conversation[0])  # 22.05 kHz stereo: spans are resampled, and must match the whole decode
    jsonl = tmp_path / "talk.jsonl"
    assert main(["transcribe", path, "--threads", "1", "-o", str(jsonl)]) == 0
    capsys.readouterr()
    from_recording = rows(["predict", str(ta_run), path, "--json", "--threads", "1"], capsys)
    from_transcript = rows(["predict", str(ta_run), str(jsonl), "--json"], capsys)
    assert len(from_recording) == len(LINES)
    same_predictions(from_transcript, from_recording)


def test_an_edited_transcript_keeps_each_utterances_audio(transcript, ta_run, tmp_path):
    """Text corrected, an utterance deleted, speakers renamed: every remaining utterance still
    reads its own stretch of the recording, exactly as the recording route would."""
    from altsa.inference import Recognizer

    rec = Recognizer.from_pretrained(ta_run)
    obj = transcript.to_dict()
    utts = obj["utterances"]
    utts[1]["text"] = "No, I was working late again!"
    del utts[3]
    names = {"Speaker 1": "Ann", "Speaker 2": "Bo"}
    for u in utts:
        u["speaker"] = names[u["speaker"]]
    edited = tmp_path / "edited.jsonl"
    edited.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    got = rec.predict_corpus(read_corpus(edited, strict=True))

    # the recording route's own items (each span's audio cut from the whole decode), same edits
    items = transcript.items()
    items[1]["text"] = "No, I was working late again!"
    del items[3]
    for item in items:
        item["speaker"] = names[item["speaker"]]
    want = rec.predict({"dialogue_id": obj["dialogue_id"], "utterances": items})
    assert [(p.key, p.speaker, p.text) for p in got] == [(p.key, p.speaker, p.text) for p in want]
    assert [p.position for p in got] == [0, 1, 2, 4, 5]
    np.testing.assert_allclose([list(p.probabilities.values()) for p in got],
                               [list(p.probabilities.values()) for p in want], atol=1e-5)
    assert all(p.absent.get("audio") is None and p.weights["audio"] > 0 for p in got)
    assert [(p.start, p.end) for p in got] == [(u["start"], u["end"]) for u in utts]

    # the span decides the audio: the first two utterances' spans swapped, their predictions move
    (utts[0]["start"], utts[0]["end"]), (utts[1]["start"], utts[1]["end"]) = (
        (utts[1]["start"], utts[1]["end"]), (utts[0]["start"], utts[0]["end"]))
    swapped = tmp_path / "swapped.jsonl"
    swapped.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    moved = audio_vectors(rec, read_corpus(swapped, strict=True).conversations[0])
    kept = audio_vectors(rec, read_corpus(edited, strict=True).conversations[0])
    np.testing.assert_allclose(kept, audio_vectors(rec, {"utterances": items}), atol=1e-5)
    np.testing.assert_allclose(moved[[1, 0]], kept[:2], atol=1e-5)
    assert np.abs(moved[0] - kept[0]).max() > 100 * 1e-5


def audio_vectors(rec, conversation) -> np.ndarray:
    """The audio encoder's vector of every utterance, as the Recognizer computes it ([n, dim])."""
    from altsa.inference.inputs import as_turns

    turns = as_turns(conversation)
    return rec.encode(turns, rec.text_items(turns)).vectors["audio"].numpy()


def test_bad_spans_in_a_transcript_are_one_line_errors_or_absent_audio(transcript, ta_run, tmp_path, capsys):
    need_recordings_extra()
    obj = transcript.to_dict()
    obj["utterances"][2]["end"] = obj["utterances"][2]["start"]  # end not after start: the input is wrong
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(obj) + "\n", encoding="utf-8")
    assert main(["predict", str(ta_run), str(bad), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert "utterance 2: span: end" in err and "is not after start" in err

    # a span past the end of the file (a transcript of a longer take): audio absent, text read
    obj = transcript.to_dict()
    obj["utterances"] = obj["utterances"][:2]
    for u in obj["utterances"]:
        u["start"], u["end"] = 600.0, 601.0
    (tmp_path / "late.jsonl").write_text(json.dumps(obj) + "\n", encoding="utf-8")
    late = rows(["predict", str(ta_run), str(tmp_path / "late.jsonl"), "--json"], capsys)
    assert len(late) == 2
    assert all(r["absent"]["audio"] == "span_outside_file" and r["weights"]["audio"] == 0 for r in late)
