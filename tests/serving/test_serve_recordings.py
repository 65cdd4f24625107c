"""``POST /v1/recordings``: a recording uploaded raw or as a form gives its emotion timeline;
every bad upload is a JSON 4xx naming the problem (recordings made here: eSpeak NG speech,
PyAV containers)."""

from __future__ import annotations

import struct

import av
import numpy as np
import pytest

pytestmark = pytest.mark.slow

LINES = [(0, "I cannot believe we finally won the final."), (1, "Honestly, I was sure we would lose it.")]


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory) -> bytes:
    pytest.importorskip("faster_whisper", reason="the recordings extra is not installed: pip install 'altsa[recordings]'")
    from altsa.recordings import synthetic

    if not synthetic.available():
        pytest.skip("no English speech synthesiser: pip install espeakng-loader (dev extra) or apt-get install espeak-ng")
    wave, _ = synthetic.assemble(LINES, pause_s=1.0)
    return synthetic.write(tmp_path_factory.mktemp("rec") / "talk.wav", wave, rate=22050, channels=2).read_bytes()


def _check_timeline(body: dict, recognizer) -> None:
    preds = body["predictions"]
    assert len(preds) == len(LINES), [p["text"] for p in preds]
    assert body["speakers"] == 2 and body["video"] is False and body["language"] == "en"
    assert [p["speaker"] for p in preds] == ["Speaker 1", "Speaker 2"]
    for p, prev in zip(preds, [None, *preds]):
        assert p["label"] in recognizer.labels and 0 < p["confidence"] <= 1
        assert 0 <= p["start"] < p["end"] <= body["duration"]
        assert prev is None or prev["end"] <= p["start"]
    assert "won" in preds[0]["text"].lower()
    assert set(body["timings"]) >= {"decode", "vad", "asr", "total"}


def test_raw_upload_gives_the_timeline(client, recognizer, speech_wav):
    r = client.post("/v1/recordings?speakers=2", content=speech_wav, headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    _check_timeline(r.json(), recognizer)


def test_form_upload_with_speakers_field(client, recognizer, speech_wav):
    r = client.post("/v1/recordings", files={"recording": ("talk.wav", speech_wav, "audio/wav")}, data={"speakers": "2"})
    assert r.status_code == 200, r.text
    _check_timeline(r.json(), recognizer)


def _wav(seconds: float, wave: np.ndarray | None = None) -> bytes:
    from altsa.recordings.synthetic import write
    import tempfile
    from pathlib import Path

    wave = np.zeros(int(seconds * 16000), np.float32) if wave is None else wave
    with tempfile.TemporaryDirectory() as tmp:
        return write(Path(tmp) / "a.wav", wave).read_bytes()


def _video_only() -> bytes:
    import io

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width = vs.height = 32
        vs.pix_fmt = "yuv420p"
        for k in range(10):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(np.full((32, 32, 3), k, np.uint8), format="rgb24")))
        out.mux(vs.encode(None))
    return buf.getvalue()


def test_silence_is_an_empty_timeline_with_a_notice(client):
    pytest.importorskip("faster_whisper", reason="the recordings extra is not installed")
    r = client.post("/v1/recordings", content=_wav(3.0), headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["predictions"] == [] and body["notices"][0].startswith("no speech found")


def _error(r, status: int, code: str, words: str) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and words in err["message"], err


def test_bad_uploads_are_json_4xx(make_client):
    pytest.importorskip("faster_whisper", reason="the recordings extra is not installed")
    client = make_client(max_recording_minutes=0.04, max_upload_mb=1.0)
    audio = {"Content-Type": "audio/wav"}
    good = _wav(2.0, (0.1 * np.sin(np.arange(32000) / 5.0)).astype(np.float32))
    _error(client.post("/v1/recordings", content=b"this is not audio" * 50, headers=audio), 422, "bad_media",
           "not a readable audio or video file")
    _error(client.post("/v1/recordings", content=good[: len(good) // 2], headers=audio), 422, "bad_media", "truncated")
    odd = bytearray(good)
    at = odd.find(b"fmt ")
    odd[at + 8 : at + 10] = struct.pack("<H", 0x1234)
    _error(client.post("/v1/recordings", content=bytes(odd), headers=audio), 422, "bad_media", "unsupported audio codec")
    _error(client.post("/v1/recordings", content=_video_only(), headers={"Content-Type": "video/mp4"}), 422,
           "bad_media", "has no audio stream")
    _error(client.post("/v1/recordings", content=_wav(3.0), headers=audio), 413, "recording_too_long",
           "longer than max_recording_minutes 0.04")  # 3 s > 2.4 s, from the header
    _error(client.post("/v1/recordings", content=b"", headers=audio), 422, "bad_media", "empty")
    _error(client.post("/v1/recordings", content=b"x" * (2 << 20), headers=audio), 413, "too_large", "")
    _error(client.post("/v1/recordings", content=good, headers={"Content-Type": "text/plain"}), 415,
           "unsupported_media_type", "audio/*")
    _error(client.post("/v1/recordings?speakers=0", content=good, headers=audio), 422, "invalid_request", "speakers")
    _error(client.post("/v1/recordings", files={"clip": ("a.wav", good, "audio/wav")}), 422, "invalid_request", "'clip'")
    _error(client.post("/v1/recordings", files={"recording": ("a.wav", good, "audio/wav")}, data={"speakers": "two"}),
           422, "invalid_request", "speakers")


def test_too_many_utterances_and_limits_listed(make_client, speech_wav):
    client = make_client(max_utterances=1)
    r = client.post("/v1/recordings", content=speech_wav, headers={"Content-Type": "audio/wav"})
    _error(r, 413, "too_many_utterances", "2 utterances found, over max_utterances 1")
    assert client.get("/v1/limits").json()["max_recording_minutes"] == 10.0
    assert "/v1/recordings" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("speakers", ["\u00b2", "9" * 5000, "-1", "65"], ids=["superscript", "5000-digits", "negative", "65"])
def test_a_speaker_count_that_is_no_small_number_is_422(client, speakers):
    r = client.post("/v1/recordings", files={"recording": ("a.wav", b"RIFF....", "audio/wav")}, data={"speakers": speakers})
    _error(r, 422, "invalid_request", "speakers must be a whole number from 1 to 64")


def test_speakers_given_twice_is_422(client):
    r = client.post("/v1/recordings?speakers=2", files={"recording": ("a.wav", b"RIFF....", "audio/wav")},
                    data={"speakers": "3"})
    _error(r, 422, "invalid_request", "speakers given twice")


def test_speakers_twice_in_the_query_or_the_form_is_422_not_one_of_them(client):
    wav = {"recording": ("a.wav", b"RIFF....", "audio/wav")}
    _error(client.post("/v1/recordings?speakers=2&speakers=3", files=wav), 422, "invalid_request",
           "speakers given twice in the query")
    _error(client.post("/v1/recordings", files=wav, data={"speakers": ["2", "3"]}), 422, "invalid_request",
           "form field 'speakers' given twice")
