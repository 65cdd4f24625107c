"""Load and fault test of ``altsa serve``: a real uvicorn process on loopback, real clients.

    python benchmarks/load_test.py                      # bundled model, 1/2/4/8 clients x 20 turns
    python benchmarks/load_test.py --clients 1,8 --turns 10 --no-write
    python benchmarks/load_test.py --hostile-only          # 8 normal clients alone, then under attack

Load: N concurrent clients (each its own session of ``--turns`` MELD dev turns, sent one after
another as a live conversation would) for each N in ``--clients``: per-turn latency p50/p95,
throughput (turns/s over the wall time), errors (any non-2xx or transport failure), and the
load generator's own CPU per turn (it shares the machine's cores with the server; aiohttp by
default, ``--client httpx`` to compare). Target: 0 errors and p95 at 8 clients under 4x the
single-client p50. That ratio swings by ~10% between runs on a small shared machine (mostly
the 1-client baseline), so the load phase runs ``--runs`` times, each on a fresh server, and
the report lists every run's ratio.

Fault: rounds of clients that disconnect mid-upload, send garbage (random bytes, broken JSON,
corrupt clips, bad multipart), and open sessions without closing them past the live-session
cap. After each round: the server still answers /healthz and a real prediction, and its RSS
(from /proc/<pid>/status) is recorded to show memory stays bounded.

Hostile: a fresh server under ``--server-nofile`` (as ``ulimit -n``); 8 normal clients alone,
then again while an attacker process (nice 10) runs every attack at once: sockets that send
nothing or half a header (reopened as the server closes them), bodies trickling a byte a
second, malformed HTTP framing, decompression bombs. Target: the normal clients keep 0
errors and their p95 within 2x of alone; the report adds the bombs' answers and times, the
server's peak memory, and what became of every hostile connection.

Bounded: requests are counted, every phase has a deadline (``--max-seconds`` overall), the
server is a child process stopped at the end, and only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import dev_conversations, header, percentile, write_results  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """``altsa serve`` as a child process (stopped with SIGINT, then SIGKILL if it hangs)."""

    def __init__(self, model: str, port: int, extra: list[str], nofile: int | None = None):
        self.url = f"http://127.0.0.1:{port}"
        # (-c, not -m altsa.cli.main: as __main__ that module would be a second copy of the CLI)
        cmd = [sys.executable, "-c", "import sys; from altsa.cli.main import main; sys.exit(main())", "serve", model, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", *extra]  # fmt: skip
        self.cmd = cmd
        def limit_fds() -> None:  # like `ulimit -n NOFILE` before starting the server
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.nofile = nofile
        self.proc = subprocess.Popen(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"}, preexec_fn=limit_fds if nofile else None)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit("server did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- load


def dialogues(turns: int, count: int) -> list[list[dict]]:
    """``count`` conversations of ``turns`` turns from MELD dev (dialogues concatenated in
    order until each has enough turns): real utterance lengths and speakers."""
    convs, _ = dev_conversations()
    flat = [{"speaker": u.speaker, "text": u.text} for c in convs for u in c.utterances if u.text.strip()]
    return [[flat[(k * turns + i) % len(flat)] for i in range(turns)] for k in range(count)]


class HttpxClient:
    """One ``httpx.AsyncClient`` (connection pool) shared by a round's clients."""

    errors = (httpx.HTTPError,)

    def __init__(self, url: str, clients: int):
        self.client = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=clients + 2))

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | str]:
        r = await self.client.request(method, path, json=body)
        return r.status_code, (r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text)

    async def close(self) -> None:
        await self.client.aclose()


class AiohttpClient(HttpxClient):
    """The same with ``aiohttp``: about a fifth of httpx's CPU per request, which matters when
    the load generator shares the server's cores (the report records its CPU per turn)."""

    def __init__(self, url: str, clients: int):
        import aiohttp

        self.errors = (aiohttp.ClientError,)
        self.client = aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=60),
                                            connector=aiohttp.TCPConnector(limit=clients + 2))  # fmt: skip

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | str]:
        async with self.client.request(method, path, json=body) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    async def close(self) -> None:
        await self.client.close()


CLIENTS = {"aiohttp": AiohttpClient, "httpx": HttpxClient}


