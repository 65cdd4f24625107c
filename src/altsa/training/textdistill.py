"""Text -> text distillation (``train.distill_from``): another model's text branch teaches
this run's text branch in the teacher stage, with the student objective of the spec
(``altsa.losses.student_loss``: CE + lambda_logit L_rel(z, z_T) + lambda_feat L_sim(h, h_T)).

With ``train.distill_fusion`` (default on) the fusion stage learns from the teacher's final
predictions as well (``CE + lambda_logit L_rel(logits, logits_T)``): the teacher's conversation
model read the context, so its final logits carry what its text branch alone does not.

``train.distill_from`` may name several finished runs (a list): an ensemble teaches. Its logits
(text branch and final) are the mean of the teachers' logits; ``L_sim`` is the mean of each
teacher's ``L_sim`` (``altsa.losses.student_loss``), since their feature spaces differ.

"Train big, distil small": ``meld-text-minilm`` learns from ``meld-text-accurate``. The
teacher's outputs are computed once, before the stage, from its text vectors (through the
feature cache) and its text branch in eval mode; they are constants (no gradient reaches the
teacher). Works for both teacher-stage routes: text vectors cached from a frozen encoder
(batches of dialogues) and the tuned top blocks (batches of utterances, ``topteacher``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from altsa.errors import ConfigError
from altsa.losses import DistillWeights, teacher_objective


def sources(distill_from: str | list[str] | None) -> list[str]:
    """``train.distill_from`` as a list of teachers (one run, or an ensemble's runs)."""
    if distill_from is None:
        return []
    found = [str(s) for s in ([distill_from] if isinstance(distill_from, str) else distill_from)]
    if not found or len(set(found)) != len(found):
        raise ConfigError(f"train.distill_from={distill_from}: name one teacher, or a list of distinct ones")
    return found


def check_distill_source(cfg: Any, labels: Any) -> None:
    """At set-up, before any encoder pass: ``train.distill_from`` names runs or bundled models
    that can teach this run (``check_fit``: the same labels and ``d``).
    Found later, a missing teacher would cost the cache of the lower blocks first."""
    for source in sources(cfg.train.distill_from):
        _check_one_source(source, cfg, labels)


def _check_one_source(source: str, cfg: Any, labels: Any) -> None:
    from altsa.config import load_config
    from altsa.errors import ModelError
    from altsa.experiment import ExperimentConfig
    from altsa.training.run import load_labels, resolve_run

    try:
        path = resolve_run(source)
    except ModelError:
        from altsa.inference.bundled import list_bundled

        raise ConfigError(f"train.distill_from={source}: no run directory or bundled model of that name; train the "
                          f"teacher first (its recipe in docs/training.md) or name a bundled model "
                          f"({', '.join(list_bundled())})") from None
    if not (path / "model.safetensors").is_file():
        raise ConfigError(f"train.distill_from={source}: that run has not finished (no model.safetensors); "
                          f"finish it first: altsa train --resume {path}")
    _, theirs = load_labels(path / "labels.json")
    other = load_config(ExperimentConfig, path / "config.yaml")
    check_fit(source, theirs.labels, labels, cfg, other.model.d)


def check_fit(source: str, their_labels: Any, labels: Any, cfg: Any = None, their_d: int | None = None) -> None:
    """The teacher ``source`` answers in this run's labels, and (``their_d`` given: it has a
    text branch) its text branch has this model's ``d``: ``L_sim`` compares h and h_T directly."""
    if tuple(their_labels) != tuple(labels.labels):
        raise ConfigError(f"train.distill_from {source!r}: its labels {list(their_labels)} differ from this "
                          f"run's {list(labels.labels)}")
    if their_d is not None and cfg.model.d != their_d:
        raise ConfigError(f"train.distill_from {source!r}: its text branch has d={their_d}, "
                          f"this model d={cfg.model.d}; set model.d={their_d}")


def teacher_outputs(distill_from: str | list[str], cfg: Any, corpus: Any, labels: Any,
                    log=print) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """``(keys, h_T [n, K, d], z_T [n, C])``: the text branches of the K teachers named by
    ``distill_from`` on every utterance of ``corpus`` (corpus order); ``z_T`` is the mean of
    their logits, the ensemble's."""
    keys, hs, zs = [], [], []
    for source in sources(distill_from):
        keys, h, z = _one_teacher_outputs(source, cfg, corpus, labels, log=log)
        hs.append(h)
        zs.append(z)
    return keys, torch.stack(hs, dim=1), torch.stack(zs).mean(0)


@torch.no_grad()
def _one_teacher_outputs(source: str, cfg: Any, corpus: Any, labels: Any, log=print) -> tuple[list[str], torch.Tensor,
                                                                                               torch.Tensor]:
    """``(keys, h_T [n, d], z_T [n, C])``: the text branch of run or bundled model ``source`` on
    every utterance of ``corpus`` (corpus order). Its text vectors come through the feature
    cache (``cfg.features``), so a teacher trained with the same cache costs no encoder pass."""
    from altsa.encoders.base import build_encoder
    from altsa.training.pipeline import _import_encoder_kinds, features_for
    from altsa.training.run import load_run

    teacher = load_run(source)
    if "text" not in teacher.model.dims:
        raise ConfigError(f"train.distill_from {source!r}: that model has no text branch")
    check_fit(source, teacher.labels.labels, labels, cfg, teacher.model.cfg.d if teacher.model.dims["text"] else None)
    _import_encoder_kinds()
    encoder = build_encoder(teacher.encoders["text"])
    table = features_for(cfg, corpus, {"text": encoder}, log=log)["text"]
    teacher.model.eval()
    h, z = teacher.model.branches["text"](table.vectors.float(), table.present.bool())
    log(f"distillation: the text branch of {source} teaches this text branch (train utterances)")
    return list(table.keys), h.detach(), z.detach()


def weights(tc: Any) -> DistillWeights:
    return DistillWeights(tc.tau, tc.beta, tc.gamma, tc.tau_f, tc.lambda_logit, tc.lambda_feat)


def distilled_dialogue_stage(stage: Any, train: Any, cfg: Any, corpus: Any, labels: Any, weight: Any, log=print,
                             contrast: Any = None) -> Any:
    """The frozen-vector teacher stage (batches of dialogues) with the student objective
    against ``train.distill_from``'s text branch: same stage, loader and loss replaced
    (``contrast``: the stage's ``L_con``, and ``train.rdrop``, as in ``training.pipeline.teacher_stage``)."""
    from altsa.training.pipeline import dialogue_text_forward

    keys, h_t, z_t = teacher_outputs(cfg.train.distill_from, cfg, corpus, labels, log=log)
    row = {k: i for i, k in enumerate(keys)}
    hp, tc = weights(cfg.train), cfg.train
    load = stage.load_batch

    def load_batch(idx: list[int]) -> dict[str, Any]:
        batch = load(idx)
        b, n = batch["mask"].shape
        batch["h_teacher"] = torch.zeros(b, n, *h_t.shape[1:])  # [B, N, K, d]
        batch["z_teacher"] = torch.zeros(b, n, z_t.shape[1])  # [B, N, C]
        for i, d in enumerate(train.dialogues[j] for j in idx):
            rows = torch.tensor([row[k] for k in d.keys])
            batch["h_teacher"][i, : len(d)] = h_t[rows]
            batch["z_teacher"][i, : len(d)] = z_t[rows]
        return batch

    loss = teacher_objective(dialogue_text_forward(train.dims), weight=weight, label_smoothing=tc.label_smoothing,
                             hp=hp, contrast=contrast, rdrop=tc.rdrop)
    return dataclasses.replace(stage, load_batch=load_batch, loss=loss)


def teacher_final_logits(distill_from: str | list[str], cfg: Any, corpus: Any, labels: Any,
                         log=print) -> dict[str, torch.Tensor]:
    """``{utterance key: logits_T [C]}``: the mean final logits of the teachers named by
    ``distill_from`` on every utterance of ``corpus``."""
    found = [_one_teacher_final_logits(s, cfg, corpus, labels, log=log) for s in sources(distill_from)]
    return {k: torch.stack([f[k] for f in found]).mean(0) for k in found[0]}


@torch.no_grad()
def _one_teacher_final_logits(source: str, cfg: Any, corpus: Any, labels: Any, log=print) -> dict[str, torch.Tensor]:
    """``{utterance key: logits_T [C]}``: the whole model of run or bundled model ``source``
    (its encoders, fusion and conversation model, eval mode) on every utterance of ``corpus``."""
    from altsa.encoders.base import build_encoder
    from altsa.training.data import build_split
    from altsa.training.pipeline import _import_encoder_kinds, features_for
    from altsa.training.predict import predict_split
    from altsa.training.run import load_run

    teacher = load_run(source)
    check_fit(source, teacher.labels.labels, labels)
    _import_encoder_kinds()
    encoders = {m: build_encoder(ec) for m, ec in teacher.encoders.items() if m in teacher.model.dims}
    tables = features_for(cfg, corpus, encoders, log=log)
    split = build_split(corpus.name, corpus, tables, teacher.labels, cfg.data.task)
    p = predict_split(teacher.model, split, cfg.train.eval_batch_dialogues)
    log(f"distillation: the final predictions of {source} teach the fusion stage (train utterances)")
    return dict(zip(p.keys, p.logits))


def distilled_fusion_stage(stage: Any, train: Any, cfg: Any, corpus: Any, labels: Any, weight: Any, log=print) -> Any:
    """The fusion stage with ``CE + lambda_logit L_rel(logits, logits_T)`` against the final
    predictions of ``train.distill_from`` (same stage, loader and loss replaced)."""
    target = teacher_final_logits(cfg.train.distill_from, cfg, corpus, labels, log=log)
    tc = cfg.train
    n_classes = len(labels.labels)
    load = stage.load_batch

    def load_batch(idx: list[int]) -> dict[str, Any]:
        batch = load(idx)
        b, n = batch["mask"].shape
        batch["logits_teacher"] = torch.zeros(b, n, n_classes)
        for i, d in enumerate(train.dialogues[j] for j in idx):
            batch["logits_teacher"][i, : len(d)] = torch.stack([target[k] for k in d.keys])
        return batch

    def loss(module, batch):
        out = module(**{m: batch[m] for m in train.dims}, present=batch["present"], mask=batch["mask"])
        return fusion_distill_loss(out["logits"], batch["logits_teacher"], batch["labels"], batch["mask"], tc, weight)

    return dataclasses.replace(stage, load_batch=load_batch, loss=loss)


def fusion_distill_loss(logits: torch.Tensor, logits_teacher: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                        tc: Any, weight: Any = None) -> dict[str, torch.Tensor]:
    """``CE(logits, labels) + lambda_logit L_rel(logits, logits_T)`` over a batch of dialogues
    (``[B, N, C]`` logits, ``[B, N]`` labels and mask): CE over labelled turns, ``L_rel`` over
    every real turn (the teacher labels unlabelled ones too)."""
    from altsa.losses import classification_loss
    from altsa.losses.relation import relation_loss

    parts = classification_loss(logits, labels, weight=weight, label_smoothing=tc.label_smoothing)
    kd = relation_loss(logits[mask], logits_teacher[mask].to(logits.device), tau=tc.tau, beta=tc.beta, gamma=tc.gamma)
    parts["kd_logit"], parts["loss"] = kd, parts["ce"] + tc.lambda_logit * kd
    return parts
