"""``altsa train``: teacher -> students (distillation) -> fusion, each stage resumable.

This module wires components (corpus readers, encoders, feature cache, model, losses) into
the three stages of the spec ("Training stages"); the loop itself is ``training.loop``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import torch

from altsa.config import save_config, to_dict
from altsa.data.config import split_path
from altsa.data.readers import describe_counts
from altsa.data.schema import NOT_PROVIDED, Corpus, LabelSet
from altsa.errors import ConfigError, DataError
from altsa.experiment import ExperimentConfig
from altsa.losses import (
    IGNORE, Contrast, DistillWeights, TextOut, class_weights, classification_loss, student_loss, teacher_objective,
)
from altsa.model import MODALITIES, ALTSAModel, build_model
from altsa.training.checkpoint import load_tensors, save_tensors, seed_everything
from altsa.training.data import FeatureSplit, build_split, collate
from altsa.training.loop import Stage, encoder_lrs, run_stage
from altsa.evaluation.metrics import Selection
from altsa.training.predict import MACRO_F1, WEIGHTED_F1, dev_score, predict_split
from altsa.training.run import RunDir, run_lock, save_labels, save_model

STAGES = ("teacher", "students", "fusion")
STUDENTS = ("audio", "video")
# Sections of the config that fix what a run's weights mean: a run directory may be reused
# (--stage, --resume) only with these unchanged (metrics: the best epochs kept so far were
# chosen by its figure, and a checkpoint's best score is compared with the next epochs').
FIXED_SECTIONS = ("seed", "data", "encoders", "features", "model", "metrics")


# -- components ------------------------------------------------------------------------------


def encoder_configs(cfg: ExperimentConfig) -> dict[str, Any]:
    from altsa.encoders.presets import resolve_encoders

    return resolve_encoders(cfg.encoders)


def build_encoders(cfg: ExperimentConfig, device: Any = "cpu", modalities: list[str] | None = None) -> dict[str, Any]:
    from altsa.encoders import base

    _import_encoder_kinds()
    return {m: base.build_encoder(ec, device=device) for m, ec in encoder_configs(cfg).items()
            if modalities is None or m in modalities}


def needed_modalities(cfg: ExperimentConfig) -> list[str]:
    """The encoders a run builds: the fused modalities (``model.modalities``, default all of
    ``encoders.modalities``), plus the text teacher when it distils into a fused student.

    So an ablation row never encodes, trains or stores what it leaves out: "text only" has no
    audio or video encoder at all; "audio only" keeps the teacher (the student learns from it)
    but fuses audio alone. A fused modality with no encoder is left in, for the model's error."""
    have = list(encoder_configs(cfg))
    if cfg.model.modalities is None:
        return have
    use = [m for m in MODALITIES if m in cfg.model.modalities]
    needed = [m for m in use if m in have]
    distils = cfg.train.distill and "students" in cfg.train.stages and any(m in STUDENTS for m in needed)
    if "text" in have and "text" not in needed and distils:
        needed.append("text")
    return [m for m in MODALITIES if m in needed]


def _import_encoder_kinds() -> None:
    """Encoder kinds register themselves on import."""
    import importlib

    for name in ("text", "audio", "video", "embedded_audio", "embedded_video"):
        try:
            importlib.import_module(f"altsa.encoders.{name}")
        except ImportError:
            pass


def is_finetuned(encoder_cfg: Any) -> bool:
    return (not encoder_cfg.freeze) or encoder_cfg.unfreeze_last > 0


def read_split(cfg: ExperimentConfig, split: str, root: Path | None = None, *, labels: LabelSet | None = None,
               check: bool = True) -> Corpus:
    """One split as ``cfg.data`` says (format, column mapping, label set); ``DataError`` when
    more than data.max_skipped_fraction of its rows were skipped (with ``check``)."""
    from altsa.data.config import read_split as read_data_split

    data = cfg.data if root is None else dataclasses.replace(cfg.data, root=str(root))
    return read_data_split(data, split, labels=labels, check=check)


def task_labels(corpus: Corpus, task: str) -> LabelSet:
    if task not in corpus.label_sets:
        have = ", ".join(corpus.label_sets) or "none"
        raise DataError(
            f"{corpus.name} has no {task!r} labels (it has: {have}); name the label column "
            f"(data.columns.label) or set data.task"
        )
    return corpus.label_sets[task]


def check_splits(corpora: dict[str, Corpus], task: str) -> None:
    """Train and dev must each hold labelled utterances, and no clip may be in both: a dev clip
    the model trained on makes every epoch's choice, and the figures, worthless. ``DataError``
    naming what is wrong, before any encoder pass."""
    for name, corpus in corpora.items():
        if not any(task in u.labels for u in corpus.utterances()):
            counts = corpus.counts()
            raise DataError(f"the {name} split has no utterance with a label of the task {task!r} to "
                            f"{'train on' if name == 'train' else 'choose epochs by'} "
                            f"(read {counts['read']}, kept {counts['kept']}, skipped {counts['skipped']}: "
                            f"{', '.join(f'{r} {n}' for r, n in counts['skipped_by_reason'].items()) or 'none'})")

    def clips(corpus: Corpus) -> dict[tuple, str]:
        out = {}
        for u in corpus.utterances():
            for f in (u.media, u.audio, u.video):
                if f:
                    out[(os.path.abspath(f), u.start, u.end)] = u.key
        return out

    if "train" in corpora and "dev" in corpora:
        train = clips(corpora["train"])
        # only clips that exist: two missing clips under one path share nothing (MELD's dev and train
        # names fall back to the same folder when data.clips holds neither split's folder)
        shared = [key for clip, key in clips(corpora["dev"]).items() if clip in train and os.path.isfile(clip[0])]
        if shared:
            raise DataError(f"{len(shared)} dev utterance(s) use a clip the train split uses too (first: {shared[0]}); "
                            "train and dev must not share recordings (split by speaker or session, never by file)")


