"""Modality encoders (text teacher, audio and video students) wrapping Hugging Face models.

Importing this package registers the encoder kinds in ``ENCODERS`` ("hf-text", "hf-audio",
"hf-video", plus the embedded kinds). See docs/encoders.md.
"""

from altsa.encoders import audio, text, video  # noqa: F401  (register the hf-* kinds)
from altsa.encoders import embedded_audio, embedded_video  # noqa: F401  (register the embedded-* kinds)
from altsa.encoders.base import ENCODERS, Encoder, EncoderConfig, build_encoder
from altsa.encoders.presets import MODALITIES, PRESETS, list_presets, resolve_encoders
from altsa.encoders.text import text_inputs

__all__ = [
    "ENCODERS",
    "MODALITIES",
    "PRESETS",
    "Encoder",
    "EncoderConfig",
    "build_encoder",
    "list_presets",
    "resolve_encoders",
    "text_inputs",
]
