"""Students stage, end to end: fine-tune a student encoder (audio or video) with its branch on
decoded clips, under ``L_s = CE + lambda_logit L_rel + lambda_feat L_sim`` from the frozen
teacher (spec 2, stage 2).

Used when the student's encoder config is not frozen (``freeze: false``, or ``unfreeze_last``:
its top N blocks). The teacher's targets ``z_t``, ``h_t`` are computed once, in eval mode,
from the teacher's (fine-tuned) text vectors. Clips are decoded every epoch in loader threads
(``media.max_seconds`` cuts long ones); one that cannot be read is skipped with its reason and
counted per epoch in the log and metrics.json, never a crash. After the stage the tuned
encoder is saved into the run (``RUN/audio-encoder/``, ``RUN/video-encoder/``) and its vectors
are cached like a frozen encoder's, so the fusion stage, ``evaluate``, ``predict`` and
``serve`` read the fine-tuned student.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from altsa.data.media import Absent, decode_audio, decode_video
from altsa.data.schema import NOT_PROVIDED, Corpus, LabelSet
from altsa.errors import ConfigError
from altsa.losses import IGNORE, DistillWeights, student_loss
from altsa.model.branches import ModalityBranch
from altsa.evaluation.metrics import Selection
from altsa.training.predict import WEIGHTED_F1, dev_score

CPU_CLIP_BATCH = 8  # clips per batch on a CPU (no memory to probe; small keeps a step short)
MAX_CLIP_BATCH = 64  # the memory probe never goes above this


class StudentNet(nn.Module):
    """Trainable student encoder + the model's branch for it: prepared clip tensors -> (h_s, z_s)."""

    def __init__(self, encoder: Any, branch: ModalityBranch):
        super().__init__()
        self.encoder = encoder.module  # registered: its parameters train and checkpoint
        self.branch = branch  # the ALTSA model's own student branch, trained in place
        self._student = encoder  # preprocessing and pooling live there

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        vectors = self._student.forward_prepared(inputs)  # [n, D]
        present = torch.ones(vectors.shape[0], dtype=torch.bool, device=vectors.device)
        h, z = self.branch(vectors, present)
        return {"h": h, "z": z}


def check_tunable(encoder: Any, modality: str) -> None:
    if not all(hasattr(encoder, a) for a in ("module", "prepare", "forward_prepared", "save_pretrained")):
        raise ConfigError(
            f"encoders.{modality}: {type(encoder).__name__} cannot be fine-tuned end to end (freeze=false); "
            f"use an hf-{modality} encoder or keep it frozen"
        )


def trainable_prefixes(module: nn.Module, prefix: str) -> list[str]:
    """State-dict names of the parameters the encoder config leaves trainable (all of them with
    ``freeze: false``; the top ``unfreeze_last`` blocks otherwise), under ``prefix``."""
    return [f"{prefix}.{n}" for n, p in module.named_parameters() if p.requires_grad]


@dataclass
class ClipItems:
    """The utterances of one split that name a clip, with labels and the teacher's targets."""

    keys: list[str]
    sources: list[tuple[str, Any]]  # (media path, span of it in seconds or None)
    labels: torch.Tensor  # [n] long, IGNORE where unlabelled
    z_t: torch.Tensor | None  # [n, C] teacher logits (eval mode), None without distillation
    h_t: torch.Tensor | None  # [n, d] teacher latents
    skipped: dict[str, int]  # reason -> utterances left out before decoding

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def build(cls, corpus: Corpus, modality: str, label_set: LabelSet, task: str, *, labelled_only: bool,
              teacher: Any = None, text_table: Any = None) -> ClipItems:
        """``teacher`` (the ALTSA model) and ``text_table`` (the text FeatureTable of ``corpus``)
        give the distillation targets; then utterances without text are left out (reason
        ``no_text``), as the feature-based stage does."""
        keys, sources, labels, rows = [], [], [], []
        skipped: Counter[str] = Counter()
        text_row = {k: i for i, k in enumerate(text_table.keys)} if text_table is not None else None
        for u in corpus.utterances():
            lab = u.labels.get(task)
            index = label_set.index(lab) if lab else IGNORE
            if labelled_only and index == IGNORE:
                continue
            source = u.audio_source() if modality == "audio" else u.video_source()
            if source is None:
                skipped[NOT_PROVIDED] += 1
                continue
            if text_row is not None:
                r = text_row[u.key]
                if not bool(text_table.present[r]):
                    skipped["no_text"] += 1
                    continue
                rows.append(r)
            keys.append(u.key)
            sources.append((str(source), u.span))
            labels.append(index)
        z_t = h_t = None
        if text_row is not None:
            vectors = text_table.vectors[torch.tensor(rows, dtype=torch.long)].float() if rows else None
            device = next(teacher.branches["text"].parameters()).device
            hs, zs = [], []
            for start in range(0, len(rows), 512):  # the teacher in eval mode: no dropout in the targets
                chunk = vectors[start : start + 512].to(device)
                h, z = teacher.teacher_targets(chunk, torch.ones(len(chunk), dtype=torch.bool, device=device))
                hs.append(h.float().cpu())
                zs.append(z.float().cpu())
            d, c = teacher.cfg.d, teacher.num_classes
            h_t = torch.cat(hs) if hs else torch.zeros(0, d)
            z_t = torch.cat(zs) if zs else torch.zeros(0, c)
        return cls(keys, sources, torch.tensor(labels, dtype=torch.long), z_t, h_t, dict(skipped))


