"""``Recognizer.predict_recording``: the transcript's utterances labelled from their text,
audio and video, with their times (tiny random runs: the plumbing is the real one)."""

from __future__ import annotations

import numpy as np
import pytest
from recording_helpers import LINES, need_recordings_extra, video_file

from altsa.recordings import RecordingConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tav_rec(tmp_path_factory, tiny_roberta, tiny_data2vec, tiny_timesformer):
    from altsa.inference import Recognizer
    from altsa.inference.tiny import save_tiny_run

    encoders = {"text": tiny_roberta, "audio": tiny_data2vec, "video": tiny_timesformer}
    run = save_tiny_run(tmp_path_factory.mktemp("runs") / "tav", encoders, modalities=("text", "audio", "video"))
    return Recognizer.from_pretrained(run)


def test_predict_transcript_reads_text_audio_and_video(tav_rec, transcript, conversation, tmp_path, monkeypatch):
    need_recordings_extra()
    preds = tav_rec.predict_transcript(transcript)
    assert len(preds) == len(LINES)
    for p, u in zip(preds, transcript.utterances):
        assert (p.text, p.speaker, p.position) == (u.text, u.speaker, u.position)
        assert (p.start, p.end) == (u.start, u.end)
        assert p.absent == {"video": "not_provided"}  # a wav: no frames
        assert p.weights["text"] > 0 and p.weights["audio"] > 0 and p.weights["video"] == 0
        d = p.to_dict()
        assert d["start"] == p.start and d["end"] == p.end
    # the same predictions as labelling the transcript's items directly
    direct = tav_rec.predict({"dialogue_id": "talk", "utterances": transcript.items()})
    np.testing.assert_allclose([p.confidence for p in preds], [p.confidence for p in direct], atol=1e-6)

    # a video of the conversation: frames are decoded per utterance and read by the model
    _, wave, _ = conversation
    path = video_file(tmp_path / "talk.mp4", wave.size / 16000, audio=wave)
    video_preds, t = tav_rec.predict_recording(path, RecordingConfig(speakers=2, threads=1), return_transcript=True)
    assert len(video_preds) == len(LINES) and t.info.video
    assert all(p.absent == {} and p.weights["video"] > 0 for p in video_preds), [(p.absent, p.weights) for p in video_preds]
    assert [p.speaker for p in video_preds] == ["Speaker 1", "Speaker 2"] * 3
    # its transcript names the video and each span: predicting from it reads the same audio and frames
    from altsa.data.readers import read_corpus, write_jsonl

    again = tav_rec.predict_corpus(read_corpus(write_jsonl([t.conversation], tmp_path / "talk.jsonl"), strict=True))
    assert [(p.key, p.text, p.start, p.end, p.absent) for p in again] == [
        (p.key, p.text, p.start, p.end, p.absent) for p in video_preds]
    np.testing.assert_allclose([list(p.probabilities.values()) + list(p.weights.values()) for p in again],
                               [list(p.probabilities.values()) + list(p.weights.values()) for p in video_preds],
                               atol=2e-3)  # the span's frames are decoded by seeking: a few 1e-4 apart


def test_no_speech_predicts_nothing(text_only_rec, tmp_path):
    need_recordings_extra()
    from altsa.recordings.synthetic import write

    path = write(tmp_path / "quiet.wav", np.zeros(3 * 16000, np.float32))
    preds, t = text_only_rec.predict_recording(path, return_transcript=True)
    assert preds == [] and t.notices[0].startswith("no speech found")


@pytest.fixture(scope="module")
def text_only_rec(tmp_path_factory, tiny_roberta, tiny_data2vec):
    from altsa.inference import Recognizer
    from altsa.inference.tiny import save_tiny_run

    run = save_tiny_run(tmp_path_factory.mktemp("runs") / "t", {"text": tiny_roberta, "audio": tiny_data2vec})
    return Recognizer.from_pretrained(run)


def test_text_model_reports_the_audio_it_cannot_use(text_only_rec, transcript):
    preds = text_only_rec.predict_transcript(transcript)
    assert [p.text for p in preds] == [u.text for u in transcript.utterances]
    assert all(p.absent == {"audio": "model_has_no_audio", "video": "not_provided"} for p in preds)


def test_a_video_recording_given_to_a_model_without_video_says_so(text_only_rec, conversation, tmp_path):
    """The file's frames were there: the reason is the model's, not a missing input."""
    need_recordings_extra()
    _, wave, _ = conversation
    path = video_file(tmp_path / "talk.mp4", wave.size / 16000, audio=wave)
    preds = text_only_rec.predict_recording(path, RecordingConfig(speakers=2, threads=1))
    assert preds and all(p.absent == {"audio": "model_has_no_audio", "video": "model_has_no_video"} for p in preds)
