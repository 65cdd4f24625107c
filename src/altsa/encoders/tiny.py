"""Tiny random-initialised models of the paper's encoder families, for tests and offline demos.

Each builder writes a directory that loads through the same ``from_pretrained`` path as the
real checkpoint (``hidden_size=32``, two layers), so tests exercise the paper preset's code
on a CPU in seconds without a model hub.
"""

from __future__ import annotations

from pathlib import Path

import torch

from altsa.encoders.hf import quiet_transformers

_SENTENCES = [
    "Oh my God, he's lost it. He's totally lost it.",
    "What are you talking about? I was the point person on the transition.",
    "Now speaker one feels happy, and speaker two feels sad.",
    "You had no right to tell me that! Okay, fine, whatever you say.",
    "I can't believe this is happening. Are you serious? No way!",
    "Hey, how are you doing? Thank you so much, this is great.",
]


# Config fields that make training random (dropout, layer drop, SpecAugment-style masking):
# ``deterministic=True`` zeroes them, so two runs that see the same batches in another order of
# processes (one process with gradient accumulation, or two under ``accelerate launch``) agree.
_RANDOM_IN_TRAINING = (
    "hidden_dropout_prob", "attention_probs_dropout_prob", "hidden_dropout", "attention_dropout",
    "activation_dropout", "feat_proj_dropout", "final_dropout", "layerdrop", "mask_time_prob",
    "mask_feature_prob", "drop_path_rate",
)


def _no_randomness(config) -> None:
    for name in _RANDOM_IN_TRAINING:
        if hasattr(config, name):
            setattr(config, name, type(getattr(config, name))(0))  # 0 or 0.0, as the config types it


def save_tiny_roberta(
    path: str | Path, *, seed: int = 0, vocab_size: int = 400, max_positions: int = 130, layers: int = 2,
    deterministic: bool = False,
) -> Path:
    """A ``layers``-layer RoBERTa (hidden 32) with a byte-level BPE tokenizer trained on a few sentences."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(
        _SENTENCES * 4, vocab_size=vocab_size, min_frequency=1, special_tokens=specials, show_progress=False
    )
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in _bpe_merges(bpe)]
    tokenizer = RobertaTokenizer(vocab=bpe.get_vocab(), merges=merges, model_max_length=max_positions - 2)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    if deterministic:
        _no_randomness(config)
    torch.manual_seed(seed)
    with quiet_transformers():
        RobertaModel(config, add_pooling_layer=False).save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def save_tiny_mpnet(path: str | Path, *, seed: int = 0, layers: int = 3, max_positions: int = 130) -> Path:
    """A ``layers``-layer MPNet (hidden 32; relative position bias like all-mpnet-base-v2) with
    a word-piece tokenizer over the few sentences' words."""
    import re

    from transformers import MPNetConfig, MPNetModel, MPNetTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    words = sorted({w for s in _SENTENCES + ["Speaker 1 2 3 4 5 6 7 8 9 : Now feels"]
                    for w in re.findall(r"\w+|[^\w\s]", s.lower())})
    specials = ["<s>", "<pad>", "</s>", "[UNK]", "<mask>"]
    vocab = {token: i for i, token in enumerate(specials + words)}
    tokenizer = MPNetTokenizerFast(vocab=vocab, model_max_length=max_positions - 2)
    config = MPNetConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    with quiet_transformers():
        MPNetModel(config, add_pooling_layer=False).save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def _bpe_merges(bpe) -> list:
    import json

    model = json.loads(bpe._tokenizer.to_str())["model"]
    return model["merges"]


def save_tiny_data2vec_audio(path: str | Path, *, seed: int = 0, deterministic: bool = False) -> Path:
    """A 2-layer Data2VecAudio (hidden 32) with a Wav2Vec2 feature extractor (16 kHz, masks)."""
    from transformers import Data2VecAudioConfig, Data2VecAudioModel, Wav2Vec2FeatureExtractor

    path = Path(path)
    config = Data2VecAudioConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    if deterministic:
        _no_randomness(config)
    torch.manual_seed(seed)
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    with quiet_transformers():
        Data2VecAudioModel(config).save_pretrained(path)
        extractor.save_pretrained(path)
    return path


def save_tiny_timesformer(
    path: str | Path, *, seed: int = 0, num_frames: int = 8, image_size: int = 32, deterministic: bool = False
) -> Path:
    """A 2-layer TimeSformer (hidden 32, 32x32 frames) with a VideoMAE image processor."""
    from transformers import TimesformerConfig, TimesformerModel, VideoMAEImageProcessor

    path = Path(path)
    config = TimesformerConfig(
        image_size=image_size,
        patch_size=16,
        num_frames=num_frames,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
    )
    if deterministic:
        _no_randomness(config)
    torch.manual_seed(seed)
    with quiet_transformers():
        processor = VideoMAEImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        )
        TimesformerModel(config).save_pretrained(path)
        processor.save_pretrained(path)
    return path