def features_for(
    cfg: ExperimentConfig,
    corpus: Corpus,
    encoders: dict[str, Any],
    *,
    extract_missing: bool = True,
    log=None,
    progress: bool = True,
) -> dict[str, Any]:
    """modality -> FeatureTable for ``corpus``: from the cache, extracting what is missing.
    ``log`` (default: stderr) hears what is extracted; stdout stays for results (--json)."""
    if log is None:
        log = _stderr
    from altsa.features import extract, load_features

    tables = {}
    for m, enc in encoders.items():
        try:
            tables[m] = load_features(cfg.features.cache_dir, corpus, enc)
        except DataError:
            if not extract_missing:
                raise
            log(f"extracting {m} features of {corpus.name} into {cfg.features.cache_dir} (cached for next time)")
            tables[m] = extract(corpus, enc, cfg.features.cache_dir, batch_size=cfg.features.batch_size,
                                shard_size=cfg.features.shard_size, progress=progress)
    return tables


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


# -- stage specs -----------------------------------------------------------------------------


def _inputs(batch: dict[str, Any], dims: dict[str, int]) -> dict[str, Any]:
    return {**{m: batch[m] for m in dims}, "present": batch["present"], "mask": batch["mask"]}


def _loader(split: FeatureSplit):
    return lambda idx: collate([split.dialogues[i] for i in idx], split.dims)


def dialogue_text_forward(dims: dict[str, int]):
    """The frozen-vector teacher routes' pass: the text branch over a batch of dialogues, its
    rows the real turns with text (and the teacher's targets there, when the batch has them)."""

    def forward(module, batch) -> TextOut:
        out = module(**_inputs(batch, dims), branches_only=True)
        sel = batch["present"][..., 0] & batch["mask"]
        taught = [batch[k][sel] if k in batch else None for k in ("z_teacher", "h_teacher")]
        return TextOut(out["z_t"][sel], out["h_t"][sel], batch["labels"][sel], *taught)

    return forward


def dialogue_text_rows(split: FeatureSplit, batch_dialogues: int):
    """``Curriculum.embed`` for the dialogue routes: the text branch's vectors (eval mode) of
    every real turn with text, its label and its dialogue's index (``Curriculum.select`` runs
    it without gradients)."""

    def embed(module):
        was = module.training
        module.eval()
        device = next(module.parameters()).device
        hs, labels, items = [], [], []
        try:
            for start in range(0, len(split.dialogues), batch_dialogues):
                batch = collate(split.dialogues[start : start + batch_dialogues], split.dims)
                out = module(**{k: v.to(device) for k, v in _inputs(batch, split.dims).items()}, branches_only=True)
                sel = batch["present"][..., 0] & batch["mask"]
                hs.append(out["h_t"].float().cpu()[sel])
                labels.append(batch["labels"][sel])
                items.append((torch.arange(sel.shape[0])[:, None] + start).expand_as(sel)[sel])
        finally:
            module.train(was)
        return torch.cat(hs), torch.cat(labels), torch.cat(items)

    return embed


def utterance_rows(vectors, labels: torch.Tensor):
    """``Curriculum.embed`` for the utterance routes (an item is one utterance):
    ``vectors(module)`` -> h [n, d] in item order."""
    return lambda module: (vectors(module), labels, torch.arange(len(labels)))


def teacher_stage(model: ALTSAModel, train: FeatureSplit, dev: FeatureSplit, cfg: ExperimentConfig, weight,
                  contrast: Contrast | None = None, select: Selection = WEIGHTED_F1) -> Stage:
    tc = cfg.train
    loss = teacher_objective(dialogue_text_forward(train.dims), weight=weight, label_smoothing=tc.label_smoothing,
                             contrast=contrast, rdrop=tc.rdrop)

    def evaluate(module):
        p = predict_split(module, dev, tc.eval_batch_dialogues)
        return {"text": dev_score(p.labels, p.z["text"], p.present[:, 0], select)}

    return Stage("teacher", model, ["branches.text"], {"text": ["branches.text"]}, len(train.dialogues),
                 tc.teacher.batch_dialogues, _loader(train), loss, evaluate, tc.teacher, unit="dialogues",
                 metric=select.short)


def students_stage(
    model: ALTSAModel, students: list[str], train: FeatureSplit, dev: FeatureSplit, cfg: ExperimentConfig, weight,
    select: Selection = WEIGHTED_F1,
) -> Stage:
    tc = cfg.train
    hp = DistillWeights(tc.tau, tc.beta, tc.gamma, tc.tau_f, tc.lambda_logit, tc.lambda_feat,
                        distill=tc.distill and "text" in model.dims)

    def loss(module, batch):
        out = module(**_inputs(batch, train.dims), branches_only=True)
        if hp.distill:  # targets from the teacher in eval mode, whatever mode the stage runs in
            h_t, z_t = model.teacher_targets(batch["text"], batch["present"][..., 0] & batch["mask"])
        total: dict[str, torch.Tensor] = {}
        for m in students:
            k = MODALITIES.index(m)
            sel = batch["present"][..., k] & batch["present"][..., 0] & batch["mask"] if hp.distill else (
                batch["present"][..., k] & batch["mask"])
            s = m[0]
            targets = (z_t[sel], h_t[sel]) if hp.distill else (out["z_t"][sel], out["h_t"][sel])
            parts = student_loss(out[f"z_{s}"][sel], out[f"h_{s}"][sel], *targets,
                                 batch["labels"][sel], hp, weight=weight, label_smoothing=tc.label_smoothing)
            total = {k2: total.get(k2, 0) + v for k2, v in parts.items()}
        return total

    def evaluate(module):
        p = predict_split(module, dev, tc.eval_batch_dialogues)
        return {m: dev_score(p.labels, p.z[m], p.present[:, MODALITIES.index(m)], select) for m in students}

    prefixes = [f"branches.{m}" for m in students]
    return Stage("students", model, prefixes, {m: [f"branches.{m}"] for m in students}, len(train.dialogues),
                 tc.students.batch_dialogues, _loader(train), loss, evaluate, tc.students, unit="dialogues",
                 metric=select.short)


