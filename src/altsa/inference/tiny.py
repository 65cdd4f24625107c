"""Tiny random-initialised runs, for tests and offline checks of the inference path.

``save_tiny_run`` writes a real run directory (``config.yaml``, ``labels.json``,
``model.safetensors``) around tiny encoders built from configs (``altsa.encoders.tiny``:
hidden size 32, two layers) and a small ALTSA model, so ``Recognizer.from_pretrained``,
``altsa predict`` and the service run end to end in seconds without a model hub. The
predictions are meaningless (random weights); the plumbing is the real one.
"""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_encoders(root: str | Path) -> dict[str, Path]:
    """Tiny text (RoBERTa) and audio (Data2VecAudio) encoder directories under ``root``."""
    from altsa.encoders.tiny import save_tiny_data2vec_audio, save_tiny_roberta

    root = Path(root)
    return {"text": save_tiny_roberta(root / "text"), "audio": save_tiny_data2vec_audio(root / "audio")}


def save_tiny_run(
    path: str | Path,
    encoders: dict[str, Path] | None = None,
    *,
    modalities: tuple[str, ...] = ("text",),
    causal: bool = True,
    context: str = "lstm",
    text_mode: str = "plain",
    seed: int = 0,
) -> Path:
    """Write a run directory for a random model over tiny encoders (built when not given)."""
    from altsa.config import save_config
    from altsa.data.schema import MELD_EMOTION
    from altsa.encoders import EncoderConfig
    from altsa.experiment import EncodersConfig, ExperimentConfig
    from altsa.model import build_model
    from altsa.model.config import ModelConfig
    from altsa.training.run import save_labels, save_model

    path = Path(path)
    if encoders is None:
        encoders = save_tiny_encoders(path.parent / f"{path.name}-encoders")
    enc = EncodersConfig(
        preset="paper",
        text=EncoderConfig(kind="hf-text", model=str(encoders["text"]), text_mode=text_mode, max_length=64,
                           batch_size=4, options={"speaker_format": "token"}),
        audio=EncoderConfig(kind="hf-audio", model=str(encoders["audio"]), batch_size=4),
        # a video encoder only when given (altsa.encoders.tiny.save_tiny_timesformer)
        video=EncoderConfig(kind="hf-video", model=str(encoders["video"]), batch_size=4) if "video" in encoders else None,
        modalities=list(modalities),
    )
    cfg = ExperimentConfig(
        name=path.name,
        encoders=enc,
        model=ModelConfig(d=16, heads=2, causal=causal, context=context, dropout=0.0),
    )
    torch.manual_seed(seed)
    model = build_model(cfg.model, {m: 32 for m in modalities}, len(MELD_EMOTION))
    path.mkdir(parents=True, exist_ok=True)
    save_config(cfg, path / "config.yaml")
    save_labels(path / "labels.json", "emotion", MELD_EMOTION)
    save_model(path / "model.safetensors", model)
    return path
