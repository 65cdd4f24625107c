"""A tiny synthetic multimodal corpus (JSONL + generated mp4 clips) for smoke tests and demos.

Every clip carries a tone whose pitch and a frame colour whose brightness depend on the
utterance's label, so audio and video hold real (learnable) signal; a few clips are missing
on purpose (absent modalities). ``tiny_overrides`` points any experiment config at such a
corpus and at tiny random encoders (``altsa.encoders.tiny``), two optimiser steps per stage,
so every shipped config and stage can be exercised on a CPU in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LABELS = ["anger", "joy", "neutral", "sadness"]
WORDS = {"anger": "you always do this, I hate it", "joy": "great news, thank you so much",
         "neutral": "okay, see you at five then", "sadness": "I miss her, it is so sad"}


def write_clip(path: Path, label_index: int, seconds: float = 0.5, size: int = 32, fps: int = 8) -> Path:
    """An mp4 (h264 + aac): a tone of 220*(k+1) Hz and flat frames of grey level 40+50k."""
    import av

    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    audio = (0.3 * np.sin(2 * np.pi * (220.0 * (label_index + 1)) * t)).astype(np.float32)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width = vs.height = size
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=rate, layout="mono")
        for i in range(0, audio.size, 1024):
            frame = av.AudioFrame.from_ndarray(audio[None, i : i + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            out.mux(aus.encode(frame))
        out.mux(aus.encode(None))
        for _ in range(int(seconds * fps)):
            img = np.full((size, size, 3), 40 + 50 * label_index, np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(vs.encode(None))
    return path


def write_split(root: Path, name: str, dialogues: int, seed: int) -> Path:
    """``root/<name>.jsonl`` with ``dialogues`` conversations of 3-5 utterances, clips in ``root/clips``."""
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for d in range(dialogues):
        utts = []
        for p in range(3 + d % 3):
            k = int(rng.integers(len(LABELS)))
            clip = f"clips/{name}_{d}_{p}.mp4"
            if (d + p) % 7 != 3:  # some clips are missing: absent audio and video
                write_clip(root / clip, k)
            utts.append({"position": p, "speaker": ["Ann", "Bob", "Cy"][p % 3], "text": WORDS[LABELS[k]],
                         "emotion": LABELS[k], "media": clip})
        lines.append(json.dumps({"dialogue_id": f"{name}{d}", "utterances": utts}))
    path = root / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_corpus(root: str | Path, train_dialogues: int = 8, dev_dialogues: int = 4) -> Path:
    root = Path(root)
    write_split(root, "train", train_dialogues, 0)
    write_split(root, "dev", dev_dialogues, 1)
    return root


MELD_SPLITS = {"train": ("train_sent_emo.csv", "train_splits"), "dev": ("dev_sent_emo.csv", "dev_splits_complete"),
               "test": ("test_sent_emo.csv", "output_repeated_splits_test")}
_SENTIMENT = {"anger": "negative", "joy": "positive", "neutral": "neutral", "sadness": "negative"}


def make_meld_tree(root: str | Path, dialogues: dict[str, int] | None = None, seed: int = 0) -> Path:
    """A MELD.Raw-shaped tree: the three official CSVs (MELD's columns) beside the clip folders
    ``train_splits/``, ``dev_splits_complete/``, ``output_repeated_splits_test/`` holding
    ``dia{D}_utt{U}.mp4`` (real h264 + aac, labelled tone and grey level as ``write_clip``).
    One train clip per dialogue-multiple of 7 is missing, as in MELD.Raw, and one is corrupt."""
    import csv

    root = Path(root)
    counts = dialogues or {"train": 8, "dev": 4, "test": 3}
    rng = np.random.default_rng(seed)
    sr = 1
    for split, n in counts.items():
        name, folder = MELD_SPLITS[split]
        (root / folder).mkdir(parents=True, exist_ok=True)
        rows = []
        for d in range(n):
            for u in range(3 + d % 3):
                k = int(rng.integers(len(LABELS)))
                label = LABELS[k]
                rows.append([sr, WORDS[label], ["Ross", "Rachel", "Joey"][u % 3], label, _SENTIMENT[label], d, u,
                             1, 1, "00:00:01,000", "00:00:02,000"])
                sr += 1
                clip = root / folder / f"dia{d}_utt{u}.mp4"
                if split == "train" and (d + u) % 7 == 3:
                    continue  # missing, as some MELD.Raw clips are
                write_clip(clip, k)
        if split == "train":
            (root / folder / "dia0_utt1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
        with open(root / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
                             "Season", "Episode", "StartTime", "EndTime"])
            writer.writerows(rows)
    return root


def tiny_overrides(corpus: Path, models: dict[str, Path], cache: Path, *, modalities=("text", "audio", "video"),
                   text_mode: str | None = "plain", epochs: int = 1, preset: str = "embedded") -> list[str]:
    """Overrides that point any config at the synthetic corpus and tiny encoders, two steps per stage.

    Where the config's encoder preset has the modality, only the model is replaced (the
    preset's settings stay, as the shipped config means them); otherwise kind and model."""
    from altsa.encoders.presets import PRESETS

    mods = ",".join(modalities)
    out = [
        "data.corpus=jsonl",
        f"data.root={corpus}",
        "data.splits={train: train.jsonl, dev: dev.jsonl}",
        "data.clips=null",
        f"encoders.modalities=[{mods}]",
        f"features.cache_dir={cache}",
        "model.d=16",
        "model.heads=2",
        "train.eval_batch_dialogues=4",
        "train.distill_from=null",  # a config's real teacher (a bundled model) reads other encoders
    ]
    for m in modalities:
        kind = {"text": "hf-text", "audio": "hf-audio", "video": "hf-video"}[m]
        if m not in PRESETS[preset] or PRESETS[preset][m].kind != kind:
            out.append(f"encoders.{m}.kind={kind}")
        out += [f"encoders.{m}.model={models[m]}", f"encoders.{m}.batch_size=8"]
    if "audio" in modalities:  # equal-length clips: no bucket padding, a third of the work
        out.append("encoders.audio.options={bucket_seconds: 0}")
    if "text" in modalities:
        out.append("encoders.text.max_length=64")
        out += [f"encoders.text.text_mode={text_mode}"] if text_mode else []
    for stage in ("teacher", "students", "fusion"):
        # 8 train dialogues in batches of 4 and 16 utterances: two optimiser steps per epoch
        out += [f"train.{stage}.epochs={epochs}", f"train.{stage}.batch_dialogues=4",
                f"train.{stage}.batch_utterances=16"]
    return out


def setup_tiny(root: str | Path) -> dict[str, Path | dict[str, Path]]:
    """Corpus, tiny encoders and a feature cache under ``root``, built once and reused (a
    ``done`` marker makes it idempotent, so several test modules share one extraction)."""
    from altsa.encoders.tiny import save_tiny_data2vec_audio, save_tiny_roberta, save_tiny_timesformer
    from altsa.io import atomic_write_text

    root = Path(root)
    models = {m: root / "encoders" / m for m in ("text", "audio", "video")}
    out = {"corpus": root / "corpus", "models": models, "cache": root / "cache"}
    if (root / "done").is_file():
        return out
    make_corpus(out["corpus"])
    save_tiny_roberta(models["text"], layers=6)  # MiniLM's depth: shipped configs may name its layers
    save_tiny_data2vec_audio(models["audio"])
    save_tiny_timesformer(models["video"])
    atomic_write_text(root / "done", "ok\n")
    return out