async def one_client(client: HttpxClient, turns: list[dict], latencies: list[float], errors: list[str]) -> None:
    try:
        status, body = await client.request("POST", "/v1/sessions")
        if status != 201:
            errors.append(f"open {status}")
            return
        sid = body["id"]
        for turn in turns:
            t0 = time.perf_counter()
            status, body = await client.request("POST", f"/v1/sessions/{sid}/utterances", turn)
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(f"turn {status} {str(body)[:80]}")
        await client.request("DELETE", f"/v1/sessions/{sid}")
    except client.errors as err:
        errors.append(f"{type(err).__name__}: {err}")


async def load_round(url: str, clients: int, convs: list[list[dict]], deadline: float, kind: str = "aiohttp") -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    client = CLIENTS[kind](url, clients)
    try:
        t0, cpu0 = time.perf_counter(), time.process_time()
        tasks = [one_client(client, convs[k], latencies, errors) for k in range(clients)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            errors.append("round deadline reached")
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        await client.close()
    return summarize(clients, latencies, errors, wall, cpu)


def summarize(clients: int, latencies: list[float], errors: list[str], wall: float, client_cpu: float) -> dict:
    return {
        "client_cpu_ms_per_turn": 1000 * client_cpu / len(latencies) if latencies else float("nan"),
        "client_cpu_s": client_cpu,
        "clients": clients,
        "turns": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "p50_ms": 1000 * percentile(latencies, 50) if latencies else float("nan"),
        "p95_ms": 1000 * percentile(latencies, 95) if latencies else float("nan"),
        "max_ms": 1000 * max(latencies) if latencies else float("nan"),
        "throughput": len(latencies) / wall if wall else 0.0,
        "wall_s": wall,
        "latencies": latencies,
        "errors_all": errors,
    }


def repeated_round(url: str, clients: int, convs: list[list[dict]], deadline: float, repeat: int, kind: str) -> dict:
    """Rounds of ``clients`` concurrent sessions, one after another, pooled, such that every
    client count replays the same turns: ``repeat`` times each of the ``len(convs)``
    conversations (round r plays conversations r*clients ... r*clients + clients - 1, mod
    len(convs)). Why: latency grows with a turn's length, so a 1-client baseline over other
    (e.g. shorter) turns than the 8-client phase would bias the ratio; and a percentile over
    few turns swings by several ms between runs."""
    m = len(convs)
    rounds = [asyncio.run(load_round(url, clients, [convs[(r * clients + k) % m] for k in range(clients)], deadline, kind))
              for r in range(max(1, repeat * m // clients))]  # fmt: skip
    return summarize(clients, [x for r in rounds for x in r["latencies"]], [e for r in rounds for e in r["errors_all"]],
                     sum(r["wall_s"] for r in rounds), sum(r["client_cpu_s"] for r in rounds))


# --------------------------------------------------------------------------- faults


def raw(port: int, data: bytes, *, read: bool) -> bytes:
    """Send bytes on a fresh TCP connection; read the reply, or hang up at once."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(data)
            if not read:
                return b""
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
            return out
    except OSError as err:
        return f"socket error {err}".encode()


def fault_round(url: str, port: int, rng: random.Random, stats: dict, sessions_to_leak: int, sid: str) -> None:
    # 1. disconnect mid-upload: declare 4 MB of multipart, send 256 KB, hang up
    head = (b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=BB\r\n"
            b"Content-Length: 4000000\r\n\r\n--BB\r\nContent-Disposition: form-data; name=\"media_0\"; "
            b"filename=\"c.mp4\"\r\nContent-Type: video/mp4\r\n\r\n")  # fmt: skip
    for _ in range(10):
        raw(port, head + rng.randbytes(256 * 1024), read=False)
        stats["disconnects"] += 1
    # 2. garbage of every kind
    with httpx.Client(base_url=url, timeout=30) as c:
        bad = [
            ("POST", "/v1/predict", {"content": rng.randbytes(2048), "headers": {"content-type": "application/json"}}),
            ("POST", "/v1/predict", {"content": b'{"utterances": [{"text": ', "headers": {"content-type": "application/json"}}),
            ("POST", "/v1/predict", {"json": {"utterances": [{"text": "hi", "media": "/etc/passwd"}]}}),
            ("POST", "/v1/predict", {"json": {"utterances": [{"text": ""}]}}),
            ("POST", "/v1/predict", {"content": rng.randbytes(4096), "headers": {"content-type": "multipart/form-data; boundary=zz"}}),
            ("POST", f"/v1/sessions/{sid}/utterances", {"data": {"text": "hi"}, "files": {"media": ("x.mp4", rng.randbytes(64 * 1024))}}),
            ("POST", f"/v1/sessions/{sid}/utterances", {"data": {"text": "hi"}, "files": {"audio": ("x.wav", b"RIFF" + rng.randbytes(4096))}}),
            ("POST", "/v1/sessions/unknown/utterances", {"json": {"text": "hi"}}),
            ("GET", "/v1/sessions/" + "x" * 3000, {}),
            ("DELETE", "/v1/sessions/unknown", {}),
        ]
        for method, path, kwargs in bad:
            r = c.request(method, path, **kwargs)
            stats["garbage"] += 1
            key = f"{r.status_code}"
            stats["garbage_status"][key] = stats["garbage_status"].get(key, 0) + 1
            if r.status_code >= 500:
                stats["garbage_5xx"].append(f"{method} {path[:40]} -> {r.status_code} {r.text[:100]}")
        raw(port, rng.randbytes(512), read=True)  # not HTTP
        r = c.post(f"/v1/sessions/{sid}/utterances", json={"speaker": "A", "text": "Still there?"})
        stats["probe_turns_ok"].append(r.status_code == 200)  # bad turns left the session usable
        # 3. sessions opened and never closed, past the cap
        for _ in range(sessions_to_leak):
            r = c.post("/v1/sessions")
            stats["leaked_open"][str(r.status_code)] = stats["leaked_open"].get(str(r.status_code), 0) + 1


def fault_run(server: Server, port: int, rounds: int, max_sessions: int, idle_s: float, deadline: float) -> dict:
    rng = random.Random(0)
    stats: dict = {"disconnects": 0, "garbage": 0, "garbage_status": {}, "garbage_5xx": [], "leaked_open": {},
                   "rss_mb": [], "health_ok": [], "predict_ok": [], "probe_turns_ok": []}  # fmt: skip
    stats["rss_mb"].append(round(rss_mb(server.proc.pid), 1))
    # one session, opened before the leaking starts, receives the corrupt clips every round
    sid = httpx.post(server.url + "/v1/sessions", timeout=30).json()["id"]
    for k in range(rounds):
        if time.monotonic() > deadline:
            stats["stopped_early"] = f"deadline after {k} rounds"
            break
        fault_round(server.url, port, rng, stats, sessions_to_leak=max_sessions // 2 + 8, sid=sid)
        with httpx.Client(base_url=server.url, timeout=30) as c:
            stats["health_ok"].append(c.get("/healthz").status_code == 200)
            r = c.post("/v1/predict", json={"utterances": [{"speaker": "A", "text": "Are you okay?"}]})
            stats["predict_ok"].append(r.status_code == 200)
            stats["sessions_live"] = c.get("/healthz").json()["sessions"]
        stats["rss_mb"].append(round(rss_mb(server.proc.pid), 1))
    # the leaked sessions expire: after the idle time, there is room again
    time.sleep(idle_s + 1.0)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/v1/sessions")
        stats["open_after_expiry"] = r.status_code
        stats["sessions_after_expiry"] = c.get("/healthz").json()["sessions"]
    stats["rss_mb"].append(round(rss_mb(server.proc.pid), 1))
    stats["server_alive"] = server.proc.poll() is None
    return stats



# --------------------------------------------------------------------------- hostile


def hwm_mb(pid: int) -> float:
    """Peak resident memory of ``pid`` so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bomb_clip(side: int) -> bytes:
    """A single-frame H.264 mp4 of side x side flat pixels: a few hundred KB that decode to
    side^2 x 1.5 bytes (16000: 384 MB) per picture."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=1)
        st.width = st.height = side
        st.pix_fmt = "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "51"}
        frame = av.VideoFrame(side, side, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for packet in st.encode(frame):
            out.mux(packet)
        for packet in st.encode(None):
            out.mux(packet)
    return buf.getvalue()


MALFORMED = [  # HTTP framing uvicorn's parser refuses before the app sees a request
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Line\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nZZZ\r\nnot a chunk\r\n",
    b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /\x00\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
]


def _status(reply: bytes) -> str:
    if not reply:
        return "closed"
    first = reply.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = first.split(" ")
    return parts[1] if first.startswith("HTTP/") and len(parts) > 1 else "garbled"


async def _read_reply(reader: asyncio.StreamReader, timeout: float) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(4096), timeout)
    except (TimeoutError, ConnectionError):
        return b""


async def hostile_clients(port: int, stop: asyncio.Event, stats: dict, *, idle: int, half: int, slow: int,
                          bombs: dict[str, bytes], url: str, kinds: set[str]) -> None:  # fmt: skip
    """Everything at once until ``stop``: ``idle`` sockets that send nothing and ``half`` that
    send half a header (each reopened when the server closes it), ``slow`` bodies trickling
    a byte a second, malformed HTTP framing, and decompression bombs."""

    def count(key: str, status: str) -> None:
        stats[key][status] = stats[key].get(status, 0) + 1

    async def stuck(partial: bytes, key: str) -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError as err:
                count(key, f"connect error {err.errno}")
                await asyncio.sleep(0.5)
                continue
            stats[key + "_opened"] += 1
            if partial:
                writer.write(partial)
            waiter = asyncio.ensure_future(reader.read(4096))
            done, _ = await asyncio.wait({waiter, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                try:
                    count(key, _status(waiter.result()))
                except ConnectionError:
                    count(key, "reset")
            else:
                waiter.cancel()
            writer.close()
            await asyncio.sleep(0.2)

    async def slow_body() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as err:
            count("slow", f"connect error {err.errno}")
            return
        t0 = time.monotonic()
        writer.write(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n{")  # fmt: skip
        read = asyncio.ensure_future(reader.read(4096))
        while not read.done() and time.monotonic() - t0 < 120:
            try:
                writer.write(b" ")
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait({read}, timeout=1.0)
        reply = read.result() if read.done() and not read.exception() else b""
        if not read.done():
            read.cancel()
        count("slow", _status(reply))
        stats["slow_held_s"].append(round(time.monotonic() - t0, 1))
        writer.close()

    async def malformed() -> None:
        k = 0
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(MALFORMED[k % len(MALFORMED)])
                reply = await _read_reply(reader, 5.0)
                count("malformed", _status(reply))
                if b"text/plain" in reply:
                    stats["malformed_plain_text"] += 1
                writer.close()
            except OSError as err:
                count("malformed", f"connect error {err.errno}")
            k += 1
            await asyncio.sleep(0.1)

    async def bomb_loop() -> None:
        conv1 = json.dumps({"utterances": [{"speaker": "A", "text": "hi"}]})
        conv5 = json.dumps({"utterances": [{"speaker": "A", "text": "hi"}] * 5})
        async with httpx.AsyncClient(base_url=url, timeout=120) as c:
            while not stop.is_set():
                for name, conv, files in [
                    ("16000x16000 x1", conv1, {"media_0": ("bomb.mp4", bombs["16k"], "video/mp4")}),
                    ("8000x8000 x5", conv5, {f"media_{i}": ("bomb.mp4", bombs["8k"], "video/mp4") for i in range(5)}),
                ]:
                    t0 = time.monotonic()
                    try:
                        r = await c.post("/v1/predict", data={"conversation": conv}, files=files)
                        status = str(r.status_code)
                    except httpx.HTTPError as err:
                        status = type(err).__name__
                    stats["bomb_s"].setdefault(name, []).append(round(time.monotonic() - t0, 3))
                    count("bomb", status)
                await asyncio.sleep(0.5)

    tasks = [stuck(b"", "idle") for _ in range(idle)]
    tasks += [stuck(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty", "half") for _ in range(half)]
    tasks += [slow_body() for _ in range(slow)]
    tasks += [malformed()] if "malformed" in kinds else []
    tasks += [bomb_loop()] if "bomb" in kinds else []
    await asyncio.gather(*tasks)


def hostile_process(port: int, url: str, args_dict: dict, conn) -> None:
    """Child process (so the attackers' CPU does not sit in the normal clients' interpreter):
    build the bombs, signal ready, attack until told to stop, send back the stats. It runs at
    a lower CPU priority (nice 10): a real attacker is on another machine, and what is
    measured is what the attack costs the server, not what the attacking script costs these
    shared cores (the report gives the attack's rates)."""
    os.nice(10)
    bombs = {"16k": bomb_clip(16000), "8k": bomb_clip(8000)} if "bomb" in args_dict["kinds"] else {"16k": b"", "8k": b""}
    stats: dict = {k: {} for k in ("idle", "half", "slow", "malformed", "bomb")}
    stats.update(idle_opened=0, half_opened=0, slow_held_s=[], malformed_plain_text=0, bomb_s={},
                 bomb_bytes={k: len(v) for k, v in bombs.items()})  # fmt: skip
    conn.send("ready")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(conn.fileno(), stop.set)  # any message from the parent: stop
        attack = asyncio.ensure_future(hostile_clients(port, stop, stats, idle=args_dict["idle"], half=args_dict["half"],
                                                       slow=args_dict["slow"], bombs=bombs, url=url,
                                                       kinds=args_dict["kinds"]))  # fmt: skip
        t0 = time.monotonic()
        await stop.wait()
        stats["attack_s"] = time.monotonic() - t0
        try:
            await asyncio.wait_for(attack, timeout=90)  # slow bodies end at the server's request timeout
        except TimeoutError:
            stats["unfinished"] = True

    asyncio.run(main())
    conn.send(stats)


def _probe(url: str, method: str, path: str, **kwargs) -> int | str:
    """The status of one request on a fresh connection, or the transport error's name."""
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            return c.request(method, path, **kwargs).status_code
    except httpx.HTTPError as err:
        return type(err).__name__


def hostile_run(args, convs: list[list[dict]], deadline: float) -> dict:
    """A fresh server under ``--server-nofile`` (as ``ulimit -n``): 8 normal clients alone,
    then the same 8 while every hostile client attacks; their p95 and errors compared."""
    import multiprocessing

    port = free_port()
    server = Server(args.model, port, args.server_args, nofile=args.server_nofile)
    out: dict = {"nofile": args.server_nofile}
    try:
        server.wait_ready(timeout=min(180.0, args.max_seconds))
        asyncio.run(load_round(server.url, 8, convs, deadline, args.client))  # warm-up
        out["plain"] = repeated_round(server.url, 8, convs, deadline, args.hostile_repeat, args.client)
        out["rss_before_mb"], out["hwm_before_mb"] = rss_mb(server.proc.pid), hwm_mb(server.proc.pid)
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        kinds = set(args.attacks.split(","))
        counts = {"idle": args.idle_sockets if "idle" in kinds else 0, "half": args.half_headers if "half" in kinds else 0,
                  "slow": args.slow_bodies if "slow" in kinds else 0, "kinds": kinds}  # fmt: skip
        attacker = ctx.Process(target=hostile_process, args=(port, server.url, counts, child), daemon=True)
        attacker.start()
        assert parent.recv() == "ready"
        time.sleep(3.0)  # the sockets pile up before the normal clients start
        out["hostile"] = repeated_round(server.url, 8, convs, deadline, args.hostile_repeat, args.client)
        out["rss_during_mb"], out["hwm_after_mb"] = rss_mb(server.proc.pid), hwm_mb(server.proc.pid)
        out["health_during"] = _probe(server.url, "GET", "/healthz")
        parent.send("stop")
        out["attack"] = parent.recv() if parent.poll(120) else {"error": "no stats from the attacker"}
        attacker.join(10)
        out["health_after"] = _probe(server.url, "GET", "/healthz")
        out["predict_after"] = _probe(server.url, "POST", "/v1/predict", json={"utterances": [{"speaker": "A", "text": "Are you okay?"}]})
        out["rss_after_mb"], out["hwm_final_mb"] = rss_mb(server.proc.pid), hwm_mb(server.proc.pid)
        out["server_alive"] = server.proc.poll() is None
    finally:
        server.stop()
    return out


def hostile_report(args, h: dict) -> list[str]:
    plain, hostile, a = h["plain"], h["hostile"], h.get("attack", {})
    ratio = hostile["p95_ms"] / plain["p95_ms"] if plain["p95_ms"] else float("nan")
    met = hostile["errors"] == 0 and ratio <= 2.0
    bomb_s = {k: f"{statistics.median(v):.2f} / {max(v):.2f}" for k, v in a.get("bomb_s", {}).items()}
    lines = [
        "",
        "## Hostile phase",
        "",
        f"A fresh server started under an open-file limit of {h['nofile']} (as `ulimit -n {h['nofile']}`; "
        f"`max_connections` then defaults to {max(8, min(1000, h['nofile'] - 64))}), server options as above. "
        f"8 normal clients (live sessions of MELD dev turns, {args.hostile_repeat} x 8 conversations) ran alone, "
        f"then again while one attacker process ran, all at once: {args.idle_sockets} sockets that send nothing "
        f"and {args.half_headers} that send half a request header (each reopened 0.2 s after the server closes it), "
        f"{args.slow_bodies} request bodies trickling one byte a second, malformed HTTP framing "
        f"({len(MALFORMED)} kinds, one every 0.1 s), and decompression bombs in a loop (a "
        f"{a.get('bomb_bytes', {}).get('16k', 0) // 1024} KB mp4 holding one 16000x16000 frame; five "
        f"{a.get('bomb_bytes', {}).get('8k', 0) // 1024} KB 8000x8000 clips in one request). Attacks run: "
        f"{args.attacks}.",
        "",
        "| normal clients | turns | errors | p50 ms | p95 ms | max ms | turns/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("alone", plain), ("under attack", hostile)):
        lines.append(f"| {name} | {r['turns']} | {r['errors']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
                     f"{r['max_ms']:.0f} | {r['throughput']:.1f} |")  # fmt: skip
    lines += [
        "",
        f"Target (normal clients 0 errors, p95 under attack within 2x of alone): **{'met' if met else 'not met'}** "
        f"(p95 ratio {ratio:.2f}, errors {hostile['errors']}).",
    ]
    if hostile["error_samples"]:
        lines.append("Error samples: " + "; ".join(hostile["error_samples"]))
    lines += [
        "",
        f"- bombs: answers {json.dumps(a.get('bomb', {}), sort_keys=True)}; median / slowest answer per kind, seen by "
        f"the (niced) attacker, upload included (s): "
        f"{json.dumps(bomb_s, sort_keys=True)}",
        f"- server memory: RSS {h['rss_before_mb']:.0f} MB before the attack, {h['rss_during_mb']:.0f} MB at its end, "
        f"{h['rss_after_mb']:.0f} MB after; peak (VmHWM) {h['hwm_before_mb']:.0f} MB before, "
        f"{h['hwm_final_mb']:.0f} MB at the end (growth {h['hwm_final_mb'] - h['hwm_before_mb']:.0f} MB)",
        f"- attack rate while the normal clients ran ({a.get('attack_s', 0):.0f} s): "
        f"{(a.get('idle_opened', 0) + a.get('half_opened', 0)) / max(a.get('attack_s', 1), 1e-9):.0f} stuck sockets opened "
        f"per second, {sum(a.get('bomb', {}).values()) / max(a.get('attack_s', 1), 1e-9):.1f} bomb requests per second "
        f"(the attacker runs at nice 10 on the same cores)",
        f"- idle sockets: {a.get('idle_opened', 0)} opened, closed by the server with "
        f"{json.dumps(a.get('idle', {}), sort_keys=True)}; half headers: {a.get('half_opened', 0)} opened, "
        f"{json.dumps(a.get('half', {}), sort_keys=True)}",
        f"- slow bodies: {json.dumps(a.get('slow', {}), sort_keys=True)}, held "
        f"{min(a.get('slow_held_s') or [0]):.0f}-{max(a.get('slow_held_s') or [0]):.0f} s each (the request timeout)",
        f"- malformed framing: {json.dumps(a.get('malformed', {}), sort_keys=True)} "
        f"({a.get('malformed_plain_text', 0)} of them uvicorn's plain-text 400)",
        f"- health during the attack: {h['health_during']}; after: health {h['health_after']}, prediction "
        f"{h['predict_after']}; server alive: {h['server_alive']}",
    ]
    return lines


# --------------------------------------------------------------------------- report


def report(args, load: list[dict], faults: dict, rss_start: float, conv_source: str) -> list[str]:
    lines = header(
        "Load and fault test of altsa serve",
        caveat="a 2-core machine that may run other jobs: the load average at start (above) says how busy it was; the load generator shares the 2 cores with the server, "
        "so latencies are upper bounds",
    )
    base = load[0]["p50_ms"] if load and load[0]["clients"] == 1 else float("nan")
    lines += [
        f"Model `{args.model}`, one uvicorn worker, server options `{' '.join(args.server_args)}`; "
        f"each client runs a live session of {args.turns} turns ({conv_source}), one turn after another; "
        f"every client count replays the same turns ({max(args.counts)} conversations, {args.repeat} times each, "
        f"in rounds of that many concurrent sessions, pooled), after one unrecorded warm-up round at the largest "
        f"count. Load generator: {args.client}, in one process on the same cores (its CPU per turn below).",
        f"Server RSS after start and warm-up: {rss_start:.0f} MB.",
        "",
        "| clients | turns | errors | p50 ms | p95 ms | max ms | turns/s | client CPU ms/turn | p95 / (1-client p50) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in load:
        ratio = r["p95_ms"] / base if base == base else float("nan")
        lines.append(f"| {r['clients']} | {r['turns']} | {r['errors']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
                     f"{r['max_ms']:.0f} | {r['throughput']:.1f} | {r['client_cpu_ms_per_turn']:.2f} | {ratio:.2f} |")  # fmt: skip
    eight = next((r for r in load if r["clients"] == 8), None)
    if eight and base == base:
        met = eight["errors"] == 0 and eight["p95_ms"] < 4 * base
        lines += ["", f"Target (0 errors, p95 at 8 clients < 4 x 1-client p50 = {4 * base:.0f} ms): "
                      f"**{'met' if met else 'not met'}** in the run above."]  # fmt: skip
        ratios = getattr(args, "ratios", [])
        if len(ratios) > 1:
            under = sum(r < 4 for r in ratios)
            lines.append(f"Over {len(ratios)} runs, each on a fresh server (the table is the last): p95 / (1-client p50) = "
                         f"{', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f}); "
                         f"under 4 in {under} of {len(ratios)}.")  # fmt: skip
        if not met:
            cycle = 8000 / eight["throughput"] if eight["throughput"] else float("nan")
            lines.append(
                f"Why: at 8 clients a round of 8 turns takes about {cycle:.0f} ms of this machine "
                f"({eight['throughput']:.0f} turns/s, the load generator on the same 2 cores), so the median turn "
                f"already waits about that long (p50 {eight['p50_ms']:.0f} ms), while a lone turn needs one encoder "
                f"pass ({base:.0f} ms). The text encoder is compute-bound on a CPU: a packed batch of 4 turns "
                "costs about twice one turn (benchmarks/results/throughput.md), so 8 turns on 2 cores cost about "
                "2 single turns of wall time before HTTP, scheduling and text-length spread; p95 under 4x "
                "needs that spread to stay under ~1.5x (more cores, or a GPU, give the margin)."
            )
    lines += ["", "Session turns are micro-batched (`batch_max_turns`, `batch_wait_ms`: the server's defaults "
                  "unless given above): the turns that arrive together run as one `Recognizer.add_many` call."]
    try:
        lines.append("Load average (1/5/15 min) at the end of the load phase: %.2f/%.2f/%.2f." % args.load_after)
    except (AttributeError, TypeError):
        pass
    errs = [e for r in load for e in r["error_samples"]]
    if errs:
        lines += ["", "Error samples: " + "; ".join(errs)]
    f = faults
    lines += [
        "",
        "## Fault run",
        "",
        f"{len(f['health_ok'])} rounds; each: 10 clients hang up mid-upload (4 MB declared, 256 KB sent), "
        f"10 garbage requests (random bytes as JSON and multipart, truncated JSON, server paths in JSON, empty "
        f"text, corrupt clips, unknown and oversized session ids), one non-HTTP connection, and "
        f"{args.max_sessions // 2 + 8} sessions opened and never closed (cap {args.max_sessions}, idle expiry "
        f"{args.session_idle:g} s).",
        "",
        f"- mid-upload disconnects: {f['disconnects']}; garbage requests: {f['garbage']}, statuses "
        f"{json.dumps(f['garbage_status'], sort_keys=True)}; 5xx among them: {len(f['garbage_5xx'])}",
        f"- leaked session opens: {json.dumps(f['leaked_open'], sort_keys=True)} (429 = refused at the cap)",
        f"- health check OK after every round: {all(f['health_ok'])}; real prediction OK after every round: "
        f"{all(f['predict_ok'])}; the session that got the corrupt clips still takes turns: "
        f"{all(f['probe_turns_ok'])}; server process alive at the end: {f['server_alive']}",
        f"- after the idle expiry: open a session -> {f['open_after_expiry']}, live sessions "
        f"{f['sessions_after_expiry']}",
        f"- server RSS (MB) before the first round, after each round, after expiry: {f['rss_mb']}",
    ]
    if f["garbage_5xx"]:
        lines.append("- 5xx samples: " + "; ".join(f["garbage_5xx"][:3]))
    if f.get("stopped_early"):
        lines.append(f"- stopped early: {f['stopped_early']}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="meld-text-minilm")
    ap.add_argument("--clients", default="1,2,4,8", help="comma-separated client counts")
    ap.add_argument("--turns", type=int, default=20, help="turns per client session")
    ap.add_argument("--repeat", type=int, default=5, help="times each client count replays the conversations")
    ap.add_argument("--client", choices=sorted(CLIENTS), default="aiohttp",
                    help="load generator HTTP client (aiohttp: least CPU beside the server)")
    ap.add_argument("--runs", type=int, default=3,
                    help="load phases, each on a fresh server (the ratio to the target swings between runs)")
    ap.add_argument("--fault-rounds", type=int, default=5)
    ap.add_argument("--max-sessions", type=int, default=40, help="the server's live-session cap")
    ap.add_argument("--session-idle", type=float, default=8.0, help="the server's idle expiry (s)")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="stop every phase after this long overall")
    ap.add_argument("--serve-args", default="", help='more altsa serve options, e.g. "--batch-max-turns 1"')
    ap.add_argument("--no-write", action="store_true", help="print, do not rewrite benchmarks/results/load_test.md")
    ap.add_argument("--hostile", action=argparse.BooleanOptionalAction, default=True,
                    help="run the hostile phase (8 normal clients alone, then under attack)")
    ap.add_argument("--hostile-only", action="store_true",
                    help="only the hostile phase; writes benchmarks/results/load_test_hostile.md")
    ap.add_argument("--hostile-repeat", type=int, default=5, help="times the 8 normal clients replay the conversations, per half")
    ap.add_argument("--server-nofile", type=int, default=200, help="open-file limit of the hostile phase's server")
    ap.add_argument("--idle-sockets", type=int, default=250, help="attacker sockets that send nothing")
    ap.add_argument("--half-headers", type=int, default=50, help="attacker sockets that send half a header")
    ap.add_argument("--slow-bodies", type=int, default=16, help="attacker bodies trickling a byte a second")
    ap.add_argument("--attacks", default="idle,half,slow,malformed,bomb", help="which attacks the hostile phase runs")
    args = ap.parse_args()
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    args.server_args = ["--max-sessions", str(args.max_sessions), "--session-idle", str(args.session_idle),
                        *args.serve_args.split()]
    start = time.monotonic()
    deadline = start + args.max_seconds
    args.counts = counts
    convs = dialogues(args.turns, max(counts))
    _, conv_source = dev_conversations()
    if args.hostile_only:
        hostile = hostile_run(args, convs, deadline)
        print(json.dumps({k: v for k, v in hostile.items() if k not in ("plain", "hostile")}), flush=True)
        lines = header("Hostile phase of the load test of altsa serve", caveat="a 2-core machine shared with other "
                       "jobs: the load average at start (above) says how busy it was; alone and under attack ran "
                       "back to back on the same server, so their ratio is what the target reads")  # fmt: skip
        lines += [f"Model `{args.model}`, server options `{' '.join(args.server_args)}`; load generator {args.client}; "
                  f"MELD dev turns ({conv_source})."]  # fmt: skip
        lines += hostile_report(args, hostile)
        if args.no_write:
            print("\n".join(lines))
        else:
            write_results("load_test_hostile.md", lines)
        return 0 if hostile["hostile"]["errors"] == 0 and hostile["health_after"] == 200 else 1
    ratios: list[float] = []  # p95 at 8 clients / 1-client p50, one per run (each on a fresh server)
    for run in range(args.runs):
        last = run == args.runs - 1
        port = free_port()
        server = Server(args.model, port, args.server_args)
        try:
            server.wait_ready(timeout=min(180.0, args.max_seconds))
            # warm-up (not recorded): the first batches after start also start the inference threads
            asyncio.run(load_round(server.url, max(counts), convs, deadline, args.client))
            rss_start = rss_mb(server.proc.pid)
            load = []
            for n in counts:
                result = repeated_round(server.url, n, convs, deadline, args.repeat, args.client)
                print(json.dumps({"run": run, **{k: v for k, v in result.items()
                                                 if k not in ("error_samples", "latencies", "errors_all")}}), flush=True)  # fmt: skip
                load.append(result)
            by = {r["clients"]: r for r in load}
            if 1 in by and 8 in by:
                ratios.append(by[8]["p95_ms"] / by[1]["p50_ms"])
            if last:
                args.load_after = os.getloadavg()
                faults = fault_run(server, port, args.fault_rounds, args.max_sessions, args.session_idle, deadline)
                print(json.dumps(faults), flush=True)
        finally:
            server.stop()
    args.ratios = ratios
    hostile = None
    if args.hostile:
        hostile = hostile_run(args, convs, deadline + 600)
        print(json.dumps({k: v for k, v in hostile.items() if k not in ("plain", "hostile")}), flush=True)
    lines = report(args, load, faults, rss_start, conv_source)
    if hostile is not None:
        lines += hostile_report(args, hostile)
    if args.no_write:
        print("\n".join(lines))
    else:
        write_results("load_test.md", lines)
    ok = all(r["errors"] == 0 for r in load) and all(faults["health_ok"]) and not faults["garbage_5xx"]
    if hostile is not None:
        ok = ok and hostile["hostile"]["errors"] == 0 and hostile["health_after"] == 200
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