class ClipLoader:
    """Decodes clips in threads and prepares the encoder's input tensors; clips that cannot be
    read are skipped and counted by their ``Absent`` reason (``missing_file``, ``unreadable``,
    ``no_audio_stream``, ``silent``, ...)."""

    def __init__(self, encoder: Any, modality: str, items: ClipItems, workers: int | None = None):
        self.encoder, self.modality, self.items = encoder, modality, items
        self.media = encoder.media
        self.pool = ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1),
                                       thread_name_prefix=f"{modality}-decode")
        self.counts: Counter[str] = Counter()

    def _decode(self, source: tuple[str, Any]) -> Any:
        path, span = source
        return (decode_audio if self.modality == "audio" else decode_video)(path, self.media, span=span)

    def placeholder(self) -> np.ndarray:
        """A stand-in when every clip of a batch is unreadable: every process still runs its
        forward and backward (distributed training stays in step), with weight 0."""
        if self.modality == "audio":
            return np.zeros(self.media.sample_rate, dtype=np.float32)  # 1 s of silence
        return self.encoder.blank()

    def load(self, idx: list[int]) -> dict[str, Any]:
        decoded = list(self.pool.map(self._decode, [self.items.sources[i] for i in idx]))
        good = [j for j, d in enumerate(decoded) if not isinstance(d, Absent)]
        for d in decoded:
            self.counts[d.reason if isinstance(d, Absent) else "ok"] += 1
        rows = torch.tensor([idx[j] for j in good], dtype=torch.long)
        batch: dict[str, Any] = {"empty": not good}
        clips = [decoded[j] for j in good] if good else [self.placeholder()]
        batch["inputs"] = self.encoder.prepare(clips)
        if good:
            batch["labels"] = self.items.labels[rows]
            batch["rows"] = rows
            if self.items.z_t is not None:
                batch["z_t"], batch["h_t"] = self.items.z_t[rows], self.items.h_t[rows]
        else:
            batch["labels"] = torch.full((1,), IGNORE, dtype=torch.long)
        return batch

    def take_counts(self) -> dict[str, int]:
        """Clips read and skipped (by reason) since the last call."""
        counts, self.counts = dict(self.counts), Counter()
        return counts

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def student_objective(hp: DistillWeights, weight: torch.Tensor | None, label_smoothing: float):
    def loss(module: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = module(batch["inputs"])
        z_s, h_s = out["z"].float(), out["h"].float()  # losses in fp32 under mixed precision
        if batch["empty"]:  # nothing readable: keep the graph (and every process) in step, learn nothing
            zero = (z_s.sum() + h_s.sum()) * 0.0
            return {"loss": zero, "ce": zero.detach(), "kd_logit": zero.detach(), "kd_feature": zero.detach()}
        distill = hp.distill and "z_t" in batch
        z_t = batch["z_t"] if distill else z_s.detach()
        h_t = batch["h_t"] if distill else h_s.detach()
        use = hp if distill else DistillWeights(**{**hp.__dict__, "distill": False})
        return student_loss(z_s, h_s, z_t, h_t, batch["labels"], use, weight=weight, label_smoothing=label_smoothing)

    return loss


@torch.no_grad()
def score_student(net: StudentNet, loader: ClipLoader, batch_size: int, metric: Selection = WEIGHTED_F1) -> float:
    """The dev score (``metric``) of the student head over the clips that decode (eval mode)."""
    was = net.training
    net.eval()
    items = loader.items
    logits = torch.zeros(len(items), net.branch.head.out_features)
    read = torch.zeros(len(items), dtype=torch.bool)
    try:
        for start in range(0, len(items), batch_size):
            batch = loader.load(list(range(start, min(start + batch_size, len(items)))))
            if batch["empty"]:
                continue
            logits[batch["rows"]] = net(batch["inputs"])["z"].float().cpu()
            read[batch["rows"]] = True
    finally:
        net.train(was)
    return dev_score(items.labels, logits, read, metric)


def clip_batch_size(net: StudentNet, loader: ClipLoader, accelerator: Any, requested: int) -> tuple[int, str]:
    """Clips per batch, and how it was chosen: ``requested`` when set (> 0); on a CPU
    ``CPU_CLIP_BATCH``; on a GPU a probe: forward and backward of 1 and 2 clips of the
    longest input the encoder takes (``media.max_seconds`` of audio; a full-size video) give
    the memory per clip and the fixed part, and the batch fills 85 % of what is free after
    AdamW's moments (allocated at the first step). An out-of-memory batch still halves."""
    if requested > 0:
        return requested, "train.students.batch_clips"
    device = accelerator.device
    if device.type != "cuda":
        return CPU_CLIP_BATCH, f"default on {device.type}"
    blank = loader.encoder.blank()

    def peak(n: int) -> int:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with accelerator.autocast():
            out = net(loader.encoder.prepare([blank] * n))
            (out["z"].float().sum() + out["h"].float().sum()).backward()
        net.zero_grad(set_to_none=True)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base

    try:
        one, two = peak(1), peak(2)
    except torch.OutOfMemoryError:
        net.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        return 1, "memory probe: 2 clips do not fit"
    per_clip = max(two - one, 1)
    fixed = max(one - per_clip, 0)
    free, _ = torch.cuda.mem_get_info(device)
    moments = 2 * sum(p.numel() * p.element_size() for p in net.parameters() if p.requires_grad)
    fits = int((0.85 * free - fixed - moments) // per_clip)
    size = max(1, min(MAX_CLIP_BATCH, fits))
    return size, f"memory probe: {per_clip / 2**20:.0f} MiB per clip, {free / 2**30:.1f} GiB free"
