"""GET /metrics (Prometheus) moves as traffic says, and --log-format json writes one line per
request without what people said (unless --log-text)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

CONV = {"dialogue_id": "d", "utterances": [{"speaker": "Ann", "text": "I can't believe you did that!"},
                                           {"speaker": "Bob", "text": "Sorry, it was an accident."},
                                           {"speaker": "Ann", "text": "Great. Just great."}]}  # fmt: skip


def scrape(client) -> dict[tuple[str, tuple], float]:
    """GET /metrics -> {(sample name, sorted labels): value}."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text[:200]
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(samples, name: str, **labels) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


def test_metrics_are_off_unless_asked(client):
    assert client.get("/metrics").status_code == 404


def test_traffic_moves_the_counters(make_client, media):
    client = make_client(metrics=True, max_text_chars=100, max_sessions=1)
    before = scrape(client)
    assert total(before, "altsa_requests_total") == 0 and total(before, "altsa_sessions_active") == 0

    labels = []
    for _ in range(2):
        r = client.post("/v1/predict", json=CONV)
        assert r.status_code == 200
        labels += [p["label"] for p in r.json()["predictions"]]
    assert client.post("/v1/predict", json={"utterances": [{"text": "x" * 101}]}).status_code == 413
    sid = client.post("/v1/sessions").json()["id"]
    assert client.post("/v1/sessions").status_code == 429  # max_sessions 1
    for u in CONV["utterances"]:
        r = client.post(f"/v1/sessions/{sid}/utterances", json=u)
        labels.append(r.json()["label"])
    r = client.post(f"/v1/sessions/{sid}/utterances", data={"speaker": "Bob", "text": "Listen."},
                    files={"audio": ("a.wav", media["wav"])})  # fmt: skip
    labels.append(r.json()["label"])
    assert client.get(f"/v1/sessions/{sid}").status_code == 200
    assert client.get("/v1/sessions/nope").status_code == 404
    assert client.get("/v1/model", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/nothing/here").status_code == 404

    m = scrape(client)
    assert total(m, "altsa_requests_total", route="/v1/predict", method="POST", status="200") == 2
    assert total(m, "altsa_requests_total", route="/v1/predict", status="413") == 1
    assert total(m, "altsa_requests_total", route="/v1/sessions/{session_id}/utterances", status="200") == 4
    assert total(m, "altsa_requests_total", route="/v1/sessions/{session_id}", method="GET") == 2  # route, not the id
    assert total(m, "altsa_requests_total", route="unmatched") == 2  # the bad Host (refused before routing), /nothing
    assert not any("nope" in str(k) or sid in str(k) for k in m)  # no series per session
    assert total(m, "altsa_request_seconds_count", route="/v1/predict") == 3
    assert total(m, "altsa_request_seconds_sum", route="/v1/predict") > 0
    # label drift: every answered utterance once, under its label
    assert total(m, "altsa_predictions_total") == len(labels) == 10
    for label in set(labels):
        assert total(m, "altsa_predictions_total", label=label) == labels.count(label)
    # the text-only model used no audio: the uploaded clip is counted as such; others not provided
    assert total(m, "altsa_absent_modalities_total", modality="audio", reason="model_has_no_audio") == 1
    assert total(m, "altsa_absent_modalities_total", modality="audio") == 10
    assert total(m, "altsa_sessions_active") == 1
    batcher = client.app.state.service.batcher
    assert total(m, "altsa_batch_turns_count") == batcher.batches and total(m, "altsa_batch_turns_sum") == batcher.turns == 4
    assert total(m, "altsa_rejected_total", code="text_too_long") == 1
    assert total(m, "altsa_rejected_total", code="too_many_sessions") == 1
    assert total(m, "altsa_rejected_total", code="host_not_allowed") == 1
    assert total(m, "altsa_rejected_total", code="unknown_session") == 0  # a 404 is no limit
    client.delete(f"/v1/sessions/{sid}")
    assert total(scrape(client), "altsa_sessions_active") == 0


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def access_lines():
    """What the ``altsa.access`` logger writes (held directly: a live server earlier in the
    run may have configured it not to propagate, as ``altsa serve`` does)."""
    logger = logging.getLogger("altsa.access")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_json_log_lines_say_what_happened_but_not_what_was_said(make_client, access_lines):
    client = make_client(log_format="json")
    r = client.post("/v1/predict", json=CONV)
    sid = client.post("/v1/sessions").json()["id"]
    client.post(f"/v1/sessions/{sid}/utterances", json={"speaker": "A", "text": "secret words"})
    client.post("/v1/predict", json={"utterances": [{"text": ""}]})
    lines = access_lines
    assert len(lines) == 4
    first = lines[0]
    assert first["method"] == "POST" and first["route"] == "/v1/predict" and first["status"] == 200
    assert first["labels"] == [p["label"] for p in r.json()["predictions"]] and first["bytes_in"] > 0 and first["ms"] > 0
    assert lines[2]["session"] == sid and lines[2]["route"] == "/v1/sessions/{session_id}/utterances"
    assert lines[3]["status"] == 422 and lines[3]["error"] == "empty_text"
    blob = json.dumps(lines)
    assert "secret words" not in blob and "believe" not in blob and "texts" not in blob


def test_log_text_adds_the_texts(make_client, access_lines):
    client = make_client(log_format="json", log_text=True)
    client.post("/v1/predict", json=CONV)
    (line,) = access_lines
    assert line["texts"] == [u["text"] for u in CONV["utterances"]]


@pytest.mark.slow
def test_altsa_serve_json_log_on_stdout_and_metrics(tmp_path: Path, altsa_script):
    """The documented command line: --log-format json lines on stdout, /metrics with
    --metrics, connection-level refusals counted there too."""
    from altsa.inference.tiny import save_tiny_run

    run = save_tiny_run(tmp_path / "tiny")
    proc = subprocess.Popen([altsa_script, "serve", str(run), "--port", "0", "--log-format", "json", "--metrics",
                             "--header-timeout", "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    try:
        port = None
        deadline = time.monotonic() + 120
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "server exited"
            found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else None
        url = f"http://127.0.0.1:{port}"
        assert httpx.post(url + "/v1/predict", json=CONV).status_code == 200
        import socket

        with socket.create_connection(("127.0.0.1", port)) as s:  # sends nothing: closed at the header timeout
            s.settimeout(10)
            assert s.recv(100).startswith(b"HTTP/1.1 408")
        metrics = httpx.get(url + "/metrics").text
        assert 'altsa_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in metrics
        assert 'altsa_rejected_total{code="header_timeout"} 1.0' in metrics
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert any(x["route"] == "/v1/predict" and x["status"] == 200 for x in lines), out
    assert all("texts" not in x for x in lines)


def test_a_request_to_an_offered_model_is_logged_once_under_its_mount(recognizer, access_lines):
    from fastapi.testclient import TestClient

    from altsa.serving.app import create_app
    from altsa.serving.config import ServeSettings

    app = create_app(recognizer, ServeSettings(log_format="json", metrics=True), offer={"second": recognizer})
    with TestClient(base_url="http://localhost", app=app) as client:
        assert client.post("/models/second/v1/predict", json=CONV).status_code == 200
        assert client.post("/models/second/v1/predict", content=b"null",
                           headers={"content-type": "application/json"}).status_code == 422
        client.post("/v1/predict", json=CONV)
        assert [(line["route"], line["status"]) for line in access_lines] == [
            ("/models/second/v1/predict", 200), ("/models/second/v1/predict", 422), ("/v1/predict", 200)]
        assert access_lines[1]["error"] == "invalid_request" and access_lines[0]["labels"]
        text = client.get("/metrics").text
        assert 'route="/models/second/v1/predict"' in text
