"""One training loop for every stage: AdamW, schedule, checkpoints, resume, epoch selection.

A stage is described by a ``Stage`` (what trains, how a batch's loss is computed, how dev is
scored); ``run_stage`` owns the loop. It runs under ``accelerate launch`` unchanged: the model
and optimiser go through ``Accelerator.prepare``, batches are sharded by process rank, and
every process scores dev itself (cheap, identical), so no gather is needed.

Determinism: batches are a pure function of (seed, epoch); checkpoints hold weights,
optimiser state, RNG state and the position (epoch, step), so a killed run resumed from its
last checkpoint ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from altsa.errors import ConfigError, ModelError
from altsa.training.checkpoint import (
    find_checkpoint,
    load_checkpoint,
    load_tensors,
    save_checkpoint,
    save_tensors,
    seed_everything,
    set_rng_state,
)
from altsa.training.config import StageConfig
from altsa.training.data import epoch_batches, shard

LOSS_PARTS = ("loss", "ce", "kd_logit", "kd_feature")
STAGE_SEEDS = {"teacher": 11, "students": 23, "fusion": 37}  # distinct, fixed seed offsets per stage


@dataclass
class Stage:
    name: str  # "teacher" | "students" | "fusion"
    module: nn.Module  # what the optimiser trains
    trainable: list[str]  # state_dict prefixes of the trained parameters
    groups: dict[str, list[str]]  # selection group -> prefixes; each group keeps its own best epoch
    num_items: int  # training items (dialogues, or utterances when fine-tuning)
    batch_size: int
    load_batch: Callable[[list[int]], dict[str, Any]]  # item indices -> batch (CPU tensors)
    loss: Callable[[nn.Module, dict[str, Any]], dict[str, torch.Tensor]]  # prepared module, batch -> parts
    evaluate: Callable[[nn.Module], dict[str, float]]  # module -> {group: dev score (metric), other metrics...}
    cfg: StageConfig
    lrs: dict[str, float] = field(default_factory=dict)  # prefix -> learning rate (else cfg.lr)
    prefetch: bool = False  # load the next batch in a thread while this one trains (decoded clips)
    epoch_info: Callable[[], dict[str, Any]] | None = None  # extra per-epoch figures (e.g. skipped clips)
    unit: str = "items"  # what one batch item is, for messages ("dialogues", "utterances", "clips")
    curriculum: Any = None  # training.curriculum.Curriculum: which items each epoch trains (else all)
    metric: str = "wF1"  # what the groups' dev scores are (metrics.select_on), for the log


def _matches(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p if p.endswith(".") else p + ".") for p in prefixes)


def lr_of(name: str, lrs: dict[str, float], default: float) -> float:
    """The learning rate of parameter ``name``: the first prefix of ``lrs`` it falls under."""
    return next((lr for pre, lr in lrs.items() if _matches(name, [pre])), default)


def encoder_lrs(root: nn.Module, prefix: str, lr: float, decay: float = 1.0) -> dict[str, float]:
    """Learning rates by parameter prefix for the encoder at ``prefix`` of ``root``: ``lr``
    throughout, or with layer-wise decay (``decay < 1``, LLRD as in ELECTRA / EmoBERTa-style
    fine-tuning) ``lr * decay ** (n - 1 - i)`` for block ``i`` of its ``n`` transformer blocks
    (the top block keeps ``lr``) and ``lr * decay ** n`` for its embeddings. The more general
    prefix comes last: ``Stage.lrs`` takes the first that matches."""
    from altsa.encoders.hf import layer_stack

    if decay == 1.0:
        return {prefix: lr}
    encoder = root.get_submodule(prefix)
    blocks = layer_stack(encoder)
    if blocks is None:
        raise ConfigError(f"layer_decay: no stack of transformer blocks found in {prefix!r}")
    where = next(n for n, m in root.named_modules() if m is blocks)
    n = len(blocks)
    lrs = {f"{where}.{i}": lr * decay ** (n - 1 - i) for i in range(n)}
    for name, _ in encoder.named_parameters():
        if "embeddings" in name.split("."):
            lrs.setdefault(f"{prefix}.{name}", lr * decay**n)
    return {**lrs, prefix: lr}


def _schedule(cfg: StageConfig, step: int, total: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` of ``total``."""
    warm = int(cfg.warmup * total)
    if step < warm:
        return (step + 1) / warm
    if cfg.schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, total - warm)
    if cfg.schedule == "linear":
        return max(0.0, 1.0 - progress)
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ConfigError(f"unknown schedule {cfg.schedule!r}; choose constant, linear or cosine")


