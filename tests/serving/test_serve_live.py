"""A real uvicorn on a free loopback port: the endpoints over TCP, and clients that misbehave
at the socket level (disconnect mid-upload, send garbage) without harming the server."""

from __future__ import annotations

import socket

import httpx


def test_endpoints_over_tcp(live_server, media):
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        assert "labels" in c.get("/v1/model").json()
        r = c.post("/v1/predict", json={"utterances": [{"speaker": "A", "text": "I'm so happy for you!"}]})
        assert r.status_code == 200 and r.json()["predictions"][0]["label"]
        sid = c.post("/v1/sessions").json()["id"]
        r = c.post(f"/v1/sessions/{sid}/utterances", data={"speaker": "B", "text": "What?!"},
                   files={"media": ("t.wav", media["wav"], "audio/wav")})  # fmt: skip
        assert r.status_code == 200, r.text
        assert len(c.get(f"/v1/sessions/{sid}").json()["timeline"]) == 1
        assert c.delete(f"/v1/sessions/{sid}").status_code == 204
        assert c.get("/").status_code == 200


def _raw(port: int, data: bytes, *, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_misbehaving_clients_leave_the_server_serving(live_server):
    port = live_server.port
    # declares 500 KB of multipart, sends 1 KB, vanishes
    head = (b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 500000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"audio_0\"; filename=\"a.wav\"\r\n\r\n")  # fmt: skip
    for _ in range(5):
        _raw(port, head + b"\0" * 1024, read=False)
    # over the 1 MB limit by declaration: refused before the body is read
    reply = _raw(port, b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000000\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413") and b'"too_large"' in reply
    # not HTTP at all
    assert _raw(port, b"\x16\x03\x01 garbage garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    # a JSON body of random bytes
    reply = _raw(port, b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 8\r\nConnection: close\r\n\r\n\x00\xff{]}\x01\x02\x03")  # fmt: skip
    assert reply.startswith(b"HTTP/1.1 400") and b"malformed_json" in reply
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        r = c.post("/v1/predict", json={"utterances": [{"text": "Still here?"}]})
        assert r.status_code == 200


def test_malformed_framing_gets_uvicorns_plain_400_as_documented(live_server):
    """The one error outside the JSON shape: uvicorn's parser answers before the app exists
    for the request. docs/serving.md says so, with this exact body."""
    from pathlib import Path

    reply = _raw(live_server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Line\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: text/plain" in head.lower()
    docs = (Path(__file__).resolve().parents[2] / "docs" / "serving.md").read_text()
    assert body.decode() in docs and "plain-text" in docs
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    make_test = readme.index("make test")
    assert ".ci/install-chromium.sh" in readme[make_test : make_test + 400]  # said next to the command
