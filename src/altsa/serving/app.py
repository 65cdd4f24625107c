"""The FastAPI app: whole-conversation prediction, live sessions, a web page.

``create_app(model_or_recognizer, settings)`` builds it; ``altsa serve`` runs it on uvicorn.
Request bodies are parsed by hand (JSON or multipart on the same route) so that size and
time limits apply while the body streams in and uploads stay bytes the server owns; the
OpenAPI schema still documents both content types (``openapi_extra``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from altsa import __version__
from altsa.data import media
from altsa.data.media import media_limits
from altsa.data.schema import is_blank
from altsa.serving.config import ServeSettings
from altsa.serving.errors import ApiError, install_handlers, small_int
from altsa.serving.limits import BodyLimit
from altsa.serving.media import UPLOAD_KINDS, Upload, check_upload
from altsa.serving.batcher import TurnBatcher, sequential_add_many
from altsa.serving.bodies import parse_json, validate
from altsa.serving.runner import InferenceRunner
from altsa.serving.metrics import Observe, ServiceMetrics, note
from altsa.serving.security import RequestGate
from altsa.serving.schemas import (
    ConversationIn,
    ErrorOut,
    HealthOut,
    LimitsOut,
    ModelOut,
    PredictionOut,
    PredictOut,
    SessionOut,
    TimelineOut,
    UtteranceIn,
)
from altsa.serving.sessions import LiveSession, SessionStore

STATIC = Path(str(resources.files("altsa") / "serving" / "static"))
# The page loads nothing from elsewhere; the browser enforces it.
# media-src blob: plays the recording the user picked, from their own disk, against its timeline.
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")

_ERRORS = {code: {"model": ErrorOut} for code in (400, 404, 409, 413, 415, 422, 429, 501, 503, 504)}


def _body_doc(json_schema: type[BaseModel], form_fields: dict[str, Any], files: str) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that takes JSON or multipart."""
    multipart = {
        "type": "object",
        "properties": form_fields,
        "additionalProperties": {"type": "string", "format": "binary", "description": files},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{json_schema.__name__}"}},
                "multipart/form-data": {"schema": multipart},
            },
        }
    }


class Service:
    """What the routes share: the recognizer, limits, sessions and the inference pool."""

    def __init__(self, recognizer: Any, settings: ServeSettings, name: str, clock: Callable[[], float]):
        self.recognizer = recognizer
        self.settings = settings
        self.name = name
        self.runner = InferenceRunner(settings.threads[0], settings.max_queue)
        self.metrics = ServiceMetrics(settings.batch_max_turns)
        add_many = getattr(recognizer, "add_many", None)
        batched = (lambda items: add_many(items, return_exceptions=True)) if add_many else sequential_add_many

        def observed(items: list[tuple[Any, Any]]) -> list[Any]:
            self.metrics.batch.observe(len(items))
            return batched(items)

        self.batcher = TurnBatcher(
            self.runner,
            observed,
            max_batch=settings.batch_max_turns,
            wait_s=settings.batch_wait_ms / 1000,
            max_waiting=settings.max_queue + settings.batch_max_turns * settings.threads[0],
            job_context=lambda timeout_s: media.media_limits(settings.media_limits(timeout_s)),
        )
        self.sessions = SessionStore(
            recognizer.stream, max_sessions=settings.max_sessions, idle_s=settings.session_idle_s, clock=clock,
            on_close=self.batcher.forget,
        )
        self.metrics.sessions.set_function(lambda: len(self.sessions))

    def observe(self, request: Request, predictions: list[Any], texts: list[str], session: str | None = None) -> None:
        """Count the answered predictions and note them for the request's log line."""
        self.metrics.observe_predictions(predictions)
        labels = [p.label if hasattr(p, "label") else dict(p)["label"] for p in predictions]
        note(request.scope, labels=labels, texts=texts if self.settings.log_text else None, session=session)

    def remaining(self, request: Request) -> float:
        """Seconds left of this request's timeout (the clock started when its headers arrived)."""
        start = request.scope.get("state", {}).get("altsa_start", time.monotonic())
        return self.settings.request_timeout_s - (time.monotonic() - start)


