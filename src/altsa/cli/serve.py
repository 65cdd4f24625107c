"""``altsa serve MODEL``: the HTTP service (FastAPI on uvicorn) with its limits."""

from __future__ import annotations

import dataclasses
import json
import os

import typer

from altsa.cli.main import app
from altsa.serving.config import ServeSettings, resolve_settings

_D = ServeSettings()
DEFAULT_MODEL = "meld-text-minilm"  # the fast bundled model; --model NAME_OR_RUN for another
_SETTING_NAMES = [f.name for f in dataclasses.fields(ServeSettings)]


def _opt(default, *flags: str, help: str):  # noqa: A002
    """An option whose default is None, so only options given override ``--config``."""
    return typer.Option(None, *flags, help=f"{help} (default: {default})", show_default=False)


@app.command("serve")
def serve(
    model_arg: str | None = typer.Argument(None, metavar="[MODEL]", help="Same as --model."),
    model_opt: str | None = typer.Option(None, "--model", help=f"Bundled model name or run directory (default: {DEFAULT_MODEL}, the fast one). The page also offers the other installed bundled models."),
    config: str | None = typer.Option(None, "--config", help="YAML file of ServeSettings (options below override it)."),
    host: str | None = _opt(_D.host, "--host", help="Interface to listen on (0.0.0.0 exposes the service)."),
    port: int | None = _opt(_D.port, "--port", help="TCP port, 0-65535 (0: a free one the OS picks, logged by uvicorn)."),
    workers: int | None = _opt(_D.workers, "--workers", help="uvicorn worker processes; >1 disables sessions (held in one process)."),
    device: str | None = _opt(_D.device, "--device", help="torch device for the model."),
    max_upload_mb: float | None = _opt(_D.max_upload_mb, "--max-upload-mb", help="Largest request body, clips included (413)."),
    max_clip_seconds: float | None = _opt(_D.max_clip_seconds, "--max-clip-seconds", help="Longest clip accepted (413)."),
    max_video_pixels: int | None = _opt(_D.max_video_pixels, "--max-video-pixels", help="Largest video frame (width x height, from the clip's header; 413)."),
    max_video_frames: int | None = _opt(_D.max_video_frames, "--max-video-frames", help="Most frames in a video clip (413)."),
    max_audio_channels: int | None = _opt(_D.max_audio_channels, "--max-audio-channels", help="Most channels in an audio stream (413)."),
    max_audio_rate: int | None = _opt(_D.max_audio_rate, "--max-audio-rate", help="Highest audio sample rate in Hz (413)."),
    max_text_chars: int | None = _opt(_D.max_text_chars, "--max-text-chars", help="Longest utterance text (413)."),
    max_utterances: int | None = _opt(_D.max_utterances, "--max-utterances", help="Utterances per /v1/predict (413)."),
    max_turns: int | None = _opt(_D.max_turns, "--max-turns", help="Turns per live session (409)."),
    max_sessions: int | None = _opt(_D.max_sessions, "--max-sessions", help="Live sessions at once (429)."),
    session_idle_s: float | None = _opt(_D.session_idle_s, "--session-idle", help="Seconds before an unused session is dropped."),
    request_timeout_s: float | None = _opt(_D.request_timeout_s, "--request-timeout", help="Seconds per request: upload, queue, inference (408/503/504)."),
    max_recording_minutes: float | None = _opt(_D.max_recording_minutes, "--max-recording-minutes", help="Longest recording POST /v1/recordings accepts (413)."),
    inference_threads: int | None = _opt(_D.inference_threads, "--inference-threads", help="Model calls running at once (0: auto, 2 on 2+ cores)."),
    torch_threads: int | None = _opt(_D.torch_threads, "--torch-threads", help="torch intra-op threads (0: auto, (cores - 1) / inference threads)."),
    max_queue: int | None = _opt(_D.max_queue, "--max-queue", help="Model calls waiting for a thread (503 beyond)."),
    max_requests: int | None = _opt(_D.max_requests, "--max-requests", help="Requests in flight (503 beyond)."),
    batch_max_turns: int | None = _opt(_D.batch_max_turns, "--batch-max-turns", help="Live-session turns per batched model call (1: no batching)."),
    batch_wait_ms: float | None = _opt(_D.batch_wait_ms, "--batch-wait-ms", help="Milliseconds a turn may wait for the turns of sessions that come back fast (see docs/serving.md) to join its batch."),
    max_connections: int | None = _opt("0 = from the open-file limit", "--max-connections", help="Open connections; past it a new one evicts one still waiting for its headers."),
    header_timeout_s: float | None = _opt(_D.header_timeout_s, "--header-timeout", help="Seconds for a request's line and headers to arrive (408, closed)."),
    keep_alive_s: float | None = _opt(_D.keep_alive_s, "--keep-alive", help="Seconds an idle kept-alive connection stays open."),
    allowed_origins: str | None = _opt("same origin only", "--allowed-origins", help="Comma-separated origins of other sites whose pages may call the API (* for any)."),
    allowed_hosts: str | None = _opt("from --host", "--allowed-hosts", help="Comma-separated Host header names the server answers to (* for any; against DNS rebinding)."),
    forwarded_allow_ips: str | None = _opt("none", "--forwarded-allow-ips", help="Comma-separated proxy IPs whose X-Forwarded-For/-Proto are trusted (* for any)."),
    metrics: bool | None = typer.Option(None, "--metrics/--no-metrics", help="Serve GET /metrics (Prometheus text format; aggregate counts incl. the label distribution). (default: off)", show_default=False),
    log_format: str | None = _opt(_D.log_format, "--log-format", help="text (uvicorn's access log) or json (one JSON object per request, on stdout)."),
    log_text: bool | None = typer.Option(None, "--log-text/--no-log-text", help="JSON log lines include the utterance texts. (default: off)", show_default=False),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve a model over HTTP (default: the fast bundled model): POST /v1/predict, live sessions under /v1/sessions, a web page
    at /, the OpenAPI schema at /docs. See docs/serving.md."""
    options = dict(locals())  # the parameters, before anything else is bound
    if model_arg and model_opt and model_arg != model_opt:
        raise typer.BadParameter(f"two models given ({model_arg} and --model {model_opt}): give one")
    model = model_opt or model_arg or DEFAULT_MODEL
    from altsa.config import to_dict
    from altsa.inference.bundled import list_bundled
    from altsa.serving.server import run, uvicorn_config

    for name in ("allowed_origins", "allowed_hosts"):  # comma-separated on the command line
        if options[name] is not None:
            options[name] = [part.strip() for part in options[name].split(",") if part.strip()]
    settings = resolve_settings(config, {k: options[k] for k in _SETTING_NAMES})
    where = f"http://{settings.host}:{settings.port}/" if settings.port else f"{settings.host}, a free port (uvicorn logs it)"
    if settings.workers == 1:
        from altsa.serving.app import create_app

        offer = {n: n for n in list_bundled() if n != model}  # the page's model menu; loaded when picked
        service = create_app(model, settings, offer=offer)  # load once, before listening: errors exit cleanly
        typer.echo(f"altsa: serving {model} on {where} (API docs at /docs)", err=True)  # stdout: the JSON log
        if not run(uvicorn_config(service, settings, log_level=log_level)):
            raise typer.Exit(3)  # uvicorn's startup failure (e.g. the port is taken; it logged why)
        return
    from altsa.training.run import resolve_run

    resolve_run(model)  # fail here, once, rather than in every worker
    typer.echo(
        f"altsa: serving {model} with {settings.workers} workers on {where}; "
        "live sessions are off (each worker holds its own memory): use POST /v1/predict",
        err=True,
    )
    offered = [n for n in list_bundled() if n != model]
    os.environ["ALTSA_SERVE_SPEC"] = json.dumps({"model": model, "settings": to_dict(settings), "offer": offered})
    run(uvicorn_config("altsa.serving.app:app_from_env", settings, log_level=log_level, factory=True, workers=settings.workers))
