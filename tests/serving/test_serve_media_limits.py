"""Hostile clips: refused from their header (413) before decoding, and decoding that outlives
its request is stopped rather than left to hold an inference thread."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from altsa.data.media import DecodeTimeout
from altsa.serving.app import create_app
from altsa.serving.config import ServeSettings

OK = {"speaker": "A", "text": "hello there"}


def _err(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.json()
    return r.json()["error"]["message"]


def test_video_bomb_is_refused_from_its_header(client, hostile):
    bomb = hostile["bomb"]  # ~30 KB holding a 16-megapixel frame
    conv = json.dumps({"utterances": [OK]})
    r = client.post("/v1/predict", data={"conversation": conv}, files={"media_0": ("bomb.mp4", bomb)})
    msg = _err(r, 413, "clip_too_large")
    assert "4000x4000" in msg and "max_pixels 2073600" in msg
    sid = client.post("/v1/sessions").json()["id"]
    _err(client.post(f"/v1/sessions/{sid}/utterances", data={"text": "hi"}, files={"video": ("b.mp4", bomb)}), 413, "clip_too_large")
    assert client.get(f"/v1/sessions/{sid}").json()["turns"] == 0
    assert client.get("/v1/limits").json()["max_video_pixels"] == 1920 * 1080


def test_frame_count_and_audio_caps(make_client, hostile):
    client = make_client(max_video_frames=10, max_audio_rate=8000)
    conv = json.dumps({"utterances": [OK]})
    r = client.post("/v1/predict", data={"conversation": conv}, files={"video_0": ("v.mp4", hostile["frames20"])})
    assert "20 frames > max_frames 10" in _err(r, 413, "clip_too_large")
    r = client.post("/v1/predict", data={"conversation": conv}, files={"audio_0": ("a.wav", hostile["wav"])})
    assert "sample rate 16000 Hz > max 8000" in _err(r, 413, "clip_too_large")
    assert client.get("/v1/limits").json()["max_audio_rate"] == 8000  # a client can read every cap it meets
    client = make_client(max_audio_channels=1)
    assert client.get("/v1/limits").json()["max_audio_channels"] == 1
    r = client.post("/v1/predict", data={"conversation": conv}, files={"audio_0": ("a.wav", hostile["stereo"])})
    assert "2 audio channels > max 1" in _err(r, 413, "clip_too_large")
    assert client.post("/v1/predict", data={"conversation": conv}, files={"audio_0": ("a.wav", hostile["wav"])}).status_code == 200


# --------------------------------------------------------------------------- cancelled decoding


@pytest.fixture(scope="module")
def audio_recognizer(tmp_path_factory):
    """A tiny text+audio run: its recognizer decodes every uploaded clip itself."""
    from altsa.inference import Recognizer
    from altsa.inference.tiny import save_tiny_run

    return Recognizer.from_pretrained(save_tiny_run(tmp_path_factory.mktemp("runs") / "text-audio", modalities=("text", "audio")))


class LateDecoder:
    """Fault injection: the real recognizer, whose calls first wait for ``gate`` (released by
    the test once the request has timed out), then record how the real call ended."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.labels, self.modalities = inner.labels, inner.modalities
        self.entered, self.gate, self.done = threading.Event(), threading.Event(), threading.Event()
        self.outcome: object = None

    def info(self):
        return self.inner.info()

    def stream(self):
        return self.inner.stream()

    def _call(self, fn, *args, **kwargs):
        self.entered.set()
        self.gate.wait(10)
        try:
            self.outcome = fn(*args, **kwargs)
            return self.outcome
        except BaseException as e:
            self.outcome = e
            raise
        finally:
            self.done.set()

    def predict(self, conv):
        return self._call(self.inner.predict, conv)

    def add_many(self, items, return_exceptions=False):
        return self._call(self.inner.add_many, items, return_exceptions=return_exceptions)


def test_decoding_after_the_request_timed_out_is_stopped(audio_recognizer, hostile):
    late = LateDecoder(audio_recognizer)
    settings = ServeSettings(request_timeout_s=0.5, inference_threads=1)
    with TestClient(base_url="http://localhost", app=create_app(late, settings)) as client, ThreadPoolExecutor(1) as pool:
        conv = json.dumps({"utterances": [OK]})
        first = pool.submit(client.post, "/v1/predict", data={"conversation": conv}, files={"audio_0": ("a.wav", hostile["wav"])})
        assert late.entered.wait(10)
        _err(first.result(timeout=10), 504, "timeout")  # the client has its answer
        late.gate.set()  # the job resumes past its deadline: the recognizer's own decoding stops at once
        assert late.done.wait(10)
        assert isinstance(late.outcome, DecodeTimeout), late.outcome
        for _ in range(100):
            if client.app.state.service.runner.jobs == 0:
                break
            time.sleep(0.02)
        assert client.app.state.service.runner.jobs == 0
        r = client.post("/v1/predict", data={"conversation": conv}, files={"audio_0": ("a.wav", hostile["wav"])})
        assert r.status_code == 200 and "audio" not in r.json()["predictions"][0]["absent"]


def test_a_session_turn_whose_decoding_times_out_is_not_recorded(audio_recognizer, hostile):
    late = LateDecoder(audio_recognizer)
    settings = ServeSettings(request_timeout_s=0.5, inference_threads=1)
    with TestClient(base_url="http://localhost", app=create_app(late, settings)) as client, ThreadPoolExecutor(1) as pool:
        sid = client.post("/v1/sessions").json()["id"]
        turn = pool.submit(client.post, f"/v1/sessions/{sid}/utterances", data={"text": "hi"},
                           files={"audio": ("a.wav", hostile["wav"])})  # fmt: skip
        assert late.entered.wait(10)
        time.sleep(0.7)  # past the request timeout while the batch is held
        late.gate.set()
        _err(turn.result(timeout=10), 504, "timeout")
        assert isinstance(late.outcome, DecodeTimeout), late.outcome
        assert client.get(f"/v1/sessions/{sid}").json()["turns"] == 0
        late.entered.clear()
        r = client.post(f"/v1/sessions/{sid}/utterances", data={"text": "again"}, files={"audio": ("a.wav", hostile["wav"])})
        assert r.status_code == 200 and client.get(f"/v1/sessions/{sid}").json()["turns"] == 1