# --------------------------------------------------------------------------- parsing


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _is_multipart(request: Request) -> bool:
    ctype = _content_type(request)
    if ctype == "multipart/form-data":
        return True
    if ctype in ("", "application/json") or ctype.endswith("+json"):
        return False
    raise ApiError(415, "unsupported_media_type", f"send application/json or multipart/form-data, not {ctype!r}")


async def _read_form(request: Request, settings: ServeSettings, allowed_fields: set[str]) -> tuple[dict[str, str], dict[str, Upload]]:
    """Multipart body -> (text fields, uploads by field name). Files are read into bytes the
    server owns; any field not in ``allowed_fields`` (text) or not an upload name is refused."""
    part_cap = settings.max_json_bytes(settings.max_utterances)  # the conversation field: as large as a JSON body
    try:
        form = await request.form(max_files=2 * settings.max_utterances + 3, max_fields=len(allowed_fields) + 1,
                                  max_part_size=part_cap)  # fmt: skip
    except StarletteHTTPException as err:
        if "maximum size" in str(err.detail):  # a text field over the part cap (files have no cap of their own)
            raise ApiError(413, "too_large", f"a form field is over {part_cap} bytes; clips go in file fields") from None
        raise
    fields: dict[str, str] = {}
    uploads: dict[str, Upload] = {}
    try:
        for name, value in form.multi_items():
            if name in fields or name in uploads:
                raise ApiError(422, "invalid_request", f"form field {name[:64]!r} given twice")
            if isinstance(value, UploadFile):
                kind = name.split("_", 1)[0]
                if kind not in UPLOAD_KINDS:
                    raise ApiError(
                        422, "invalid_request",
                        f"unexpected file field {name[:64]!r}; clips go in fields named audio, video or media",
                    )  # fmt: skip
                uploads[name] = Upload(kind=kind, filename=value.filename or "", data=await value.read())
            elif name in allowed_fields:
                fields[name] = value
            else:
                raise ApiError(422, "invalid_request", f"unexpected form field {name[:64]!r}")
    finally:
        await form.close()
    return fields, uploads


def _check_text(utt: UtteranceIn, settings: ServeSettings, where: str = "") -> None:
    if is_blank(utt.text):
        raise ApiError(422, "empty_text", f"{where}text is empty (or invisible characters only); every turn needs what was said")
    if len(utt.text) > settings.max_text_chars:
        raise ApiError(
            413, "text_too_long", f"{where}text has {len(utt.text)} characters, over max_text_chars {settings.max_text_chars}"
        )


def _turn_dict(utt: UtteranceIn, uploads: dict[str, Upload]) -> dict[str, Any]:
    """What the recognizer takes for one turn: text plus clip bytes under audio/video/media."""
    item: dict[str, Any] = {"speaker": utt.speaker or "speaker", "text": utt.text}
    for up in uploads.values():
        item[up.kind] = up.data
    return item


def _out(prediction: Any) -> PredictionOut:
    data = prediction.to_dict() if hasattr(prediction, "to_dict") else dict(prediction)
    return PredictionOut.model_validate(data)


# --------------------------------------------------------------------------- the app


