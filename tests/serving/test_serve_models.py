"""One server, several models: the default at /, the others the page offers under
/models/<name>/ (loaded on their first request), listed by GET /v1/models."""

from __future__ import annotations

from fastapi.testclient import TestClient

from altsa.serving.app import create_app

CONV = {"dialogue_id": "d", "utterances": [{"speaker": "Ann", "text": "I can't believe you did that!"},
                                           {"speaker": "Bob", "text": "Sorry, it was an accident."}]}


def test_models_lists_default_and_offered(recognizer):
    app = create_app(recognizer, offer={"second": recognizer})
    with TestClient(base_url="http://localhost", app=app) as client:
        listed = client.get("/v1/models").json()
        assert [m["path"] for m in listed] == ["/", "/models/second/"]
        assert listed[0]["default"] and not listed[1]["default"] and listed[1]["loaded"] is False
        sub = client.post("/models/second/v1/predict", json=CONV)
        assert sub.status_code == 200, sub.text
        assert sub.json() == client.post("/v1/predict", json=CONV).json()  # same recognizer: same answer
        assert client.get("/v1/models").json()[1]["loaded"] is True
        page = client.get("/models/second/")
        assert page.status_code == 200 and 'id="model-select"' in page.text


def test_an_offered_model_that_fails_to_load_answers_503(recognizer):
    app = create_app(recognizer, offer={"missing": "no-such-bundled-model"})
    with TestClient(base_url="http://localhost", app=app) as client:
        r = client.get("/models/missing/v1/model")
        assert r.status_code == 503
        error = r.json()["error"]
        assert error["code"] == "model_unavailable" and "no-such-bundled-model" in error["message"]
        assert client.post("/v1/predict", json=CONV).status_code == 200  # the default model is unaffected


def test_page_api_paths_are_relative_to_the_model():
    from altsa.serving.app import STATIC

    js = (STATIC / "app.js").read_text()
    assert "fetch(url(path)" in js and 'fetch("/v1/models")' in js
    assert 'fetch("/v1/' not in js.replace('fetch("/v1/models")', "")  # every other call goes through url()


def test_serve_takes_the_model_as_option_or_argument_not_two(capsys):
    from altsa.cli.main import main

    assert main(["serve", "meld-text-minilm", "--model", "meld-text-accurate"]) == 2
    assert "two models given" in capsys.readouterr().err
    assert main(["serve", "--model", "no-such-model-or-dir"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-model-or-dir" in err and len(err.splitlines()) == 1


def test_an_offered_model_sweeps_its_idle_sessions_by_itself(recognizer):
    """A model loaded on demand runs its own lifespan: its background sweep drops idle
    sessions without a request to that model (a mounted app gets no lifespan events)."""
    import time

    from altsa.serving.config import ServeSettings

    app = create_app(recognizer, ServeSettings(session_idle_s=0.4), offer={"second": recognizer})
    with TestClient(base_url="http://localhost", app=app) as client:
        assert client.post("/models/second/v1/sessions").status_code == 201
        assert client.get("/models/second/healthz").json()["sessions"] == 1  # /healthz does not sweep
        time.sleep(1.2)  # the sweep runs every idle/2 = 0.2 s
        assert client.get("/models/second/healthz").json()["sessions"] == 0
