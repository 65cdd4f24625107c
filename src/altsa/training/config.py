"""Training hyperparameters for the three stages (spec: ALTSA.md, "Training stages").

One ``StageConfig`` per stage (teacher, students, fusion); the distillation hyperparameters
(tau, beta, gamma, tau_f, lambdas) sit at the top level because the spec names them there.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StageConfig:
    """Optimisation of one stage. Each stage picks its epoch on dev weighted F1 (spec 4)."""

    epochs: int = 20
    lr: float = 1e-3  # AdamW learning rate of the heads / fusion
    encoder_lr: float = 2e-5  # a fine-tuned encoder (teacher stage: text; students stage: audio/video)
    weight_decay: float = 0.01
    batch_dialogues: int = 16  # dialogues per batch (all stages on cached features)
    batch_utterances: int = 16  # teacher fine-tuning: utterances per batch
    batch_clips: int = 0  # students fine-tuned end to end: clips per batch (0: memory-aware, see students.py)
    grad_accum: int = 1  # batches per optimiser step
    grad_clip: float = 1.0  # max gradient norm (0: off)
    warmup: float = 0.0  # fraction of steps with a linear warm-up
    schedule: str = "constant"  # "constant", "linear" or "cosine" decay after warm-up
    patience: int = 0  # stop after this many epochs without a better dev F1 (0: never)
    layer_decay: float = 1.0  # <1: layer-wise lr decay of a fine-tuned encoder, encoder_lr * layer_decay**k
    # for the block k below the top (embeddings: k = number of blocks); 1: one encoder_lr (training.loop.encoder_lrs)
    ema: float = 0.0  # >0: keep an exponential moving average of the weights (decay per optimiser
    # step); dev scoring, epoch choice and the saved model use the averaged weights


@dataclass
class ContrastConfig:
    """The supervised prototypical contrastive loss of the teacher stage's text vectors
    (``altsa.losses.contrastive``): ``+ weight * L_con``; off at weight 0."""

    weight: float = 0.0  # lambda_con
    tau: float = 0.1  # temperature of the cosine similarities
    queue: int = 64  # vectors per class behind each class prototype


@dataclass
class TrainConfig:
    stages: list[str] = field(default_factory=lambda: ["teacher", "students", "fusion"])  # run in this order
    teacher: StageConfig = field(default_factory=lambda: StageConfig(epochs=10))
    students: StageConfig = field(default_factory=lambda: StageConfig(epochs=10))
    fusion: StageConfig = field(default_factory=lambda: StageConfig(epochs=30))
    tau: float = 4.0  # logit relation temperature
    beta: float = 1.0  # inter-class relation weight
    gamma: float = 1.0  # intra-class relation weight
    tau_f: float = 1.0  # feature similarity temperature
    lambda_logit: float = 1.0
    lambda_feat: float = 1.0
    distill: bool = True  # False: students trained with CE only (ablation)
    # Text -> text distillation: a run directory or bundled model (e.g. meld-text-accurate) whose
    # text branch teaches this run's text branch in the teacher stage, with the student losses
    # (CE + lambda_logit L_rel + lambda_feat L_sim; training.textdistill); frozen or cache_lower text encoders
    distill_from: str | list[str] | None = None  # a list: an ensemble of runs teaches (mean logits)
    # With distill_from: the fusion stage learns from the teacher's final (conversation-level)
    # predictions too: CE + lambda_logit L_rel(logits, logits_T) (training.textdistill); off with distill: false
    distill_fusion: bool = True
    contrastive: ContrastConfig = field(default_factory=ContrastConfig)  # teacher stage, text vectors
    curriculum: str = "none"  # teacher stage: "spcl" trains half the items per epoch, easy ones first
    # (difficulty from the distances to the class centres, recomputed each epoch; training.curriculum)
    rdrop: float = 0.0  # R-Drop's alpha in the teacher stage (altsa.losses.rdrop): two passes + symmetric KL; 0: off
    class_weights: str | list[float] = "none"  # none | balanced | sqrt | one weight per class (CE, all stages)
    label_smoothing: float = 0.0
    fusion_trains_branches: bool = False  # fusion stage also trains the modality projections (spec: frozen)
    eval_batch_dialogues: int = 64
    checkpoint_every: int = 0  # also checkpoint every N optimiser steps inside an epoch (0: epoch ends only)
    tensorboard: bool = False  # write TensorBoard events to RUN/tb (needs the tensorboard extra)
    teacher_from: str | None = None  # a finished run whose teacher (text branch + RUN/text-encoder/) this run
    # reuses instead of training its own: `altsa ablate --share-teacher` (one RoBERTa-large for every row)
    mixed_precision: str = "no"  # accelerate: "no", "fp16", "bf16"
    cpu: bool = False  # force CPU even when a GPU is visible
    allow_missing_media: bool = False  # train on even if no clip named by the corpus can be used (else: error)
