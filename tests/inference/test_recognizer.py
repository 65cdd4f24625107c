"""Recognizer API: predictions, probabilities, weights, absent modalities, input forms."""

from __future__ import annotations

import io
import json
import math
import wave

import numpy as np
import pytest

from altsa.data.schema import Conversation, Utterance
from altsa.errors import DataError, ModelError
from altsa.inference import Recognizer, UtterancePrediction



def sine(seconds: float = 1.0, rate: int = 16000, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def wav_bytes(x: np.ndarray, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def test_predict_round_trip(text_rec, conversation):
    conv = conversation(6)
    preds = text_rec.predict(conv)
    assert len(preds) == 6
    for i, (p, u) in enumerate(zip(preds, conv)):
        assert isinstance(p, UtterancePrediction)
        assert (p.position, p.speaker, p.text, p.key) == (i, u["speaker"], u["text"], f"conversation/{i}")
        assert list(p.probabilities) == text_rec.labels
        assert math.isclose(sum(p.probabilities.values()), 1.0, abs_tol=1e-5)
        assert p.label == max(p.probabilities, key=p.probabilities.get)
        assert p.confidence == p.probabilities[p.label]
        assert p.weights == pytest.approx({"text": 1.0, "audio": 0.0, "video": 0.0})
        assert p.absent == {"audio": "not_provided", "video": "not_provided"}
        d = p.to_dict()
        assert json.loads(json.dumps(d)) == d
        assert {"dialogue_id", "position", "speaker", "text", "label", "confidence", "probabilities",
                "weights", "absent"} <= set(d)


def test_input_forms_agree(text_rec, conversation):
    conv = conversation(4)
    base = [p.probabilities for p in text_rec.predict(conv)]
    utts = [Utterance("d", i, u["speaker"], u["text"]) for i, u in enumerate(conv)]
    forms = [
        Conversation("d", utts),
        utts,
        {"dialogue_id": "d", "utterances": conv},
        list(reversed([{**u, "position": i} for i, u in enumerate(conv)])),  # sorted by position
    ]
    for form in forms:
        got = [p.probabilities for p in text_rec.predict(form)]
        for a, b in zip(got, base):
            assert a == pytest.approx(b, abs=1e-6)


def test_predict_batch_equals_single(text_rec, conversation):
    a, b = conversation(3), conversation(6)[3:]
    batch = text_rec.predict_batch([a, b])
    for conv, preds in zip((a, b), batch):
        single = text_rec.predict(conv)
        for x, y in zip(preds, single):
            assert x.probabilities == pytest.approx(y.probabilities, abs=1e-5)


def test_text_only_model_ignores_audio_and_says_so(text_rec, tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(wav_bytes(sine()))
    preds = text_rec.predict([
        {"speaker": "A", "text": "hello there", "audio": str(clip)},
        {"speaker": "B", "text": "hi", "video": b"\x00\x01", "audio": sine()},
    ])
    assert preds[0].absent == {"audio": "model_has_no_audio", "video": "not_provided"}
    assert preds[1].absent == {"audio": "model_has_no_audio", "video": "model_has_no_video"}
    assert preds[0].weights["audio"] == 0.0


def test_audio_model_reports_each_absence(av_rec, tmp_path):
    rec = av_rec
    assert rec.modalities == ["text", "audio"]
    clip = tmp_path / "a.wav"
    clip.write_bytes(wav_bytes(sine()))
    preds = rec.predict([
        {"speaker": "A", "text": "array", "audio": sine()},
        {"speaker": "A", "text": "path", "audio": str(clip)},
        {"speaker": "B", "text": "bytes", "audio": wav_bytes(sine(hz=330))},
        {"speaker": "B", "text": "missing", "audio": str(tmp_path / "nope.wav")},
        {"speaker": "A", "text": "garbage", "audio": b"not a media file at all" * 10},
        {"speaker": "A", "text": "silent", "audio": np.zeros(16000, np.float32)},
        {"speaker": "B", "text": "none"},
    ])
    for p in preds[:3]:
        assert "audio" not in p.absent
        assert p.weights["audio"] > 0
        assert p.weights["text"] + p.weights["audio"] == pytest.approx(1.0, abs=1e-5)
    reasons = [p.absent.get("audio") for p in preds[3:]]
    assert reasons == ["missing_file", "unreadable", "silent", "not_provided"]
    for p in preds[3:]:
        assert p.weights["audio"] == 0.0 and p.weights["text"] == pytest.approx(1.0)
    assert all(p.absent["video"] == "not_provided" for p in preds)
    # the same waveform as an array, a file and bytes gives the same prediction
    again = rec.predict([{"speaker": "A", "text": "array", "audio": str(clip)}])[0]
    assert again.probabilities == pytest.approx(preds[0].probabilities, abs=1e-4)


def test_media_only_utterance(av_rec):
    rec = av_rec
    for given in ({"speaker": "A", "text": "", "audio": sine()}, {"speaker": "A", "audio": sine()}):
        (p,) = rec.predict([given])  # empty or missing text with a clip: text absent, not an error
        assert p.absent["text"] == "not_provided" and p.text == ""
        assert p.weights["audio"] == pytest.approx(1.0) and p.weights["text"] == 0.0


def test_info(text_rec, text_run):
    info = text_rec.info()
    assert info["labels"] == text_rec.labels == ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"]
    assert info["modalities"] == text_rec.modalities == ["text"]
    assert info["causal"] is True and info["streaming"].startswith("O(1)")
    assert info["encoders"]["text"]["kind"] == "hf-text"
    assert info["name"] == text_run.name and info["version"]
    json.dumps(info)


@pytest.mark.parametrize(
    "bad, message",
    [
        ([{"speaker": "A", "text": ""}], "no text and no audio or video"),
        ([{"speaker": "A", "text": "   "}], "no text and no audio or video"),
        ([{"speaker": "A", "text": "\u200b\ufeff\u0000"}], "no text and no audio or video"),
        ([{"speaker": "A", "text": "a\ud800b"}], "'text' is not valid Unicode: it holds a lone surrogate (U+D800)"),
        ([{"speaker": "\udc00", "text": "hi"}], "'speaker' is not valid Unicode"),
        ([{"speaker": "A"}], "no text and no audio or video"),
        ([{"speaker": "A", "text": 3}], "'text' must be a string"),
        ([{"speaker": ["A"], "text": "hi"}], "'speaker' must be a string"),
        ([{"text": "hi", "position": "x"}], "'position' must be an integer"),
        ([{"text": "hi", "audio": 3.5}], "'audio' must be a file path, bytes or an array"),
        ([{"text": "a", "position": 1}, {"text": "b", "position": 1}], "duplicate position"),
        ([], "no utterances"),
        (42, "expected a conversation"),
        ({"dialogue_id": "x"}, "'utterances'"),
    ],
)
def test_bad_input_is_one_line_data_error(text_rec, bad, message):
    with pytest.raises(DataError) as err:
        text_rec.predict(bad)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_model_is_model_error():
    with pytest.raises(ModelError, match="no run directory or bundled model"):
        Recognizer.from_pretrained("no-such-model-or-dir")


@pytest.mark.parametrize("call", [
    lambda r: r.predict_batch(None), lambda r: r.predict_corpus(None), lambda r: r.predict_corpus(3),
    lambda r: r.add_many(None), lambda r: r.add_many(["hi"]), lambda r: r.add_many([(object(), "hi")]),
    lambda r: r.add_many([(r.stream(), "a", 3)]),
], ids=["batch-None", "corpus-None", "corpus-3", "add_many-None", "add_many-str", "add_many-object", "add_many-triple"])
def test_wrong_containers_are_one_line_data_errors(text_rec, call):
    with pytest.raises(DataError) as err:
        call(text_rec)
    assert "expects" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs, error", [({"run_or_name": None}, "ModelError"), ({"run_or_name": 3}, "ModelError"),
                                           ({"run_or_name": "meld-text-minilm", "threads": "x"}, "ConfigError"),
                                           ({"run_or_name": "meld-text-minilm", "threads": 0}, "ConfigError")])
def test_from_pretrained_with_wrong_types_is_a_clear_error(kwargs, error):
    from altsa import errors
    from altsa.inference import Recognizer

    with pytest.raises(getattr(errors, error)):
        Recognizer.from_pretrained(**kwargs)
