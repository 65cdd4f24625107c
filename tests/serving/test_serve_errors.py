"""Every bad input gets a 4xx with ``{"error": {"code", "message"}}``, never a 500.

The TestClient raises server exceptions in the test, so a bug reached by any of these
inputs fails here instead of hiding behind the catch-all 500 handler.
"""

from __future__ import annotations

import json
import time

import pytest

from altsa.serving.app import create_app
from altsa.serving.config import ServeSettings

OK = {"speaker": "A", "text": "hello there"}


def _err(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"] and "\n" not in body["error"]["message"]
    return body["error"]


JSON_CASES = [
    # (name, raw body, status, code)
    ("malformed", b'{"utterances": [', 400, "malformed_json"),
    ("empty body", b"", 400, "malformed_json"),
    ("not utf-8", b"\xff\xfe{", 400, "malformed_json"),
    ("array", b"[1, 2]", 422, "invalid_request"),
    # a bare scalar is JSON too, and no conversation (a 500 once: the duplicate-key walk took it for a list)
    ("null", b"null", 422, "invalid_request"),
    ("number", b"1.5", 422, "invalid_request"),
    ("true", b"true", 422, "invalid_request"),
    ("string", b'"aaaa"', 422, "invalid_request"),
    ("NaN", b'{"utterances": [{"text": "hi"}], "dialogue_id": NaN}', 400, "malformed_json"),
    ("Infinity", b"-Infinity", 400, "malformed_json"),
    ("no utterances", b"{}", 422, "invalid_request"),
    ("zero utterances", b'{"utterances": []}', 422, "invalid_request"),
    ("text wrong type", b'{"utterances": [{"text": 5}]}', 422, "invalid_request"),
    ("utterance wrong type", b'{"utterances": ["hi"]}', 422, "invalid_request"),
    ("text missing", b'{"utterances": [{"speaker": "A"}]}', 422, "invalid_request"),
    ("text null", b'{"utterances": [{"text": null}]}', 422, "invalid_request"),
    ("unknown field", b'{"utterances": [{"text": "hi", "emotion": "joy"}]}', 422, "invalid_request"),
    ("empty text", b'{"utterances": [{"text": ""}]}', 422, "empty_text"),
    ("blank text", b'{"utterances": [{"text": "hi"}, {"text": " \\n\\t "}]}', 422, "empty_text"),
    ("zero-width text", b'{"utterances": [{"text": "\\u200b\\u200d"}]}', 422, "empty_text"),
    ("BOM and NUL text", b'{"utterances": [{"text": "\\ufeff\\u0000\\u0007"}]}', 422, "empty_text"),
    ("media path", b'{"utterances": [{"text": "hi", "media": "/etc/passwd"}]}', 422, "path_not_allowed"),
    ("audio path", b'{"utterances": [{"text": "hi", "audio": "../../secret.wav"}]}', 422, "path_not_allowed"),
    ("video path", b'{"utterances": [{"text": "hi", "video": "/dev/zero"}]}', 422, "path_not_allowed"),
    ("long speaker", json.dumps({"utterances": [{"speaker": "x" * 201, "text": "hi"}]}).encode(), 422, "invalid_request"),
    ("text too long", json.dumps({"utterances": [{"text": "x" * 2001}]}).encode(), 413, "text_too_long"),
    ("too many", json.dumps({"utterances": [OK] * 201}).encode(), 413, "too_many_utterances"),
    # JSON keeps the last of a repeated key; which one the client meant is open
    ("text twice", b'{"utterances": [{"text": "I love it", "text": "I hate it"}]}', 422, "duplicate_key"),
    ("utterances twice", b'{"utterances": [{"text": "a"}], "utterances": [{"text": "b"}]}', 422, "duplicate_key"),
]


@pytest.mark.parametrize("name,body,status,code", JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_bad_predict_json(client, name, body, status, code):
    r = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    _err(r, status, code)


@pytest.mark.parametrize(
    "body,status,code",
    [
        (b'{"text": ""}', 422, "empty_text"),
        (b'{"text": "hi", "media": "/etc/passwd"}', 422, "path_not_allowed"),
        (b'{"text": 3}', 422, "invalid_request"),
        (b"{", 400, "malformed_json"),
        (b'{"speaker": "A", "text": "hi", "speaker": "B"}', 422, "duplicate_key"),
        (b"true", 422, "invalid_request"),
        (b"null", 422, "invalid_request"),
    ],
)
def test_bad_turn_json(client, body, status, code):
    sid = client.post("/v1/sessions").json()["id"]
    _err(client.post(f"/v1/sessions/{sid}/utterances", content=body), status, code)
    assert client.get(f"/v1/sessions/{sid}").json()["turns"] == 0  # a refused turn leaves no trace


@pytest.mark.parametrize("key", ["media", "audio", "path"])
def test_path_not_allowed_names_the_field(client, key):
    """The message is filled in: pydantic fills only a bare {field}, not {field!r}."""
    body = {"utterances": [{"text": "hi", key: "/etc/passwd"}]}
    e = _err(client.post("/v1/predict", json=body), 422, "path_not_allowed")
    assert e["message"].startswith(f"field '{key}' would name a file on the server"), e["message"]
    assert "{" not in e["message"] and "/etc/passwd" not in e["message"]


def test_paths_in_form_fields_are_refused(client):
    """A path sent as a text form field is an unexpected field, never opened."""
    sid = client.post("/v1/sessions").json()["id"]
    r = client.post(f"/v1/sessions/{sid}/utterances", data={"text": "hi", "audio": "/etc/passwd"},
                    files={"media": ("x.wav", b"", "audio/wav")})  # fmt: skip
    _err(r, 422, "invalid_request")
    r = client.post("/v1/predict", data={"conversation": json.dumps({"utterances": [{"text": "hi", "media": "/etc/hosts"}]})},
                    files={"audio_0": ("x.wav", b"RIFF", "audio/wav")})  # fmt: skip
    _err(r, 422, "path_not_allowed")


def test_unknown_session(client):
    for method, path in [("get", "/v1/sessions/nope"), ("delete", "/v1/sessions/nope"),
                         ("post", "/v1/sessions/nope/utterances")]:  # fmt: skip
        kwargs = {"json": OK} if method == "post" else {}
        _err(getattr(client, method)(path, **kwargs), 404, "unknown_session")


def test_routing_errors(client):
    _err(client.get("/v1/nothing"), 404, "not_found")
    _err(client.get("/v1/predict"), 405, "method_not_allowed")
    _err(client.post("/v1/predict", content=b"text: hi", headers={"content-type": "text/plain"}), 415, "unsupported_media_type")


def test_oversize_bodies(make_client, media):
    client = make_client(max_upload_mb=0.01)  # 10 KiB
    big = {"utterances": [{"text": "y" * 1500}] * 8}
    e = _err(client.post("/v1/predict", json=big), 413, "too_large")  # declared Content-Length
    assert "max_upload_mb" in e["message"]

    def chunks():  # no Content-Length: cut off while streaming
        for _ in range(40):
            yield b" " * 1024

    _err(client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"}), 413, "too_large")
    sid = client.post("/v1/sessions").json()["id"]
    r = client.post(f"/v1/sessions/{sid}/utterances", data={"text": "hi"},
                    files={"audio": ("big.wav", media["long_wav"], "audio/wav")})  # fmt: skip
    _err(r, 413, "too_large")
    _err(client.post("/v1/predict", content=b"{}", headers={"content-length": "abc"}), 400, "bad_request")


@pytest.mark.parametrize(
    "clip,field,status,code",
    [
        ("corrupt", "audio", 422, "bad_media"),
        ("garbage", "media", 422, "bad_media"),
        ("garbage", "video", 422, "bad_media"),
        ("video", "audio", 422, "bad_media"),  # a video without sound given as the audio
        ("wav", "video", 422, "bad_media"),  # sound given as the video
        ("long_wav", "audio", 413, "clip_too_long"),
    ],
)
def test_bad_clips(make_client, media, clip, field, status, code):
    client = make_client(max_clip_seconds=2.0)
    sid = client.post("/v1/sessions").json()["id"]
    r = client.post(f"/v1/sessions/{sid}/utterances", data={"text": "hi"}, files={field: ("c.bin", media[clip])})
    _err(r, status, code)
    assert client.get(f"/v1/sessions/{sid}").json()["turns"] == 0
    r = client.post("/v1/predict", data={"conversation": json.dumps({"utterances": [OK]})},
                    files={f"{field}_0": ("c.bin", media[clip])})  # fmt: skip
    _err(r, status, code)


def test_bad_multipart(client, media):
    conv = json.dumps({"utterances": [OK]})
    _err(client.post("/v1/predict", data={"conversation": conv}, files={"audio_5": ("a.wav", media["wav"])}), 422, "invalid_request")
    _err(client.post("/v1/predict", data={"conversation": conv}, files={"picture_0": ("a.png", b"x")}), 422, "invalid_request")
    _err(client.post("/v1/predict", data={"other": "1"}, files={"audio_0": ("a.wav", media["wav"])}), 422, "invalid_request")
    _err(client.post("/v1/predict", data={"conversation": "{not json"}, files={"audio_0": ("a.wav", media["wav"])}), 400, "malformed_json")
    # a multipart header without a body that parses
    r = client.post("/v1/predict", content=b"--xx\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=xx"})
    assert 400 <= r.status_code < 500 and "error" in r.json()


@pytest.mark.parametrize("fields", [{"audio_\u00b2": 0}, {"audio_" + "9" * 40: 0}, {"audio_0": 0, "audio_00": 0},
                                    {"audio_-1": 0}, {"audio_": 0}, {"audio_ 0": 0}])
def test_clip_fields_that_name_no_single_utterance(client, media, fields):
    """Superscript digits (``str.isdigit`` is True, ``int`` refuses them), a 40-digit index,
    two names for one utterance's clip: 422, never a 500 or a clip silently replaced."""
    conv = json.dumps({"utterances": [OK, OK]})
    files = {name: ("a.wav", media["wav"]) for name in fields}
    _err(client.post("/v1/predict", data={"conversation": conv}, files=files), 422, "invalid_request")


def test_utterances_are_counted_before_they_are_validated(make_client):
    """Over max_utterances is 413 at once, even when every item is invalid (validating a
    million bad items first cost gigabytes and blocked the server)."""
    client = make_client(max_utterances=3, max_text_chars=10)
    r = client.post("/v1/predict", json={"utterances": [1] * 4})
    assert _err(r, 413, "too_many_utterances")["message"].startswith("4 utterances")
    multipart = {"conversation": (None, json.dumps({"utterances": [{}] * 4}))}
    _err(client.post("/v1/predict", files=multipart), 413, "too_many_utterances")
    # within the limits, the count and every field are still checked as before
    _err(client.post("/v1/predict", json={"utterances": [1] * 3}), 422, "invalid_request")


def test_a_json_body_is_bounded_before_it_is_parsed(make_client):
    """Bytes over what the limits can hold, or more JSON values than such turns can have
    (a million keys or empty lists), are 413 before any parsing: they cost seconds and
    hundreds of MB of the event loop otherwise."""
    client = make_client(max_utterances=3, max_text_chars=10)
    limit = 3 * (12 * 210 + 3072) + 65536  # ServeSettings.max_json_bytes(3), written out
    values = 3 * (10 + 216) + 64  # structural characters a 3-turn conversation may have
    post = lambda body: client.post("/v1/predict", content=body, headers={"content-type": "application/json"})  # noqa: E731
    big = b'{"utterances": [{"text": "' + b"a" * limit + b'"}]}'
    assert "bytes is over" in _err(post(big), 413, "too_large")["message"]
    keys = b"{" + b",".join(b'"k%d":1' % i for i in range(values)) + b"}"
    assert len(keys) < limit
    assert "values or more is over" in _err(post(keys), 413, "too_large")["message"]
    _err(post(b'{"x": [' + b"[]," * values + b'[]], "utterances": [{"text": "hi"}]}'), 413, "too_large")
    # just under the value budget: parsed, then pydantic names the first unknown key only
    few = b'{"utterances": [{"text": "hi", "a": 1, "b": [1, 2], "c": {}}]}'
    assert "utterances.0.a" in _err(post(few), 422, "invalid_request")["message"]
    sid = client.post("/v1/sessions").json()["id"]
    turn = json.dumps({"text": "hi", "speaker": "A" * (1 * (12 * 210 + 3072) + 65536)})
    _err(client.post(f"/v1/sessions/{sid}/utterances", content=turn, headers={"content-type": "application/json"}),
         413, "too_large")


@pytest.mark.parametrize("body", [
    b'{"utterances": [{"text": "\\ud800 hi"}]}',  # a lone surrogate: no text can hold it
    '{"utterances": [{"text": "hi"}]}'.encode("utf-16"),  # not UTF-8
    b'\xef\xbb\xbf{"utterances": [{"text": "hi"}]}',  # a byte-order mark
    b'{"utterances": [{"text": "hi"}]} trailing',
    b"[" * 5000 + b"]" * 5000,  # deeper than the parser goes
    b'{"utterances": [{"text": "hi", "n": ' + b"9" * 5000 + b"}]}",  # an integer of 5,000 digits
])
def test_bodies_that_are_no_json_text_are_400(client, body):
    r = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    _err(r, 400, "malformed_json")


def test_a_form_text_field_over_the_part_cap_is_413(make_client):
    client = make_client(max_utterances=1, max_text_chars=10)  # part cap: 1 MiB
    r = client.post("/v1/predict", files={"conversation": (None, "x" * (1 << 20) + "x")})
    _err(r, 413, "too_large")


@pytest.mark.parametrize("body, status", [(b"", 201), (b"{}", 201), (b' { } ', 201), (b'{"id": "mine"}', 422),
                                          (b"hello", 422), (b"[]", 422)])
def test_opening_a_session_takes_no_body(client, body, status):
    r = client.post("/v1/sessions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    if status == 422:
        _err(r, 422, "invalid_request")


def test_session_turn_and_session_caps(make_client, clock):
    client = make_client(max_turns=2, max_sessions=2, session_idle_s=60)
    a = client.post("/v1/sessions").json()["id"]
    for _ in range(2):
        assert client.post(f"/v1/sessions/{a}/utterances", json=OK).status_code == 200
    _err(client.post(f"/v1/sessions/{a}/utterances", json=OK), 409, "session_full")
    client.post("/v1/sessions")
    r = client.post("/v1/sessions")
    _err(r, 429, "too_many_sessions")
    assert int(r.headers["retry-after"]) >= 1
    clock.advance(61)  # both sessions idle past the expiry: room again, without sleeping
    assert client.post("/v1/sessions").status_code == 201
    _err(client.get(f"/v1/sessions/{a}"), 404, "unknown_session")


def test_sessions_refused_with_several_workers(recognizer):
    from fastapi.testclient import TestClient

    client = TestClient(base_url="http://localhost", app=create_app(recognizer, ServeSettings(workers=2)))
    _err(client.post("/v1/sessions"), 501, "sessions_unavailable")
    _err(client.post("/v1/sessions/x/utterances", json=OK), 501, "sessions_unavailable")
    assert client.post("/v1/predict", json={"utterances": [OK]}).status_code == 200
    assert client.get("/healthz").json()["sessions_enabled"] is False


@pytest.mark.parametrize("max_queue", [0, 4])
def test_overload_and_timeouts(stalling, max_queue):
    """One inference thread, held by a stalled call: that call gets 504 at its timeout but
    keeps its thread (no unbounded pile-up), so the next gets 503 (queue full, or timed out
    before it started); once the stall ends the server answers normally."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    settings = ServeSettings(request_timeout_s=0.5, max_queue=max_queue, inference_threads=1)
    with TestClient(base_url="http://localhost", app=create_app(stalling, settings)) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/v1/predict", json={"utterances": [OK]})
        assert stalling.entered.wait(10)
        e = _err(client.post("/v1/predict", json={"utterances": [OK]}), 503, "busy")
        assert "busy" in e["message"]
        _err(first.result(timeout=10), 504, "timeout")
        _err(client.post("/v1/predict", json={"utterances": [OK]}), 503, "busy")  # thread still held
        assert client.get("/healthz").status_code == 200  # the event loop was never blocked
        stalling.gate.set()
        for _ in range(100):  # the abandoned call finishes in the background and frees its thread
            if client.app.state.service.runner.jobs == 0:
                break
            time.sleep(0.05)
        assert client.post("/v1/predict", json={"utterances": [OK]}).status_code == 200


def test_catch_all_is_json_for_real_bugs(recognizer):
    """Only a genuine bug reaches the 500 handler; it answers JSON without internals."""
    from fastapi.testclient import TestClient

    app = create_app(recognizer, ServeSettings())

    @app.get("/boom")
    async def boom():
        raise RuntimeError("secret internal detail")

    r = TestClient(base_url="http://localhost", app=app, raise_server_exceptions=False).get("/boom")
    e = _err(r, 500, "internal")
    assert "secret" not in e["message"]


def test_requests_in_flight_are_capped(stalling):
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    with TestClient(base_url="http://localhost", app=create_app(stalling, ServeSettings(max_requests=1))) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/v1/predict", json={"utterances": [OK]})
        assert stalling.entered.wait(10)
        e = _err(client.get("/v1/model"), 503, "busy")
        assert "max_requests" in e["message"]
        assert client.get("/healthz").status_code == 200  # exempt: health answers under load
        stalling.gate.set()
        assert first.result(timeout=10).status_code == 200
        assert client.get("/v1/model").status_code == 200


def test_a_clip_with_no_decoder_is_a_bad_clip_not_a_500(client):
    """A WAV whose header names no codec FFmpeg can decode (bits per sample 0)."""
    wav = (b"RIFF4\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00\x02\x00\x00\x00"
           b"data\x10\x00\x00\x00" + b"\x00" * 16)
    conv = json.dumps({"utterances": [OK]})
    r = client.post("/v1/predict", data={"conversation": conv}, files={"audio_0": ("a.wav", wav)})
    assert 400 <= r.status_code < 500 and "codec" in r.json()["error"]["message"], r.text
    sid = client.post("/v1/sessions").json()["id"]
    r = client.post(f"/v1/sessions/{sid}/utterances", data={"text": "hi"}, files={"media": ("a.wav", wav)})
    assert 400 <= r.status_code < 500 and "codec" in r.json()["error"]["message"], r.text


def test_a_deeply_nested_session_body_is_422(client):
    r = client.post("/v1/sessions", content=b"[" * 1000, headers={"content-type": "application/json"})
    _err(r, 422, "invalid_request")


def test_what_a_client_sent_is_echoed_on_one_printable_line(client):
    r = client.post("/v1/predict", content=b'{"utterances": [{"text": "Hi!"}], "a\\r\\nb\\u001b[31m\\u2028": 1}',
                    headers={"content-type": "application/json"})
    message = _err(r, 422, "invalid_request")["message"]
    assert not any(c in message for c in "\r\n\x1b\u2028") and "a\\x0d\\x0ab\\x1b[31m\\u2028" in message


def test_a_long_bare_string_body_costs_no_more_than_its_size():
    """The duplicate-key walk once built a tuple per character of a top-level string
    (5.9 MB of body: +600 MB and a second of a blocked event loop)."""
    import tracemalloc

    from altsa.data.readers.jsonl import duplicate_keys, loads

    parsed = loads('"' + "a" * 1_000_000 + '"')
    tracemalloc.start()
    assert duplicate_keys(parsed) == []
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100_000  # bytes: nothing per character
