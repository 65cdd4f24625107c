"""``POST /v1/recordings``: a raw recording in, its emotion timeline out.

The body is the recording itself (``Content-Type: audio/*``, ``video/*`` or
``application/octet-stream``) or a multipart form with the file in field ``recording``;
``?speakers=N`` (or a form field ``speakers``) gives the number of speakers. The existing
limits apply: body size (``max_upload_mb``, while it streams in), the request timeout
(upload, queue and work), the inference queue; plus ``max_recording_minutes`` (checked from
the header before anything is decoded) and ``max_utterances`` (the timeline's length). All
decoding, transcription and inference run in the inference pool, never on the event loop.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from altsa.data.media import DecodeTimeout, media_limits
from altsa.errors import MediaError
from altsa.serving.errors import ApiError, small_int
from altsa.serving.schemas import PredictionOut

RAW_TYPES = ("audio/", "video/", "application/octet-stream")


class RecordingPredictionOut(PredictionOut):
    start: float = Field(description="seconds from the start of the recording")
    end: float = Field(description="seconds from the start of the recording")


class RecordingOut(BaseModel):
    """The timeline of an uploaded recording."""

    dialogue_id: str
    duration: float = Field(description="seconds of audio decoded")
    language: str
    speakers: int = Field(description="speakers found (or given)")
    video: bool = Field(description="the recording has a video stream (its frames were read when the model uses video)")
    notices: list[str] = Field(default_factory=list, description="what to know, e.g. no speech found")
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per step")
    predictions: list[RecordingPredictionOut]


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read(request: Request, max_files: int = 1) -> tuple[bytes, str, str | None]:
    """(file bytes, file name, speakers form field) from a raw or multipart body."""
    ctype = _content_type(request)
    if ctype == "multipart/form-data":
        async with request.form(max_files=max_files, max_fields=2) as form:
            data, name, speakers = None, "recording", None
            for key, value in form.multi_items():
                if key == "recording" and isinstance(value, UploadFile) and data is None:
                    data, name = await value.read(), value.filename or "recording"
                elif key == "speakers" and isinstance(value, str) and speakers is None:
                    speakers = value
                elif key in ("recording", "speakers"):
                    raise ApiError(422, "invalid_request", f"form field {key!r} given twice; give it once")
                else:
                    raise ApiError(422, "invalid_request", f"unexpected form field {key!r}; send the file as 'recording'")
        if data is None:
            raise ApiError(422, "invalid_request", "multipart body needs the file in a field named 'recording'")
        return data, name, speakers
    if not ctype.startswith(RAW_TYPES):
        raise ApiError(
            415, "unsupported_media_type",
            f"send the recording as audio/*, video/*, application/octet-stream or multipart/form-data, not {ctype or 'no type'!r}",
        )  # fmt: skip
    return await request.body(), "recording", None


def _speakers(query: int | None, form: str | None) -> int | None:
    if form is None:
        return query
    if query is not None:
        raise ApiError(422, "invalid_request", "speakers given twice (query and form); give it once")
    n = small_int(form)
    if n is None or not 1 <= n <= 64:
        raise ApiError(422, "invalid_request", f"speakers must be a whole number from 1 to 64, not {form[:64]!r}")
    return n


def add_recording_routes(app: FastAPI, service: Any) -> None:
    """Register ``POST /v1/recordings`` on ``app`` (``service``: the app's ``Service``)."""
    settings = service.settings

    @app.post(
        "/v1/recordings",
        response_model=RecordingOut,
        tags=["predict"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "audio/*": {"schema": {"type": "string", "format": "binary"}},
                    "video/*": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "properties": {
                        "recording": {"type": "string", "format": "binary"},
                        "speakers": {"type": "integer", "minimum": 1, "maximum": 64}}}},
                },
            }
        },  # fmt: skip
    )
    async def predict_recording(
        request: Request, speakers: int | None = Query(None, ge=1, le=64, description="number of speakers, if known")
    ) -> RecordingOut:
        """An audio or video recording of a conversation -> utterances (transcribed, with
        times and speakers) and the emotion of each. No speech: an empty timeline and a
        notice. Not media, truncated, an unknown codec, no audio stream: 422; longer than
        ``max_recording_minutes``: 413 (from the header, before decoding)."""
        if len(request.query_params.getlist("speakers")) > 1:  # FastAPI would take one of them silently
            raise ApiError(422, "invalid_request", "speakers given twice in the query; give it once")
        data, name, form_speakers = await _read(request)
        if not data:
            raise ApiError(422, "bad_media", "the recording is empty (0 bytes)")
        n_speakers = _speakers(speakers, form_speakers)
        recognizer = service.recognizer
        # the service's caps on channels, rate and frame size, and its deadline; a recording's
        # frame count grows with its length, which max_recording_minutes bounds instead
        limits = dataclasses.replace(settings.media_limits(service.remaining(request)), max_frames=None)

        def job() -> tuple[list[Any], Any]:
            from altsa.recordings import RecordingConfig, RecordingTooLong, transcribe_recording

            cfg = RecordingConfig(
                speakers=n_speakers, max_minutes=settings.max_recording_minutes, threads=settings.threads[1]
            )
            with media_limits(limits):
                try:
                    transcript = transcribe_recording(data, cfg)
                except RecordingTooLong as err:  # said in the service's own terms
                    message = err.message.replace("--max-minutes", "max_recording_minutes")
                    raise ApiError(413, "recording_too_long", message) from None
                except DecodeTimeout:
                    raise  # 504 (serving/errors.py)
                except MediaError as err:
                    raise ApiError(422, "bad_media", f"{name}: {err.message}") from None
                if len(transcript.utterances) > settings.max_utterances:
                    raise ApiError(
                        413, "too_many_utterances",
                        f"{len(transcript.utterances)} utterances found, over max_utterances {settings.max_utterances}",
                    )  # fmt: skip
                return recognizer.predict_transcript(transcript), transcript

        predictions, t = await service.runner.run(job, timeout_s=service.remaining(request))
        return RecordingOut(
            dialogue_id=t.conversation.dialogue_id if t.conversation is not None else "recording",
            duration=round(t.duration, 3),
            language=t.language,
            speakers=len({u.speaker for u in t.utterances}),
            video=t.info.video,
            notices=t.notices,
            timings={k: round(v, 3) for k, v in t.timings.items()},
            predictions=[RecordingPredictionOut.model_validate(p.to_dict()) for p in predictions],
        )