def _swap_in(params: list[tuple[str, nn.Parameter]], values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copy ``values`` into the parameters; return what they held before."""
    old = {}
    with torch.no_grad():
        for n, p in params:
            old[n] = p.detach().clone()
            p.copy_(values[n].to(p.device))
    return old


def _group_state(module: nn.Module, prefixes: list[str]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in module.state_dict().items() if _matches(k, prefixes)}


def tensorboard_writer(folder: Any) -> Any:
    """A TensorBoard ``SummaryWriter`` (the ``tensorboard`` extra), or a clear error."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("train.tensorboard=true needs TensorBoard: pip install 'altsa[tensorboard]'") from None
    return SummaryWriter(str(folder))


def _chunks(idx: list[int], parts: int) -> list[list[int]]:
    """``idx`` cut into ``parts`` near-equal consecutive pieces (fewer when it is short)."""
    size = math.ceil(len(idx) / max(1, parts))
    return [idx[i : i + size] for i in range(0, len(idx), size)]


def _train_batch(stage: Stage, model_p: nn.Module, accelerator: Any, batches: list[list[int]], step: int, split: int,
                 accum: int, loader: Any, ahead: dict[int, Any]) -> dict[str, float]:
    """Forward and backward of one batch, in ``split`` passes whose gradients add up to the
    batch's (each pass's loss weighted by its share of the batch); returns the loss parts.

    With a loader, the next batch is decoded in a thread while this one trains (a batch that
    is split after an out-of-memory error is loaded in its pieces instead)."""
    idx = batches[step]
    device = accelerator.device
    sums = dict.fromkeys(LOSS_PARTS, 0.0)
    pieces = _chunks(idx, split)
    for piece in pieces:
        future = ahead.pop(step, None) if split == 1 else None
        if loader is not None and split == 1 and step + 1 < len(batches):
            ahead.clear()
            ahead[step + 1] = loader.submit(stage.load_batch, batches[step + 1])
        batch = future.result() if future is not None else stage.load_batch(piece)
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        parts = stage.loss(model_p, batch)
        share = len(piece) / len(idx)
        accelerator.backward(parts["loss"] * (share / accum))
        for k, v in parts.items():  # LOSS_PARTS, and any part a stage adds (e.g. "contrastive")
            sums[k] = sums.get(k, 0.0) + float(v.detach()) * share
    return sums


def _halve(stage: Stage, idx: list[int], state: dict[str, Any], optimizer: Any, say: Callable[[str], None],
           world: int = 1) -> None:
    """After an out-of-memory error: twice as many passes per batch from now on (kept in the
    checkpoint, so a resumed run does not run out again). The gradients gathered so far in
    this accumulation window are dropped (a failed backward may have added part of its own).
    Under several processes one process cannot change its passes alone (the others would wait
    for it in the gradient exchange): a clear error instead."""
    split = state.get("split", 1)
    if world > 1:
        raise ModelError(
            f"{stage.name}: out of memory on a batch of {len(idx)} {stage.unit} in one of {world} processes; "
            f"rerun the stage with a smaller batch per process (--stage {stage.name.split('-')[0]} "
            f"train.{stage.name.split('-')[0]}.batch_clips=N; one process halves its batch by itself)"
        )
    if math.ceil(len(idx) / split) <= 1:
        raise ModelError(
            f"{stage.name}: out of memory with one {stage.unit.rstrip('s')} per pass; use a smaller model, "
            "shorter clips (media.max_seconds) or train.mixed_precision=bf16"
        )
    optimizer.zero_grad(set_to_none=True)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    state["split"] = split * 2
    say(f"{stage.name}: out of memory on a batch of {len(idx)} {stage.unit}; halving it: "
        f"{math.ceil(len(idx) / state['split'])} per pass, gradients accumulated over {state['split']} passes "
        "(this accumulation window restarts)")


def run_stage(
    stage: Stage,
    run: Any,
    accelerator: Any,
    seed: int,
    *,
    checkpoint_every: int = 0,
    progress: bool = True,
    tensorboard: bool = False,
) -> dict[str, Any]:
    """Train ``stage`` to the end (or resume it); leaves ``stage.module`` holding each group's
    best-epoch weights and writes ``checkpoints/<stage>/{last/, best-<group>.safetensors,
    final.safetensors, done.json}``."""
    folder = run.stage_dir(stage.name)
    module, cfg = stage.module, stage.cfg

    def say(message: str) -> None:
        if accelerator.is_main_process:
            run.log(message)
    if run.is_done(stage.name):  # finished before a crash in the caller's bookkeeping
        module.load_state_dict(load_tensors(folder / "final.safetensors"))
        return json.loads((folder / "done.json").read_text(encoding="utf-8"))
    if cfg.epochs < 1:
        raise ConfigError(f"train.{stage.name}.epochs must be at least 1")
    for n, p in module.named_parameters():
        p.requires_grad_(_matches(n, stage.trainable))
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"stage {stage.name}: nothing to train")
    by_lr: dict[float, list[nn.Parameter]] = {}
    for n, p in params:
        by_lr.setdefault(lr_of(n, stage.lrs, cfg.lr), []).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": ps, "lr": lr, "initial_lr": lr} for lr, ps in by_lr.items()], weight_decay=cfg.weight_decay
    )

    state: dict[str, Any] = {"epoch": 0, "step": 0, "opt_steps": 0, "history": [], "best": {}, "seconds": 0.0}
    ckpt_dir = find_checkpoint(folder / "last")
    seed_everything(seed + STAGE_SEEDS.get(stage.name, 0))
    if ckpt_dir is not None:
        ckpt = load_checkpoint(ckpt_dir)
        module.load_state_dict(ckpt["model"])
        if ckpt["optimizer"] is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        set_rng_state(ckpt["rng"])
        say(f"{stage.name}: resuming at epoch {state['epoch'] + 1}, step {state['step']}")
    # Polyak/EMA averaging of the trained weights: smooths the noisy epoch-to-epoch dev F1 of
    # small corpora (measured on MELD dev: docs/training.md)
    ema = {n: p.detach().clone() for n, p in params} if cfg.ema > 0 else None
    if ema is not None and ckpt_dir is not None and ckpt.get("ema") is not None:
        ema = {n: ckpt["ema"][n].clone() for n in ema}
    model_p, optimizer = accelerator.prepare(module, optimizer)

    world, rank = accelerator.num_processes, accelerator.process_index
    items = stage.num_items
    if stage.curriculum is not None:  # each epoch trains a part of the items
        from altsa.training.curriculum import per_epoch as curriculum_items

        items = curriculum_items(stage.num_items)
    per_epoch = len(shard(epoch_batches(items, stage.batch_size, seed, 0), rank, world))
    accum = max(1, cfg.grad_accum)
    total_steps = cfg.epochs * math.ceil(per_epoch / accum)
    main = accelerator.is_main_process

    def checkpoint(epoch: int, step: int) -> None:
        accelerator.wait_for_everyone()
        if main:
            save_checkpoint(
                folder / "last",
                model=accelerator.unwrap_model(model_p).state_dict(),
                optimizer=optimizer.state_dict(),
                state={**state, "epoch": epoch, "step": step},
                extra={"ema": ema} if ema is not None else None,
            )

    writer = tensorboard_writer(run.path / "tb" / stage.name) if tensorboard and main else None
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{stage.name}-loader") if stage.prefetch else None
    bar = run.progress(stage.name, cfg.epochs * per_epoch, enabled=progress and main)
    bar.advance(state["epoch"] * per_epoch + state["step"])
    since_best = state.get("since_best", 0)
    for epoch in range(state["epoch"], cfg.epochs):
        if cfg.patience and since_best >= cfg.patience:
            say(f"{stage.name}: no better dev {stage.metric} for {cfg.patience} epochs, stopping early")
            break
        start, t0 = state["step"], time.perf_counter()
        if stage.curriculum is None:
            batches = shard(epoch_batches(stage.num_items, stage.batch_size, seed, epoch), rank, world)
        else:
            # the epoch's items depend on the weights at its start: a resumed epoch keeps its own
            if state.get("subset") is None:
                state["subset"] = stage.curriculum.select(accelerator.unwrap_model(model_p), epoch, seed)
                say(f"{stage.name} epoch {epoch + 1}: curriculum draws {len(state['subset'])} of "
                    f"{stage.num_items} {stage.unit}")
            subset = state["subset"]
            batches = [[subset[i] for i in b]
                       for b in shard(epoch_batches(len(subset), stage.batch_size, seed, epoch), rank, world)]
        sums = dict.fromkeys(LOSS_PARTS, 0.0)
        sums.update(state.get("sums", {}))
        model_p.train()
        ahead: dict[int, Any] = {}  # step -> prefetched batch (a Future)
        for step in range(start, len(batches)):
            while True:
                try:
                    parts = _train_batch(stage, model_p, accelerator, batches, step, state.get("split", 1), accum,
                                         loader, ahead)
                    break
                except torch.OutOfMemoryError:
                    _halve(stage, batches[step], state, optimizer, say, world)
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if (step + 1) % accum == 0 or step + 1 == len(batches):
                factor = _schedule(cfg, state["opt_steps"], total_steps)
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * factor
                if cfg.grad_clip > 0:
                    accelerator.clip_grad_norm_([p for _, p in params], cfg.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if ema is not None:
                    with torch.no_grad():
                        for n, p in params:
                            ema[n].mul_(cfg.ema).add_(p.detach().to(ema[n].device), alpha=1.0 - cfg.ema)
                state["opt_steps"] += 1
                if checkpoint_every and state["opt_steps"] % checkpoint_every == 0 and step + 1 < len(batches):
                    state["sums"] = sums
                    state["seconds"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    checkpoint(epoch, step + 1)
                    say(f"{stage.name} epoch {epoch + 1}: step {step + 1}/{len(batches)}, "
                            f"loss {sums['loss'] / (step + 1):.4f}, checkpoint saved")
            bar.update(epoch + 1, sums["loss"] / (step + 1))
        n = max(1, len(batches))
        state["seconds"] += time.perf_counter() - t0
        live = _swap_in(params, ema) if ema is not None else None  # score (and keep) the averaged weights
        scores = stage.evaluate(accelerator.unwrap_model(model_p))
        row = {"epoch": epoch + 1, **{f"train_{k}": v / n for k, v in sums.items()}}
        row.update({f"dev_{k}": v for k, v in scores.items()})
        if stage.epoch_info is not None:
            row.update(stage.epoch_info())
        row["seconds"] = round(state["seconds"], 2)
        if state.get("subset") is not None:
            row["curriculum_items"] = len(state["subset"])
        improved = False
        for group, prefixes in stage.groups.items():
            score = scores.get(group, float("nan"))
            best = state["best"].get(group)
            if not math.isnan(score) and (best is None or score > best["score"]):
                improved = True
                state["best"][group] = {"epoch": epoch + 1, "score": score}
                if main:
                    save_tensors(folder / f"best-{group}.safetensors", _group_state(accelerator.unwrap_model(model_p), prefixes))
        if live is not None:
            _swap_in(params, live)
        since_best = 0 if improved else since_best + 1
        state["since_best"] = since_best
        state["history"].append(row)
        state["sums"] = {}
        state["seconds"] = 0.0
        state["subset"] = None
        if main:
            run.write_stage_metrics(stage.name, state["history"], state["best"])
        if writer is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, float) and not math.isnan(value):
                    writer.add_scalar(f"{stage.name}/{key}", value, epoch + 1)
            writer.flush()
        shown = ", ".join(f"{g} {scores.get(g, float('nan')):.2f}" for g in stage.groups)
        say(f"{stage.name} epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f}, dev {stage.metric} {shown}, {row['seconds']:.1f}s")
        bar.set_dev(f"{stage.metric} {shown}")
        checkpoint(epoch + 1, 0)
        state["step"] = 0
    bar.close()
    if loader is not None:
        loader.shutdown(wait=True, cancel_futures=True)
    if writer is not None:
        writer.close()

    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model_p)
    for group in stage.groups:
        best_file = folder / f"best-{group}.safetensors"
        if group in state["best"] and best_file.is_file():
            unwrapped.load_state_dict(load_tensors(best_file), strict=False)
    for p in unwrapped.parameters():
        p.requires_grad_(True)
    summary = {"best": state["best"], "epochs_run": len(state["history"]), "trained_tensors": len(params)}
    if main:
        save_tensors(folder / "final.safetensors", unwrapped.state_dict())
        run.mark_done(stage.name, summary)
    accelerator.wait_for_everyone()
    return summary
