"""Every endpoint with the bundled model, through FastAPI's TestClient."""

from __future__ import annotations

import json

import pytest

CONV = [
    {"speaker": "Monica", "text": "There's nothing to tell! He's just some guy I work with!"},
    {"speaker": "Joey", "text": "C'mon, you're going out with the guy! There's gotta be something wrong with him!"},
    {"speaker": "Chandler", "text": "All right Joey, be nice. So does he have a hump?"},
    {"speaker": "Monica", "text": "Oh my God, I am so happy, this is the best day ever!"},
]


def _check_prediction(p: dict, labels: list[str]) -> None:
    assert p["label"] in labels
    assert set(p["probabilities"]) == set(labels)
    assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert p["confidence"] == pytest.approx(max(p["probabilities"].values()))
    assert p["probabilities"][p["label"]] == pytest.approx(p["confidence"])
    assert set(p["weights"]) == {"text", "audio", "video"}
    assert sum(p["weights"].values()) == pytest.approx(1.0, abs=1e-4)


def test_health_model_limits(client, recognizer):
    h = client.get("/healthz")
    assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["sessions_enabled"] is True
    m = client.get("/v1/model").json()
    assert m["labels"] == recognizer.labels and m["modalities"] == recognizer.modalities == ["text"]
    assert "text" in m["encoders"] and m["version"]
    lim = client.get("/v1/limits").json()
    assert lim["max_text_chars"] == 2000 and lim["sessions_enabled"] is True
    from altsa.serving.config import ServeSettings

    server_side = {"max_queue", "max_requests", "max_connections"}  # the server's own capacity, not a client's limit
    limits = {f for f in ServeSettings.__dataclass_fields__
              if f.startswith(("max_", "session_idle", "request_timeout")) and f not in server_side}
    assert limits <= set(lim), limits - set(lim)  # every limit a request can meet is published


def test_openapi_documents_routes_and_models(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for route in ("/healthz", "/v1/model", "/v1/predict", "/v1/sessions", "/v1/sessions/{session_id}",
                  "/v1/sessions/{session_id}/utterances"):  # fmt: skip
        assert route in paths
    body = paths["/v1/predict"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    for name in ("ConversationIn", "UtteranceIn", "PredictionOut", "ErrorOut", "TimelineOut"):
        assert name in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_predict_json(client, recognizer):
    r = client.post("/v1/predict", json={"dialogue_id": "d1", "utterances": CONV})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["dialogue_id"] == "d1" and len(out["predictions"]) == len(CONV)
    for p, u in zip(out["predictions"], CONV):
        _check_prediction(p, recognizer.labels)
        assert p["speaker"] == u["speaker"] and p["text"] == u["text"]
        assert p["weights"]["text"] == pytest.approx(1.0)  # text-only model
    assert [p["key"] for p in out["predictions"]] == [f"d1/{i}" for i in range(len(CONV))]
    # the service adds nothing of its own: same answer as the library call
    direct = recognizer.predict({"dialogue_id": "d1", "utterances": CONV})
    assert [p["label"] for p in out["predictions"]] == [d.label for d in direct]
    assert out["predictions"][3]["probabilities"] == pytest.approx(direct[3].probabilities, abs=1e-6)


def test_predict_multipart_with_a_clip(client, media):
    files = {"media_1": ("tone.wav", media["wav"], "audio/wav"), "video_2": ("clip.mp4", media["video"], "video/mp4")}
    r = client.post("/v1/predict", data={"conversation": json.dumps({"utterances": CONV})}, files=files)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    # the text-only model cannot use the clips: reported as absent, never an error
    assert preds[1]["absent"]["audio"] == "model_has_no_audio"
    assert preds[2]["absent"]["video"] == "model_has_no_video"
    assert preds[0]["absent"]["audio"] == "not_provided"


def test_session_lifecycle(client, recognizer):
    sid = client.post("/v1/sessions").json()["id"]
    turns = []
    for i, u in enumerate(CONV):
        r = client.post(f"/v1/sessions/{sid}/utterances", json=u)
        assert r.status_code == 200, r.text
        p = r.json()
        _check_prediction(p, recognizer.labels)
        assert p["text"] == u["text"]
        # causal: a turn's answer is the whole-conversation answer on the conversation so far
        prefix = recognizer.predict(CONV[: i + 1])[-1]
        assert p["label"] == prefix.label
        assert p["probabilities"] == pytest.approx(prefix.probabilities, abs=1e-4)
        turns.append(p)
    tl = client.get(f"/v1/sessions/{sid}").json()
    assert tl["id"] == sid and tl["turns"] == len(CONV)
    assert [t["label"] for t in tl["timeline"]] == [t["label"] for t in turns]
    assert client.get("/healthz").json()["sessions"] == 1
    assert client.delete(f"/v1/sessions/{sid}").status_code == 204
    assert client.get(f"/v1/sessions/{sid}").status_code == 404
    assert client.get("/healthz").json()["sessions"] == 0


def test_session_turn_multipart(client, media):
    sid = client.post("/v1/sessions").json()["id"]
    r = client.post(
        f"/v1/sessions/{sid}/utterances",
        data={"speaker": "Ross", "text": "Hi."},
        files={"audio": ("tone.wav", media["wav"], "audio/wav")},
    )
    assert r.status_code == 200, r.text
    assert r.json()["speaker"] == "Ross" and r.json()["absent"]["audio"] == "model_has_no_audio"


def test_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        a = client.get(asset)
        assert a.status_code == 200 and len(a.content) > 500
    page = r.text + client.get("/static/app.js").text
    assert "http://" not in page.replace("http://127.0.0.1", "") and "https://" not in page  # no CDN


def test_uploaded_audio_reaches_a_multimodal_model(tmp_path, media):
    """With a text+audio model (a tiny random run of the real classes), an uploaded clip is
    decoded and weighed by the fusion; a turn without one has audio weight 0."""
    from fastapi.testclient import TestClient

    from altsa.inference import Recognizer
    from altsa.inference.tiny import save_tiny_run
    from altsa.serving.app import create_app

    rec = Recognizer.from_pretrained(save_tiny_run(tmp_path / "av", modalities=("text", "audio")))
    client = TestClient(base_url="http://localhost", app=create_app(rec))
    assert client.get("/v1/model").json()["modalities"] == ["text", "audio"]
    conv = json.dumps({"utterances": CONV[:2]})
    r = client.post("/v1/predict", data={"conversation": conv}, files={"audio_1": ("t.wav", media["wav"], "audio/wav")})
    assert r.status_code == 200, r.text
    first, second = r.json()["predictions"]
    assert first["weights"]["audio"] == 0 and first["absent"]["audio"] == "not_provided"
    assert second["weights"]["audio"] > 0 and "audio" not in second["absent"]
    sid = client.post("/v1/sessions").json()["id"]
    r = client.post(f"/v1/sessions/{sid}/utterances", data={"text": "Hi!"}, files={"media": ("t.wav", media["wav"])})
    assert r.status_code == 200 and r.json()["weights"]["audio"] > 0