def fusion_stage(
    model: ALTSAModel, untrained: list[str], train: FeatureSplit, dev: FeatureSplit, cfg: ExperimentConfig, weight,
    select: Selection = WEIGHTED_F1,
) -> Stage:
    tc = cfg.train

    def loss(module, batch):
        out = module(**_inputs(batch, train.dims))
        return classification_loss(out["logits"], batch["labels"], weight=weight, label_smoothing=tc.label_smoothing)

    def evaluate(module):
        p = predict_split(module, dev, tc.eval_batch_dialogues)
        return {"fusion": dev_score(p.labels, p.logits, metric=select),
                "macro_f1": dev_score(p.labels, p.logits, metric=MACRO_F1)}

    trainable = ["fusion", "context", "classifier"]
    branches = list(model.dims) if tc.fusion_trains_branches else untrained
    trainable += [f"branches.{m}" for m in branches]
    return Stage("fusion", model, trainable, {"fusion": trainable}, len(train.dialogues),
                 tc.fusion.batch_dialogues, _loader(train), loss, evaluate, tc.fusion, unit="dialogues",
                 metric=select.short)


# -- the run ---------------------------------------------------------------------------------


def make_accelerator(cfg: ExperimentConfig, device: str | None = None):
    """The run's ``Accelerator``. ``device`` (``altsa train --device``) picks the one device of
    a single-process run (validated by ``resolve_device``); under ``accelerate launch`` the
    launcher assigns one device per process, so a ``--device`` there is a usage error."""
    import os

    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    # accelerate keeps one process-wide state; a later run in the same process (tests, a
    # notebook) with another train.mixed_precision would be refused, so start that one afresh
    current = AcceleratorState._shared_state.get("_mixed_precision")
    if current is not None and current != cfg.train.mixed_precision:
        AcceleratorState._reset_state()
    # Without a usable GPU the processes of `accelerate launch` must join a CPU (gloo) group:
    # accelerate forms it only when asked for the CPU (else each process trains alone)
    cpu = cfg.train.cpu or not torch.cuda.is_available()
    if device is not None and str(device).strip().lower() != "auto":
        from altsa.devices import resolve_device

        chosen = resolve_device(device)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError("--device picks the device of a one-process run; under accelerate launch the "
                              "launcher gives each process its device (use its --gpu_ids)")
        cpu = cpu or chosen.type == "cpu"
        if not cpu:
            os.environ["ACCELERATE_TORCH_DEVICE"] = str(chosen)  # read when accelerate first sets up
    return Accelerator(
        cpu=cpu,
        mixed_precision=cfg.train.mixed_precision,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )


def check_reuse(run_path: Path, cfg: ExperimentConfig) -> None:
    """A run directory may continue only with the config its weights were trained under."""
    from altsa.config import load_config

    old = to_dict(load_config(ExperimentConfig, run_path / "config.yaml"))
    new = to_dict(cfg)
    changed = [s for s in FIXED_SECTIONS if old.get(s) != new.get(s)]
    if changed:
        raise ConfigError(
            f"{run_path} was trained with a different {', '.join(changed)} config; use another --out directory"
        )


def default_run_dir(cfg: ExperimentConfig) -> Path:
    base = Path("runs") / cfg.name
    path, k = base, 2
    while path.exists():
        path, k = Path(f"{base}-{k}"), k + 1
    return path