def create_app(
    model: str | Any,
    settings: ServeSettings | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    offer: dict[str, Any] | None = None,
) -> FastAPI:
    """The service around ``model``: a bundled model name or run directory (loaded here with
    ``Recognizer.from_pretrained``) or an already loaded ``Recognizer``. ``clock`` drives
    session expiry (tests inject one). ``offer``: other models (name -> name, run directory or
    Recognizer) served at ``/models/<name>/``, each loaded on its first request
    (``altsa.serving.models``)."""
    settings = settings or ServeSettings()
    if isinstance(model, (str, Path)):
        from altsa.inference import Recognizer

        recognizer = Recognizer.from_pretrained(str(model), device=settings.device, threads=settings.threads[1])
        name = str(model)
    else:
        recognizer = model
        name = str(_info(recognizer).get("name", type(recognizer).__name__))
    service = Service(recognizer, settings, name, clock)
    # The loaded model's ~430k Python objects never die: moved out of the collector's sight, a
    # full collection no longer walks them (measured: ~0.2 s -> under 1 ms for the bundled
    # model, docs/serving.md), a pause that would otherwise land on whichever request triggers it.
    gc.collect()
    gc.freeze()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def sweeper() -> None:  # frees idle sessions even when no request comes
            while True:
                await asyncio.sleep(min(settings.session_idle_s / 2, 30.0))
                service.sessions.sweep()

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            for sub in getattr(app.state, "offered", []):  # models loaded on demand
                await sub.close()
            service.runner.shutdown()

    app = FastAPI(
        title="altsa",
        version=__version__,
        summary="Emotion of every utterance in a conversation (ALTSA): whole conversations and live sessions.",
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.service = service
    install_handlers(app)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_upload_bytes, timeout_s=settings.request_timeout_s,
        max_requests=settings.max_requests,
    )  # fmt: skip
    others = [o for o in settings.allowed_origins if o.strip()]
    if others:  # pages on these sites may call the API and read its answers
        app.add_middleware(CORSMiddleware, allow_origins=others, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["content-type"], max_age=600)  # fmt: skip
    app.add_middleware(RequestGate, settings=settings)  # Host and Origin before anything else
    app.add_middleware(Observe, metrics=service.metrics, log_json=settings.log_format == "json",
                       log_text=settings.log_text)  # around everything: refusals are counted and logged too  # fmt: skip
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    from altsa.serving.models import offer_models

    offer_models(app, service.name, {n: (lambda ref=ref: create_app(ref, settings, clock=clock))
                                     for n, ref in (offer or {}).items()})

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/healthz", response_model=HealthOut, tags=["service"])
    async def healthz() -> HealthOut:
        """Liveness: answers while the event loop is free (inference never runs on it)."""
        return HealthOut(
            status="ok", model=service.name, sessions=len(service.sessions), sessions_enabled=settings.sessions_enabled
        )

    if settings.metrics:

        @app.get("/metrics", tags=["service"], response_class=Response)
        async def metrics() -> Response:
            """Prometheus text format (``--metrics``): requests, latency, labels, absent
            modalities, sessions, batch sizes, refusals (docs/serving.md)."""
            body, content_type = service.metrics.exposition()
            return Response(body, media_type=content_type)

    @app.get("/v1/model", response_model=ModelOut, tags=["service"])
    async def model_info() -> ModelOut:
        """Labels, modalities, encoders and version of the loaded model."""
        info = dict(_info(recognizer))
        info.setdefault("name", service.name)
        info.setdefault("labels", list(recognizer.labels))
        info.setdefault("modalities", list(recognizer.modalities))
        info.setdefault("version", __version__)
        return ModelOut.model_validate(info)

    @app.get("/v1/limits", response_model=LimitsOut, tags=["service"])
    async def limits() -> LimitsOut:
        """The limits this server enforces (the page reads them)."""
        return LimitsOut(**{f: getattr(settings, f) for f in LimitsOut.model_fields if f != "sessions_enabled"},
                         sessions_enabled=settings.sessions_enabled)  # fmt: skip

    @app.post(
        "/v1/predict",
        response_model=PredictOut,
        tags=["predict"],
        openapi_extra=_body_doc(
            ConversationIn,
            {"conversation": {"type": "string", "description": "the ConversationIn JSON"}},
            "clip of utterance i (0-based): field audio_i, video_i or media_i",
        ),
    )
    async def predict(request: Request) -> PredictOut:
        """The emotion of every utterance of a whole conversation (the model reads it all).

        JSON: a ``ConversationIn``. Multipart: field ``conversation`` (that JSON) plus clip
        files named ``audio_<i>``, ``video_<i>`` or ``media_<i>`` for utterance ``i``."""
        uploads: dict[str, Upload] = {}
        if _is_multipart(request):
            fields, uploads = await _read_form(request, settings, {"conversation"})
            if "conversation" not in fields:
                raise ApiError(422, "invalid_request", "multipart body needs a 'conversation' field (JSON)")
            conv = parse_json(ConversationIn, fields["conversation"], settings, utterances=settings.max_utterances,
                              loc="conversation")
        else:
            conv = parse_json(ConversationIn, await request.body(), settings, utterances=settings.max_utterances)
        n = len(conv.utterances)
        if n > settings.max_utterances:
            raise ApiError(413, "too_many_utterances", f"{n} utterances, over max_utterances {settings.max_utterances}")
        per_turn: list[dict[str, Upload]] = [{} for _ in range(n)]
        for field, up in uploads.items():
            index = small_int(field.split("_", 1)[1], strip=False) if "_" in field else None
            if index is None or index >= n:
                raise ApiError(422, "invalid_request", f"file field {field[:64]!r} names no utterance (use {up.kind}_0 .. {up.kind}_{n - 1})")
            if up.kind in per_turn[index]:
                raise ApiError(422, "invalid_request", f"utterance {index} has two {up.kind} files ({field[:64]!r} and another)")
            per_turn[index][up.kind] = up
        for i, utt in enumerate(conv.utterances):
            _check_text(utt, settings, f"utterance {i}: ")
        payload = {"dialogue_id": conv.dialogue_id, "utterances": [_turn_dict(u, per_turn[i]) for i, u in enumerate(conv.utterances)]}

        limits = settings.media_limits(service.remaining(request))

        def job() -> list[Any]:
            with media_limits(limits):  # the recognizer's own decoding obeys them too, and stops at the timeout
                for up in uploads.values():
                    check_upload(up, settings.max_clip_seconds, limits)
                return recognizer.predict(payload)

        predictions = await service.runner.run(job, timeout_s=service.remaining(request))
        service.observe(request, predictions, [u.text for u in conv.utterances])
        return PredictOut(dialogue_id=conv.dialogue_id, predictions=[_out(p) for p in predictions])

    def _sessions_on() -> None:
        if not settings.sessions_enabled:
            raise ApiError(
                501, "sessions_unavailable",
                f"live sessions need a single worker process (this server runs {settings.workers}); "
                "use POST /v1/predict, or run one process per port behind a proxy that routes by session id",
            )  # fmt: skip

    def _session_out(session: LiveSession) -> SessionOut:
        return SessionOut(id=session.id, turns=session.turns, idle_expiry_s=settings.session_idle_s, max_turns=settings.max_turns)

    @app.post("/v1/sessions", response_model=SessionOut, status_code=201, tags=["sessions"])
    async def open_session(request: Request) -> SessionOut:
        """Start a live conversation; its id names it in the other session routes. No body (or ``{}``)."""
        _sessions_on()
        body = await request.body()
        if body.strip() and (len(body) > 1024 or _json_or_none(body) != {}):
            raise ApiError(422, "invalid_request", "POST /v1/sessions takes no body (or {}); the server names the session")
        return _session_out(service.sessions.create())

    @app.post(
        "/v1/sessions/{session_id}/utterances",
        response_model=PredictionOut,
        tags=["sessions"],
        openapi_extra=_body_doc(
            UtteranceIn,
            {"speaker": {"type": "string"}, "text": {"type": "string"}},
            "the turn's clip: field audio, video or media",
        ),
    )
    async def add_turn(session_id: str, request: Request) -> PredictionOut:
        """Add the next turn; answers its emotion given the conversation so far (causal: the
        cost of a turn does not grow with the conversation). Turns of one session run in order.

        JSON: an ``UtteranceIn``. Multipart: fields ``speaker``, ``text`` and optionally a
        clip file named ``audio``, ``video`` or ``media``."""
        _sessions_on()
        session = service.sessions.get(session_id)
        uploads: dict[str, Upload] = {}
        if _is_multipart(request):
            fields, uploads = await _read_form(request, settings, {"speaker", "text"})
            bad = [f for f in uploads if f not in UPLOAD_KINDS]
            if bad:
                raise ApiError(422, "invalid_request", f"unexpected file field {bad[0]!r}; use audio, video or media")
            utt = validate(UtteranceIn, fields, loc="form")
        else:
            utt = parse_json(UtteranceIn, await request.body(), settings, utterances=1)
        _check_text(utt, settings)
        item = _turn_dict(utt, uploads)
        try:
            await asyncio.wait_for(session.lock.acquire(), timeout=max(service.remaining(request), 0.0))
        except TimeoutError:
            raise ApiError(503, "session_busy", "earlier turns of this session did not finish within the request timeout",
                           {"Retry-After": "1"}) from None  # fmt: skip
        try:
            service.sessions.check_open(session)
            if session.turns >= settings.max_turns:
                raise ApiError(409, "session_full", f"session has {session.turns} turns, the limit (max_turns); open a new one")

            def prepare() -> None:  # runs in the batch's job, under its media_limits (Service.job_limits)
                for up in uploads.values():
                    check_upload(up, settings.max_clip_seconds, media.current_limits())

            # batched with other sessions' turns (serving/batcher.py); this session's lock is held
            prediction = await service.batcher.submit(session.stream, item, prepare, timeout_s=service.remaining(request))
            session.turns += 1  # counted once answered: a timeline read meanwhile shows the turns it holds
        finally:
            session.lock.release()
        session.last_used = service.sessions.clock()
        service.observe(request, [prediction], [utt.text], session=session.id)
        return _out(prediction)

    @app.get("/v1/sessions/{session_id}", response_model=TimelineOut, tags=["sessions"])
    async def timeline(session_id: str) -> TimelineOut:
        """The session's turns so far with their predictions, oldest first."""
        _sessions_on()
        session = service.sessions.get(session_id)
        turns = session.timeline()  # one snapshot: a turn answered meanwhile is in both or neither
        return TimelineOut(**{**_session_out(session).model_dump(), "turns": len(turns)}, timeline=[_out(p) for p in turns])

    @app.delete("/v1/sessions/{session_id}", status_code=204, tags=["sessions"])
    async def close_session(session_id: str) -> Response:
        """End a session and free its memory."""
        _sessions_on()
        service.sessions.delete(session_id)
        return Response(status_code=204)

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus the input models, which routes parsing bodies by hand do not
        register themselves (their requestBody refers to them)."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ConversationIn, UtteranceIn):
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            app.openapi_schema = schema
        return app.openapi_schema

    from altsa.serving.recordings import add_recording_routes

    add_recording_routes(app, service)  # POST /v1/recordings (serving/recordings.py)
    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _info(recognizer: Any) -> dict[str, Any]:
    info = recognizer.info() if hasattr(recognizer, "info") else {}
    return info if isinstance(info, dict) else {}


def app_from_env() -> FastAPI:
    """uvicorn factory for ``--workers N``: each worker process builds its own app from the
    spec ``altsa serve`` put in ``ALTSA_SERVE_SPEC`` (model name and settings, JSON)."""
    import os

    from altsa.config import from_dict

    spec = json.loads(os.environ["ALTSA_SERVE_SPEC"])
    return create_app(spec["model"], from_dict(ServeSettings, spec["settings"], source="ALTSA_SERVE_SPEC"),
                      offer={n: n for n in spec.get("offer", [])})


__all__ = ["create_app", "app_from_env", "ServeSettings"]
