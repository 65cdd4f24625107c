"""The experiment config: one YAML file describes data, encoders, features, model, training.

``altsa extract``, ``altsa train``, ``altsa evaluate`` and ``altsa ablate`` all read this
same file, so features, models and reports of one experiment never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from altsa.data.config import ColumnsConfig, DataConfig
from altsa.encoders.base import EncoderConfig
from altsa.evaluation.config import MetricsConfig
from altsa.model.config import ModelConfig
from altsa.training.config import TrainConfig

__all__ = ["ColumnsConfig", "DataConfig", "EncodersConfig", "ExperimentConfig", "FeaturesConfig", "MetricsConfig"]


@dataclass
class EncodersConfig:
    """A preset (``paper`` or ``embedded``) plus optional per-modality replacements."""

    preset: str = "embedded"
    text: EncoderConfig | None = None  # replaces the preset's text encoder when given
    audio: EncoderConfig | None = None
    video: EncoderConfig | None = None
    modalities: list[str] = field(default_factory=lambda: ["text", "audio", "video"])  # which to use


@dataclass
class FeaturesConfig:
    cache_dir: str = ".altsa-cache"  # feature cache root (see docs/features.md)
    batch_size: int = 32  # utterances decoded and handed to an encoder at a time
    shard_size: int = 256  # a shard + index update every this many utterances (a kill loses < this)


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    encoders: EncodersConfig = field(default_factory=EncodersConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)  # the figure of record: selection, micro F1