def validate(cfg: ExperimentConfig) -> None:
    unknown = [s for s in cfg.train.stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage {unknown[0]!r} in train.stages; stages are: {', '.join(STAGES)}")
    order = [STAGES.index(s) for s in cfg.train.stages]
    if order != sorted(order) or len(set(order)) != len(order):
        raise ConfigError(f"train.stages must list stages once, in the order {', '.join(STAGES)}")
    if "fusion" not in cfg.train.stages:
        raise ConfigError("train.stages must include fusion (it produces the model)")
    cc = cfg.train.contrastive
    if cc.weight < 0 or cc.tau <= 0 or cc.queue < 1:
        raise ConfigError(f"train.contrastive needs weight >= 0, tau > 0 and queue >= 1 (got weight={cc.weight}, "
                          f"tau={cc.tau}, queue={cc.queue})")
    for name in cfg.train.stages:
        if getattr(cfg.train, name).epochs < 1:
            raise ConfigError(f"train.{name}.epochs must be at least 1, got {getattr(cfg.train, name).epochs}")
    for name in ("teacher", "students"):
        decay = getattr(cfg.train, name).layer_decay
        if not 0 < decay <= 1:
            raise ConfigError(f"train.{name}.layer_decay must be in (0, 1] (1: no layer-wise decay), got {decay}")
    if cfg.train.fusion.layer_decay != 1:
        raise ConfigError("train.fusion.layer_decay: the fusion stage fine-tunes no encoder (set it on teacher or students)")
    from altsa.training.curriculum import check_kind

    check_kind(cfg.train.curriculum)
    if not cfg.train.rdrop >= 0:
        raise ConfigError(f"train.rdrop is R-Drop's alpha and needs to be >= 0 (0: off), got {cfg.train.rdrop}")
    from altsa.evaluation.metrics import SELECTABLE

    if cfg.metrics.select_on not in SELECTABLE:  # the labels are checked once the corpus is read
        raise ConfigError(f"metrics.select_on {cfg.metrics.select_on!r}: one of {', '.join(SELECTABLE)}")


def clips_on_disk(corpus: Corpus, modality: str) -> tuple[int, dict[str, int]]:
    """(utterances whose clip file exists, reasons for the others) before any decoding: a
    student fine-tuned end to end has no feature table to say so yet."""
    import os

    ok, reasons = 0, {}
    for u in corpus.utterances():
        source = u.audio_source() if modality == "audio" else u.video_source()
        reason = NOT_PROVIDED if source is None else ("" if os.path.isfile(source) else "missing_file")
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
        else:
            ok += 1
    return ok, reasons


def check_media(cfg: ExperimentConfig, corpus: Corpus, modality: str, reasons: dict[str, int]) -> None:
    """A corpus that names clips (``data.clips``, or media paths in the file) of which not one
    can be used must not silently train without them: a wrong ``data.clips`` would turn the
    paper's model into a text-only one. ``train.allow_missing_media`` (``--allow-missing-media``)
    accepts it."""
    if modality not in STUDENTS or cfg.train.allow_missing_media:
        return
    named = sum(n for r, n in reasons.items() if r != NOT_PROVIDED)
    if named == 0 and cfg.data.clips is None:
        return  # no clips were asked for: a text corpus
    where = f"data.clips={cfg.data.clips}" if cfg.data.clips is not None else "the media paths of the corpus"
    raise DataError(
        f"{modality}: none of the {corpus.num_utterances} {corpus.name} utterances has a usable clip under {where} "
        f"({', '.join(f'{r}: {n}' for r, n in sorted(reasons.items()))}); fix the clip location, or pass "
        f"--allow-missing-media (train.allow_missing_media=true) to train without {modality}"
    )


def check_teacher_source(cfg: ExperimentConfig, labels: LabelSet) -> Path:
    """The run named by ``train.teacher_from``, checked to hold a finished teacher that fits:
    the same labels and text encoder (a teacher for other classes or inputs is not this one)."""
    from altsa.config import load_config
    from altsa.training.run import load_labels

    source = Path(str(cfg.train.teacher_from)).resolve()
    where = f"train.teacher_from={cfg.train.teacher_from}"
    if not (source / "config.yaml").is_file():
        raise ConfigError(f"{where}: not a run directory (no config.yaml)")
    if not (source / "checkpoints" / "teacher" / "altsa.safetensors").is_file():
        raise ConfigError(f"{where}: its teacher stage has not finished (train it first)")
    other = load_config(ExperimentConfig, source / "config.yaml")
    if other.train.teacher_from is not None:
        raise ConfigError(f"{where}: that run shares its teacher too; name the run that trained it")
    _, their_labels = load_labels(source / "labels.json")
    if tuple(their_labels.labels) != tuple(labels.labels):
        raise ConfigError(f"{where}: its labels ({', '.join(their_labels.labels)}) are not this run's")
    mine, theirs = encoder_configs(cfg).get("text"), encoder_configs(other).get("text")
    if theirs is None or to_dict(mine) != to_dict(theirs):
        raise ConfigError(f"{where}: its text encoder config differs from this run's")
    return source


class Trainer:
    """One training run: set-up once, then the stages in order."""

    def __init__(self, cfg: ExperimentConfig, run_path: Path, *, quiet: bool = False, progress: bool = True,
                 device: str | None = None, accelerator: Any = None):
        validate(cfg)
        self.cfg = cfg
        self.accelerator = accelerator or make_accelerator(cfg, device)
        self.run = RunDir(run_path, quiet=quiet)
        self.progress = progress
        self.main = self.accelerator.is_main_process

    def log(self, message: str) -> None:
        if self.main:
            self.run.log(message)

    # ---- set-up -------------------------------------------------------------------------
    def prepare(self) -> None:
        cfg = self.cfg
        t0 = time.perf_counter()
        # Data first: a corpus that reads badly stops the run before anything is written.
        train = read_split(cfg, "train")
        self.labels = task_labels(train, cfg.data.task)
        self.select = cfg.metrics.selection(self.labels.labels)  # the dev figure every stage keeps its best by
        self.corpora = {"train": train, "dev": read_split(cfg, "dev", labels=self.labels)}
        check_splits(self.corpora, cfg.data.task)
        self.data_counts = {s: {"file": str(split_path(cfg.data, s)), **c.counts()} for s, c in self.corpora.items()}
        if cfg.train.distill_from:  # a teacher that cannot teach stops the run before any encoder pass
            from altsa.training.textdistill import check_distill_source

            check_distill_source(cfg, self.labels)
        for s, counts in self.data_counts.items():
            self.log(f"{s}: {counts['file']}: {describe_counts(counts)}")
        # built on the accelerator's device: extraction of missing features runs there too
        self.encoders = build_encoders(cfg, device=self.accelerator.device, modalities=needed_modalities(cfg))
        configs = encoder_configs(cfg)
        text_cfg = configs.get("text") if "text" in self.encoders else None
        self.shared = cfg.train.teacher_from is not None and text_cfg is not None and "teacher" in cfg.train.stages
        self.finetune = (text_cfg is not None and is_finetuned(text_cfg) and "teacher" in cfg.train.stages
                         and not self.shared)
        self.teacher_source = check_teacher_source(cfg, self.labels) if self.shared else None
        # text vectors that come from a tuned encoder once the teacher stage ran (or was shared)
        self.tuned_text = self.finetune or (self.shared and any(
            (self.teacher_source / d).is_dir() for d in ("text-encoder", "text-adapter")))
        # students fine-tuned end to end on decoded clips (their vectors come after the stage)
        self.tuned_students = [m for m in STUDENTS if m in self.encoders and is_finetuned(configs[m])
                               and "students" in cfg.train.stages]
        for m in self.tuned_students:
            from altsa.training.students import check_tunable

            check_tunable(self.encoders[m], m)
        later = {m for m in self.encoders if (m == "text" and self.tuned_text) or m in self.tuned_students}
        frozen = {m: e for m, e in self.encoders.items() if m not in later}
        self.tables = {s: features_for(cfg, c, frozen, log=self.log, progress=self.progress and self.main)
                       for s, c in self.corpora.items()}
        self._splits = None
        present = {m: int(t.present.sum()) for m, t in self.tables["train"].items()}
        reasons = {m: dict(t.absent_counts()) for m, t in self.tables["train"].items()}
        if self.tuned_text:
            present["text"] = self.corpora["train"].num_utterances
        for m in self.tuned_students:
            present[m], reasons[m] = clips_on_disk(self.corpora["train"], m)
        for m, n in present.items():
            if n == 0:  # a branch that never saw data must not answer later: leave it out
                check_media(cfg, self.corpora["train"], m, reasons[m])
                self.log(f"{m}: no training utterance has {m} features {reasons[m]}; the model is built without {m}")
                for tables in self.tables.values():
                    tables.pop(m, None)
                if m in self.tuned_students:
                    self.tuned_students.remove(m)
        self.dims = {m: int(t.dim) for m, t in self.tables["train"].items()}
        for m in later:
            if m == "text" or m in self.tuned_students:
                self.dims[m] = int(self.encoders[m].dim)
        if not self.dims:
            raise DataError("no modality has features in the training data")
        self.dims = {m: self.dims[m] for m in MODALITIES if m in self.dims}
        seed_everything(cfg.seed)
        self.model = build_model(cfg.model, self.dims, len(self.labels))
        if self.main:  # written once set-up succeeded: a failed start leaves no half-made run behind
            save_config(cfg, self.run.path / "config.yaml")
            save_labels(self.run.path / "labels.json", cfg.data.task, self.labels)
            self.run.write_metrics("data", self.data_counts)
            self.run.write_metrics("fused_modalities", list(self.model.use))
            self.run.write_metrics("encoders", self.encoder_record())
        self.log(
            f"run {self.run.path}: {len(self.labels)} classes, modalities {list(self.dims)} "
            f"(fusion uses {self.model.use}), set-up {time.perf_counter() - t0:.1f}s"
        )

    def encoder_record(self) -> dict[str, Any]:
        """What each encoder of the run is and who trained it (metrics.json "encoders"): an
        ablation row says, by construction, which encoders it used, fused and trained."""
        configs = encoder_configs(self.cfg)
        record = {}
        for m in self.dims:
            ec = configs[m]
            if m == "text" and self.shared:
                trained = f"shared from {self.teacher_source}"
            elif m == "text":
                trained = "fine-tuned here" if self.finetune else "frozen"
            else:
                trained = "fine-tuned here" if m in self.tuned_students else "frozen"
            record[m] = {"kind": ec.kind, "model": ec.model, "fused": m in self.model.use,
                         "role": "teacher" if m == "text" else "student", "encoder": trained}
        return record

    def splits(self) -> tuple[FeatureSplit, FeatureSplit]:
        """Train and dev as feature splits (rebuilt after a stage brings new vectors)."""
        if self._splits is None:
            self._splits = tuple(
                build_split(s, self.corpora[s], self.tables[s], self.labels, self.cfg.data.task) for s in ("train", "dev")
            )
        return self._splits

    # ---- stage bookkeeping ------------------------------------------------------------------
    def _after(self, stage: str) -> Path:
        return self.run.path / "checkpoints" / stage / "altsa.safetensors"

    def _finish(self, stage: str, trained: list[str]) -> None:
        if self.main:
            save_tensors(self._after(stage), self.model.state_dict())
            self.run.write_metrics(f"{stage}_trained", trained)
        self.accelerator.wait_for_everyone()  # every process sees the stage complete

    def _complete(self, stage: str) -> bool:
        return self._after(stage).is_file()

    def _restore(self, stage: str) -> None:
        self.model.load_state_dict(load_tensors(self._after(stage)))

    # ---- stages --------------------------------------------------------------------------
    def run_teacher(self) -> list[str]:
        if "text" not in self.dims:
            self.log("teacher: no text modality, skipped")
            return []
        if self.shared:
            self._share_teacher()
        elif self.finetune:
            self._finetune_teacher()
        else:
            train, dev = self.splits()
            weight = self._weight(train)
            contrast = self._contrast()
            stage = teacher_stage(self.model, train, dev, self.cfg, weight, contrast, self.select)
            if self.cfg.train.distill_from:  # text -> text distillation (training.textdistill)
                from altsa.training.textdistill import distilled_dialogue_stage

                stage = distilled_dialogue_stage(stage, train, self.cfg, self.corpora["train"], self.labels, weight,
                                                 log=self.log, contrast=contrast)
            stage.curriculum = self._curriculum(dialogue_text_rows(train, self.cfg.train.eval_batch_dialogues),
                                                len(train.dialogues))
            run_stage(stage, self.run, self.accelerator, self.cfg.seed, **self._loop_options())
        return ["text"]

    def _finetune_teacher(self) -> None:
        from altsa.encoders.text import HFTextEncoder
        from altsa.training import finetune as ft

        cfg, tc = self.cfg, self.cfg.train
        enc = self.encoders["text"]
        if not isinstance(enc, HFTextEncoder):
            raise ConfigError("fine-tuning the teacher needs an hf-text encoder")
        enc.device = self.accelerator.device
        enc.module.to(self.accelerator.device)
        if enc.options["cache_lower"]:
            self._finetune_top_teacher(enc)
            return
        train_items = ft.TextItems.build(self.corpora["train"], enc, self.labels, cfg.data.task).labelled()
        dev_items = ft.TextItems.build(self.corpora["dev"], enc, self.labels, cfg.data.task)
        counts = torch.bincount(train_items.labels, minlength=len(self.labels)).tolist()
        weight = class_weights(counts, tc.class_weights)
        teacher = ft.TextTeacher(enc, self.model.branches["text"])
        from altsa.training.students import trainable_prefixes

        # freeze: false trains every encoder weight; freeze: true + unfreeze_last: N only the top N
        # blocks (the encoder's requires_grad, set at load, says which)
        trainable = ["branch", *trainable_prefixes(enc.module, "encoder")]
        stage = Stage(
            "teacher", teacher, trainable, {"text": ["encoder", "branch"]}, len(train_items.texts),
            tc.teacher.batch_utterances, lambda idx: ft.make_batch(enc, train_items, idx),
            ft.teacher_loss(weight, tc.label_smoothing, self._contrast(), tc.rdrop),
            lambda module: {"text": ft.score_teacher(module, enc, dev_items, tc.teacher.batch_utterances * 2,
                                                               self.select)},
            tc.teacher, lrs=encoder_lrs(teacher, "encoder", tc.teacher.encoder_lr, tc.teacher.layer_decay),
            unit="utterances", metric=self.select.short,
            curriculum=self._curriculum(utterance_rows(
                lambda module: ft.outputs(module, enc, train_items, tc.teacher.batch_utterances * 2)[0],
                train_items.labels), len(train_items.texts)),
        )
        run_stage(stage, self.run, self.accelerator, cfg.seed, **self._loop_options())
        tuned = self.run.path / "text-encoder"
        if self.main and not (tuned / "config.json").is_file():
            enc.save_pretrained(tuned)
        self.accelerator.wait_for_everyone()
        self._load_tuned_text_features()

    def _share_teacher(self) -> None:
        """The teacher of ``train.teacher_from``: its text branch weights (and, through
        ``run_encoders``, its fine-tuned ``text-encoder/``), instead of training one."""
        source = self.teacher_source
        state = load_tensors(source / "checkpoints" / "teacher" / "altsa.safetensors")
        branch = {k[len("branches.text."):]: v for k, v in state.items() if k.startswith("branches.text.")}
        try:
            self.model.branches["text"].load_state_dict(branch)
        except RuntimeError as err:
            raise ConfigError(f"train.teacher_from={source}: its teacher does not fit this model "
                              f"({str(err).splitlines()[0]}); model.d and the text encoder must match") from None
        self.log(f"teacher: shared from {source} (not trained here)")
        if self.main:
            self.run.write_metrics("teacher_shared_from", str(source))
        if self.tuned_text:
            self._load_tuned_text_features()

    def _finetune_top_teacher(self, enc) -> None:
        """The teacher stage over cached lower states: top blocks or LoRA adapters + text branch
        (``training.topteacher``); the tuned vectors come from the cached states too."""
        from altsa.encoders.text import HFTextEncoder
        from altsa.encoders.topblocks import LowerStates, TopBlocks
        from altsa.training import finetune as ft
        from altsa.training import textdistill as td
        from altsa.training import topteacher as tt
        from altsa.training.run import run_encoders

        cfg, tc = self.cfg, self.cfg.train
        k, model, peft_model = tt.top_blocks_setup(enc)
        items = {s: ft.TextItems.build(self.corpora[s], enc, self.labels, cfg.data.task) for s in ("train", "dev")}
        autocast = "bfloat16" if enc.options["cache_lower"] == "bfloat16" else None
        lower = {s: LowerStates(cfg.features.cache_dir, enc, k, items[s].texts, autocast=autocast).build(log=self.log)
                 for s in items}
        keep = (items["train"].labels != IGNORE).nonzero().flatten().tolist()
        labels = items["train"].labels[keep]
        weight = class_weights(torch.bincount(labels, minlength=len(self.labels)).tolist(), tc.class_weights)
        teacher = tt.TopTeacher(TopBlocks(model, k, enc.pooling, enc._suffix), self.model.branches["text"])
        trainable = ["branch", *(tt.lora_parameter_names(teacher) if peft_model is not None else ["top"])]

        hp, taught = None, {}
        if tc.distill_from:  # text -> text: another model's text branch teaches this one
            _, h_t, z_t = td.teacher_outputs(tc.distill_from, cfg, self.corpora["train"], self.labels, log=self.log)
            taught = {"h_teacher": h_t[keep], "z_teacher": z_t[keep]}  # corpus order, like items
            hp = td.weights(tc)

        def load(idx: list[int]) -> dict[str, Any]:
            batch = {**lower["train"].batch([keep[i] for i in idx]), "labels": labels[idx]}
            return {**batch, **{name: t[idx] for name, t in taught.items()}}

        size = tc.teacher.batch_utterances
        stage = Stage(
            "teacher", teacher, trainable, {"text": trainable}, len(keep), size, load,
            tt.make_loss(weight, tc.label_smoothing, hp, self._contrast(), tc.rdrop),
            lambda module: {"text": tt.score(module, lower["dev"], items["dev"].labels, size * 2, self.select)},
            tc.teacher, lrs=encoder_lrs(teacher, "top", tc.teacher.encoder_lr, tc.teacher.layer_decay),
            curriculum=self._curriculum(utterance_rows(
                lambda module: tt.outputs(module, lower["train"], keep, size * 2)[0], labels), len(keep)),
            unit="utterances", metric=self.select.short,
        )
        run_stage(stage, self.run, self.accelerator, cfg.seed, **self._loop_options())
        if self.main:
            if peft_model is not None and not (self.run.path / "text-adapter" / "adapter_config.json").is_file():
                tt.save_adapter(peft_model, self.run.path / "text-adapter", enc.cfg.model)
            elif peft_model is None and not (self.run.path / "text-encoder" / "config.json").is_file():
                enc.save_pretrained(self.run.path / "text-encoder")
        self.accelerator.wait_for_everyone()
        fingerprint = HFTextEncoder(run_encoders(cfg, self.run.path)["text"]).fingerprint
        cached = tt.CachedTopEncoder(fingerprint, enc, teacher.top, list(lower.values()), size * 2)
        for s, corpus in self.corpora.items():
            self.tables[s].update(features_for(cfg, corpus, {"text": cached}, log=self.log,
                                             progress=self.progress and self.main))

    def _curriculum(self, embed, num_items: int):
        """The teacher stage's ``train.curriculum`` over ``num_items`` (``training.curriculum``),
        or None when it is ``none``."""
        from altsa.training.curriculum import Curriculum

        if self.cfg.train.curriculum == "none":
            return None
        return Curriculum(embed, num_items, len(self.labels), self.cfg.train.teacher.epochs)

    def _contrast(self):
        """The teacher stage's ``L_con`` (``train.contrastive``), or None when its weight is 0."""
        cc = self.cfg.train.contrastive
        if cc.weight <= 0:
            return None
        return Contrast(len(self.labels), self.cfg.model.d, weight=cc.weight, tau=cc.tau, size=cc.queue)

    def _load_tuned_text_features(self) -> None:
        """Vectors of the fine-tuned encoder (frozen now), cached like any other encoder's."""
        from altsa.training.run import run_encoders

        tuned_cfg = run_encoders(self.cfg, self.run.path)["text"]
        from altsa.encoders.base import build_encoder

        enc = build_encoder(tuned_cfg, device=self.accelerator.device)
        for s, corpus in self.corpora.items():
            self.tables[s].update(features_for(self.cfg, corpus, {"text": enc}, log=self.log,
                                             progress=self.progress and self.main))
        self._splits = None

    def _load_tuned_student_features(self, modality: str) -> None:
        """Vectors of the fine-tuned student (``RUN/<modality>-encoder/``, frozen now), cached."""
        from altsa.encoders.base import build_encoder
        from altsa.training.run import run_encoders

        enc = build_encoder(run_encoders(self.cfg, self.run.path)[modality], device=self.accelerator.device)
        for s, corpus in self.corpora.items():
            self.tables[s].update(features_for(self.cfg, corpus, {modality: enc}, log=self.log,
                                             progress=self.progress and self.main))
        self._splits = None

    def _finetune_student(self, modality: str) -> None:
        """Stage ``students-<modality>``: the student encoder and its branch, end to end on
        decoded clips (``altsa.training.students``); then ``RUN/<modality>-encoder/``."""
        from altsa.training import students as st

        cfg, tc = self.cfg, self.cfg.train
        enc = self.encoders[modality]
        enc.device = self.accelerator.device
        enc.module.to(self.accelerator.device)
        distill = tc.distill and "text" in self.dims
        teacher = {"teacher": self.model, "text_table": self.tables["train"]["text"]} if distill else {}
        train_items = st.ClipItems.build(self.corpora["train"], modality, self.labels, cfg.data.task,
                                         labelled_only=True, **teacher)
        dev_items = st.ClipItems.build(self.corpora["dev"], modality, self.labels, cfg.data.task, labelled_only=True)
        if train_items.skipped:
            self.log(f"students-{modality}: left out before decoding: {train_items.skipped}")
        train_loader, dev_loader = st.ClipLoader(enc, modality, train_items), st.ClipLoader(enc, modality, dev_items)
        net = st.StudentNet(enc, self.model.branches[modality]).to(self.accelerator.device)
        size, why = st.clip_batch_size(net, train_loader, self.accelerator, tc.students.batch_clips)
        self.log(f"students-{modality}: {len(train_items)} train clips, {size} clips per batch ({why}), "
                 f"{'distilled from the teacher' if distill else 'cross-entropy only'}")
        counts = torch.bincount(train_items.labels, minlength=len(self.labels)).tolist()
        hp = DistillWeights(tc.tau, tc.beta, tc.gamma, tc.tau_f, tc.lambda_logit, tc.lambda_feat, distill=distill)

        def epoch_info() -> dict[str, Any]:
            read = train_loader.take_counts()
            if self.accelerator.num_processes > 1:  # every process decoded its share: add them up
                from accelerate.utils import gather_object

                total: dict[str, int] = {}
                for part in gather_object([read]):
                    for k, v in part.items():
                        total[k] = total.get(k, 0) + v
                read = total
            skipped = {k: v for k, v in read.items() if k != "ok"}
            if skipped:
                self.log(f"students-{modality}: skipped unreadable clips this epoch: {skipped}")
            if read and not read.get("ok"):
                raise DataError(f"students-{modality}: not one training clip could be read ({skipped})")
            return {"clips_read": read.get("ok", 0), "clips_skipped": skipped}

        name = f"students-{modality}"
        trainable = ["branch", *st.trainable_prefixes(net.encoder, "encoder")]
        stage = Stage(
            name, net, trainable, {modality: ["encoder", "branch"]}, len(train_items), size, train_loader.load,
            st.student_objective(hp, class_weights(counts, tc.class_weights), tc.label_smoothing),
            lambda module: {modality: st.score_student(module, dev_loader, size, self.select)},
            tc.students, lrs=encoder_lrs(net, "encoder", tc.students.encoder_lr, tc.students.layer_decay), prefetch=True,
            epoch_info=epoch_info, unit="clips", metric=self.select.short,
        )
        try:
            run_stage(stage, self.run, self.accelerator, cfg.seed, **self._loop_options())
        finally:
            train_loader.close()
            dev_loader.close()
        tuned = self.run.path / f"{modality}-encoder"
        if self.main and not (tuned / "config.json").is_file():
            enc.save_pretrained(tuned)
        self.accelerator.wait_for_everyone()
        enc._module = None  # the training copy; the tuned one is loaded back for its vectors
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self._load_tuned_student_features(modality)

    def run_students(self) -> list[str]:
        if self.cfg.train.distill and "text" not in self.dims and any(m in self.dims for m in STUDENTS):
            self.log("students: no text teacher, training with cross-entropy only")
        on_features = [m for m in STUDENTS if m in self.dims and m not in self.tuned_students]
        students: list[str] = []
        if on_features:
            train, dev = self.splits()
            present = train.present_counts()
            students = [m for m in on_features if present.get(m, 0) > 0]
            for m in on_features:
                if m not in students:
                    self.log(f"students: no {m} in the training data ({train.absent.get(m, {})}), {m} student not trained")
            if students:
                weight = self._weight(train)
                run_stage(students_stage(self.model, students, train, dev, self.cfg, weight, self.select), self.run,
                          self.accelerator, self.cfg.seed, **self._loop_options())
        for m in self.tuned_students:
            self._finetune_student(m)
            students.append(m)
        return [m for m in STUDENTS if m in students]

    def run_fusion(self, train: FeatureSplit, dev: FeatureSplit, trained: list[str]) -> None:
        untrained = [m for m in self.dims if m not in trained]
        if untrained and not self.cfg.train.fusion_trains_branches:
            self.log(f"fusion: branches {untrained} had no earlier stage; the fusion stage trains them")
        weight = self._weight(train)
        stage = fusion_stage(self.model, untrained, train, dev, self.cfg, weight, self.select)
        tc = self.cfg.train
        if tc.distill_from and tc.distill_fusion and tc.distill:  # train.distill=false: CE only, as everywhere
            from altsa.training.textdistill import distilled_fusion_stage

            stage = distilled_fusion_stage(stage, train, self.cfg, self.corpora["train"], self.labels, weight,
                                           log=self.log)
        run_stage(stage, self.run, self.accelerator, self.cfg.seed, **self._loop_options())

    def _loop_options(self) -> dict[str, Any]:
        tc = self.cfg.train
        return {"checkpoint_every": tc.checkpoint_every, "progress": self.progress, "tensorboard": tc.tensorboard}

    def _weight(self, train: FeatureSplit):
        return class_weights(train.label_counts(len(self.labels)), self.cfg.train.class_weights)

    # ---- all of it ------------------------------------------------------------------------
    def train(self, only: str | None = None) -> dict[str, Any]:
        if only is not None and only not in self.cfg.train.stages:
            raise ConfigError(f"--stage {only}: not one of train.stages ({', '.join(self.cfg.train.stages)})")
        self.prepare()
        trained: list[str] = []
        for stage in self.cfg.train.stages:
            if self._complete(stage):
                self._restore(stage)
                trained += self.run.metrics().get(f"{stage}_trained", [])
                if stage == "teacher" and self.tuned_text:
                    self._load_tuned_text_features()
                if stage == "students":
                    for m in self.tuned_students:
                        self._load_tuned_student_features(m)
                self.log(f"{stage}: already complete in {self.run.path}")
                if only == stage:
                    break
                continue
            if only is not None and stage != only:
                raise ConfigError(f"--stage {only}: stage {stage} has not run in {self.run.path}; run it first")
            t0 = time.perf_counter()
            if stage == "teacher":
                done = self.run_teacher()
            elif stage == "students":
                done = self.run_students()
            else:
                self.run_fusion(*self.splits(), trained)
                done = []
            trained += done
            self._finish(stage, done)
            self.log(f"{stage}: done in {time.perf_counter() - t0:.1f}s")
            if only is not None:
                break
        if not self._complete("fusion"):
            return {"run": str(self.run.path), "complete": False, "main": self.main}
        return self.finalize()

    def finalize(self) -> dict[str, Any]:
        from altsa.evaluation.metrics import compute_metrics

        _, dev = self.splits()
        p = predict_split(self.model, dev, self.cfg.train.eval_batch_dialogues)
        sel = p.labels != IGNORE
        labels = list(self.labels.labels)
        metrics = compute_metrics(p.labels[sel].tolist(), p.logits[sel].argmax(-1).tolist(), labels,
                                  self.cfg.metrics.excludes(labels))
        if self.main:
            save_model(self.run.path / "model.safetensors", self.model)
            self.run.write_metrics("final", {"split": "dev", "select_on": self.cfg.metrics.select_on,
                                             **metrics.to_dict()})
        figures = f"weighted F1 {metrics.weighted_f1:.2f}, macro F1 {metrics.macro_f1:.2f}, accuracy {metrics.accuracy:.2f}"
        figures += f", UAR {metrics.uar:.2f}"
        if metrics.micro_f1 is not None:
            figures += f", micro F1 without {'+'.join(metrics.micro_f1_excludes)} {metrics.micro_f1:.2f}"
        self.log(f"dev: {figures} ({metrics.n} utterances; epochs chosen on {self.cfg.metrics.select_on}); "
                 f"model: {self.run.path / 'model.safetensors'}")
        self.accelerator.wait_for_everyone()
        return {"run": str(self.run.path), "complete": True, "dev": metrics.to_dict(), "main": self.main}


def train(
    cfg: ExperimentConfig,
    *,
    out: str | Path | None = None,
    data: str | Path | None = None,
    stage: str | None = None,
    quiet: bool = False,
    progress: bool = True,
    device: str | None = None,
) -> dict[str, Any]:
    """Start (or, with --stage, continue) a run. Returns a summary with the dev metrics."""
    if data is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(data)))
    validate(cfg)
    # Under `accelerate launch` every process runs this: all look at the folder before any
    # process writes into it (else one would find the others' run and stop, or pick runs/x-2)
    accelerator = make_accelerator(cfg, device)
    run_path = Path(out) if out is not None else default_run_dir(cfg)
    created = not run_path.exists()
    with run_lock(run_path, accelerator.is_main_process):  # before the check: two starts cannot both pass it
        try:
            if (run_path / "config.yaml").is_file():
                if stage is None:
                    raise ConfigError(f"{run_path} already holds a run; continue it with `altsa train --resume {run_path}`")
                check_reuse(run_path, cfg)
            accelerator.wait_for_everyone()
            return Trainer(cfg, run_path, quiet=quiet, progress=progress, accelerator=accelerator).train(stage)
        except BaseException:
            # A start that failed before set-up finished (bad data, labels, encoders) leaves no
            # half-made run folder behind; a run that started keeps its checkpoints for --resume.
            if (accelerator.is_main_process and created and run_path.is_dir()
                    and not (run_path / "config.yaml").is_file()):
                import shutil

                shutil.rmtree(run_path, ignore_errors=True)
            raise


def resume(run_path: str | Path, *, stage: str | None = None, quiet: bool = False, progress: bool = True,
           device: str | None = None) -> dict[str, Any]:
    """Continue a run from its last checkpoints; the result equals an uninterrupted run's."""
    from altsa.config import load_config
    from altsa.errors import ModelError

    run_path = Path(run_path)
    if not (run_path / "config.yaml").is_file():
        raise ModelError(f"{run_path} is not a run directory (no config.yaml)")
    cfg = load_config(ExperimentConfig, run_path / "config.yaml")
    accelerator = make_accelerator(cfg, device)
    with run_lock(run_path, accelerator.is_main_process):
        return Trainer(cfg, run_path, quiet=quiet, progress=progress, accelerator=accelerator).train(stage)

