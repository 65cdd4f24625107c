"""The experiment config: one YAML file describes data, encoders, features, model, training.

``altsa extract``, ``altsa train``, ``altsa evaluate`` and ``altsa ablate`` all read this
same file, so features, models and reports of one experiment never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from altsa.encoders.base import EncoderConfig
from altsa.model.config import ModelConfig
from altsa.training.config import TrainConfig


@dataclass
class DataConfig:
    """Where the corpus is and what to predict. Required paths have no silent default."""

    corpus: str = "meld"  # reader name in altsa.data.readers.CORPORA
    root: str = "../shared/data/meld"  # folder holding the split files (relative to the CWD)
    splits: dict[str, str] = field(
        default_factory=lambda: {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv"}
    )  # split name -> file under root; MELD's test CSV is added by users who have it
    clips: str | None = None  # MELD.Raw root (holds train_splits/, dev_splits_complete/, ...)
    task: str = "emotion"  # "emotion" (7 classes) or "sentiment" (3)


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
