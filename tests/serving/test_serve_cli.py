"""``altsa serve``: settings from defaults, a YAML file and options; bad values exit 2."""

from __future__ import annotations

import pytest

from altsa.cli.main import main
from altsa.errors import ConfigError
from altsa.serving.config import ServeSettings, resolve_settings


def test_settings_layering(tmp_path):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("port: 9000\nmax_sessions: 7\nsession_idle_s: 30\n")
    s = resolve_settings(cfg, {"port": 9100, "max_turns": None})
    assert (s.port, s.max_sessions, s.session_idle_s, s.max_turns) == (9100, 7, 30.0, ServeSettings().max_turns)
    assert s.max_upload_bytes == int(20 * 2**20)


@pytest.mark.parametrize("yaml_text", ["max_sesions: 3\n", "port: many\n", "request_timeout_s: 0\n"])
def test_bad_settings_are_config_errors(tmp_path, yaml_text):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError):
        resolve_settings(cfg)


def test_serve_rejects_bad_options_before_loading(capsys):
    assert main(["serve", "meld-text-minilm", "--max-sessions", "0"]) == 2
    assert "max_sessions must be > 0" in capsys.readouterr().err


def test_serve_unknown_model_is_one_line(capsys):
    assert main(["serve", "no-such-model-or-dir"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "no-such-model-or-dir" in err and len(err.splitlines()) == 1


def test_serve_help_lists_the_limits(capsys):
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--max-upload-mb", "--max-clip-seconds", "--max-text-chars", "--max-turns", "--max-sessions",
                 "--session-idle", "--request-timeout", "--workers"):  # fmt: skip
        assert flag in out


def test_worker_factory_builds_the_app_from_the_env(monkeypatch, model_name):
    """What each ``--workers N`` process runs: the app from ALTSA_SERVE_SPEC, sessions off."""
    import json

    from fastapi.testclient import TestClient

    from altsa.config import to_dict
    from altsa.serving.app import app_from_env

    spec = {"model": model_name, "settings": to_dict(ServeSettings(workers=3, max_text_chars=50))}
    monkeypatch.setenv("ALTSA_SERVE_SPEC", json.dumps(spec))
    client = TestClient(base_url="http://localhost", app=app_from_env())
    assert client.post("/v1/sessions").status_code == 501
    assert client.get("/v1/limits").json()["max_text_chars"] == 50
    assert client.post("/v1/predict", json={"utterances": [{"text": "Hi!"}]}).status_code == 200


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_serve_port_out_of_range_exits_2(capsys, monkeypatch, port):
    """The OS would take 99999 modulo 65536 (34463) while the log named 99999."""
    import uvicorn

    def never(*args, **kwargs):  # without the check the server would start and never return
        raise AssertionError("uvicorn.run reached with an invalid port")

    monkeypatch.setattr(uvicorn, "run", never)
    monkeypatch.setattr(uvicorn.Server, "run", never)
    assert main(["serve", "meld-text-minilm", "--port", port]) == 2
    err = capsys.readouterr().err
    assert "port must be between 0 and 65535" in err and port in err


def test_serve_port_zero_and_max_are_valid():
    assert resolve_settings(None, {"port": 0}).port == 0
    assert resolve_settings(None, {"port": 65535}).port == 65535


def test_serve_missing_config_says_what_a_serve_config_is(capsys):
    assert main(["serve", "meld-text-minilm", "--config", "nope.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no serve config file 'nope.yaml'" in err
    assert "a serve config is a YAML file" in err and "max_sessions" in err
    assert "embedded-frozen" not in err  # not the list of shipped experiment configs


def test_experiment_config_given_as_serve_config(tmp_path, capsys):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("name: x\ndata:\n  corpus: meld\nport: 9000\n")
    assert main(["serve", "meld-text-minilm", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "is not a serve config (unknown keys: data, name)" in err
