"""Checking uploaded clips before they reach the model.

The recognizer treats a clip it cannot decode as an absent modality (right for a corpus,
where a few MELD clips are broken). A client that uploads a clip wants it used, so the
service decodes every upload first and refuses a corrupt, empty, stream-less or too long
clip with a 4xx naming the reason, even for a model that ignores that modality. The clip
then travels to the recognizer as the same bytes (it decodes with its own encoder's
settings). Silence is not an error: it is reported as an absent modality.

Every upload is hostile until proven otherwise: frame size, frame count, channels and
sample rate are checked from the header before any decoding (``MediaLimits``), and the two
frames the check decodes are scaled down as they are converted.
"""

from __future__ import annotations

from dataclasses import dataclass

import dataclasses

from altsa.data.media import Absent, MediaConfig, MediaLimits, decode_audio, decode_video
from altsa.serving.errors import ApiError

UPLOAD_KINDS = ("audio", "video", "media")  # media: one clip holding audio and/or video
_NOT_ERRORS = {"silent"}  # a modality that is legitimately absent


@dataclass
class Upload:
    kind: str  # audio | video | media
    filename: str
    data: bytes


def _fail(upload: Upload, outcome: Absent, what: str, limit_s: float) -> ApiError:
    name = upload.filename or upload.kind
    if outcome.reason == "too_long":
        return ApiError(413, "clip_too_long", f"{upload.kind} clip {name!r} is longer than max_clip_seconds {limit_s:g}")
    if outcome.reason == "too_large":
        return ApiError(413, "clip_too_large", f"{upload.kind} clip {name!r} is over a limit of this server: {outcome.detail}")
    detail = f" ({outcome.detail})" if outcome.detail else ""
    reason = outcome.reason.replace("_", " ")
    return ApiError(422, "bad_media", f"{upload.kind} clip {name!r} cannot be used: {what}: {reason}{detail}")


_CHECK_SIDE = 64  # the check's frames are converted this small: it proves decoding, not content


def check_upload(upload: Upload, max_clip_seconds: float, limits: MediaLimits) -> None:
    """Decode ``upload`` once (CPU work: call it off the event loop) under ``limits``; raise
    ``ApiError`` if it is not a usable clip of its kind."""
    # Two frames are enough to prove the video decodes; the recognizer samples its own.
    cfg = MediaConfig(max_seconds=max_clip_seconds, long_clips="skip", num_frames=2)
    limits = dataclasses.replace(limits, frame_side=_CHECK_SIDE)
    audio = decode_audio(upload.data, cfg, limits=limits) if upload.kind in ("audio", "media") else None
    if isinstance(audio, Absent) and audio.reason in ("too_long", "too_large", "unreadable", "empty"):
        raise _fail(upload, audio, "audio", max_clip_seconds)
    if upload.kind == "audio":
        if isinstance(audio, Absent) and audio.reason not in _NOT_ERRORS:
            raise _fail(upload, audio, "audio", max_clip_seconds)
        return
    video = decode_video(upload.data, cfg, limits=limits)
    if isinstance(video, Absent) and (upload.kind == "video" or video.reason != "no_video_stream"):
        raise _fail(upload, video, "video", max_clip_seconds)
    no_audio = isinstance(audio, Absent) and audio.reason == "no_audio_stream"
    if upload.kind == "media" and no_audio and isinstance(video, Absent):
        raise ApiError(422, "bad_media", f"media clip {upload.filename or 'media'!r} has neither audio nor video")
