"""Request and response models of the HTTP API (they are the OpenAPI schema at ``/docs``).

Input models forbid unknown keys, and path-like keys (``media``, ``audio``, ``video``,
``path``) get their own error: the service never opens a file a client names; clips come
as multipart uploads instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# Keys a corpus file may carry (schema.Utterance) that would make the server read its own disk.
PATH_KEYS = ("media", "audio", "video", "path", "file", "clip")


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_paths(cls, data: Any) -> Any:
        if isinstance(data, dict):
            named = [k for k in PATH_KEYS if k in data]
            if named:  # (pydantic fills only a bare {field}: no format specs or conversions)
                raise PydanticCustomError(
                    "path_not_allowed",
                    "field '{field}' would name a file on the server, which the service never reads; "
                    "send the clip as a multipart upload instead (see /docs)",
                    {"field": named[0]},
                )
        return data


class UtteranceIn(_Input):
    """One turn: who speaks and what they say. Clips, if any, come as multipart files."""

    speaker: str = Field("", max_length=200, description="speaker name; tags s1, s2, ... follow first appearance")
    text: str = Field(description="what is said; must not be empty unless a clip is uploaded")


class ConversationIn(_Input):
    """A whole conversation, oldest turn first."""

    dialogue_id: str = Field("conversation", max_length=200)
    utterances: list[UtteranceIn] = Field(min_length=1)


class PredictionOut(BaseModel):
    """The recognizer's answer for one utterance (``UtterancePrediction.to_dict()``)."""

    key: str = Field(description='"dialogue_id/position"')
    dialogue_id: str = ""
    position: int = Field(0, description="order in the conversation (0-based unless the caller set positions)")
    speaker: str
    text: str
    label: str = Field(description="most probable label")
    confidence: float = Field(description="probability of that label")
    probabilities: dict[str, float] = Field(description="label -> probability, over all labels")
    weights: dict[str, float] = Field(description='modality weights {"text", "audio", "video"} (sum to 1)')
    absent: dict[str, str] = Field(default_factory=dict, description="modality -> why it was not used")


class PredictOut(BaseModel):
    dialogue_id: str
    predictions: list[PredictionOut]


class ModelOut(BaseModel):
    """What ``GET /v1/model`` says about the loaded model (``Recognizer.info()``)."""

    model_config = ConfigDict(extra="allow")

    name: str
    labels: list[str]
    modalities: list[str]
    encoders: dict[str, Any] = Field(default_factory=dict)
    version: str


class HealthOut(BaseModel):
    status: str
    model: str
    sessions: int
    sessions_enabled: bool


class SessionOut(BaseModel):
    id: str
    turns: int
    idle_expiry_s: float = Field(description="the session is dropped after this long without a request")
    max_turns: int


class TimelineOut(SessionOut):
    timeline: list[PredictionOut]


class LimitsOut(BaseModel):
    """The limits a client must respect (mirrors ``ServeSettings``)."""

    max_upload_mb: float
    max_clip_seconds: float
    max_video_pixels: int
    max_video_frames: int
    max_audio_channels: int
    max_audio_rate: int
    max_text_chars: int
    max_utterances: int
    max_turns: int
    max_sessions: int
    session_idle_s: float
    request_timeout_s: float
    max_recording_minutes: float
    sessions_enabled: bool


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. empty_text, unknown_session")
    message: str = Field(description="one line for humans")


class ErrorOut(BaseModel):
    error: ErrorBody
