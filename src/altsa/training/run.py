"""Run directories: what a training run leaves behind, and loading it back.

Layout (docs/architecture.md, "Runs")::

    RUN/config.yaml          resolved ExperimentConfig
    RUN/labels.json          the label set (task, name, labels, aliases)
    RUN/model.safetensors    the final model (each stage's epoch chosen on dev metrics.select_on: weighted F1 unless set);
                             metadata: dims, num_classes, format version
    RUN/text-encoder/        the fine-tuned text encoder (only when the teacher was fine-tuned)
    RUN/audio-encoder/       the fine-tuned students (only when fine-tuned end to end: freeze false)
    RUN/video-encoder/
    RUN/metrics.json         per stage: one row per epoch, and the best epochs
    RUN/log.txt              human-readable log
    RUN/checkpoints/<stage>/ last/ (for --resume), best-*.safetensors, final.safetensors, done.json
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from altsa.config import load_config
from altsa.data.schema import LabelSet
from altsa.errors import ModelError
from altsa.io import atomic_write_json
from altsa.training.checkpoint import load_tensors, read_json, read_metadata, save_tensors

RUN_FORMAT = "1"


class _Bar:
    """A rich progress bar showing the running loss and the last dev F1; a no-op when disabled."""

    def __init__(self, title: str, total: int, enabled: bool):
        self.title, self.loss, self.dev, self.epoch = title, float("nan"), "", 0
        self.progress = None
        if enabled and total > 0:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self.progress.start()
            self.task = self.progress.add_task(title, total=total, info="")

    def advance(self, n: int) -> None:
        if self.progress is not None and n:
            self.progress.advance(self.task, n)

    def update(self, epoch: int, loss: float) -> None:
        if self.progress is not None:
            self.epoch, self.loss = epoch, loss
            info = f"epoch {epoch} loss {loss:.4f}" + (f" | dev {self.dev}" if self.dev else "")
            self.progress.update(self.task, advance=1, info=info)

    def set_dev(self, text: str) -> None:
        self.dev = text

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


LOCK = ".lock"  # in the run folder: held by the process training it (its pid inside)


@contextlib.contextmanager
def run_lock(path: str | Path, take: bool = True) -> Iterator[None]:
    """Hold ``RUN/.lock`` while a run trains: a second ``altsa train`` (or ``--resume``) into
    the same folder stops at once with the pid of the first, instead of both writing the same
    checkpoints. ``take=False`` (the other processes of a multi-process run) holds nothing.
    The lock dies with its process: a killed run never leaves a stale one."""
    if not take:
        yield
        return
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): no lock
        yield
        return
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            raise ModelError(f"{folder} is in use by another altsa train (pid {holder}); wait for it to finish, "
                             "or train into another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # releases the lock


class RunDir:
    """Paths and bookkeeping of one run directory."""

    def __init__(self, path: str | Path, *, quiet: bool = False):
        self.path = Path(path)
        self.quiet = quiet
        self.path.mkdir(parents=True, exist_ok=True)

    def stage_dir(self, stage: str) -> Path:
        folder = self.path / "checkpoints" / stage
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def log(self, message: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        with open(self.path / "log.txt", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if not self.quiet:
            from rich.console import Console

            Console(stderr=True, highlight=False).print(message, markup=False)

    def progress(self, title: str, total: int, enabled: bool = True) -> _Bar:
        return _Bar(title, total, enabled and not self.quiet)

    def metrics(self) -> dict[str, Any]:
        path = self.path / "metrics.json"
        return read_json(path) if path.is_file() else {}

    def write_stage_metrics(self, stage: str, history: list[dict], best: dict) -> None:
        data = self.metrics()
        data[stage] = {"epochs": history, "best": best}
        atomic_write_json(self.path / "metrics.json", data)

    def write_metrics(self, key: str, value: Any) -> None:
        data = self.metrics()
        data[key] = value
        atomic_write_json(self.path / "metrics.json", data)

    def is_done(self, stage: str) -> bool:
        return (self.path / "checkpoints" / stage / "done.json").is_file() and (
            self.path / "checkpoints" / stage / "final.safetensors"
        ).is_file()

    def mark_done(self, stage: str, summary: dict[str, Any]) -> None:
        atomic_write_json(self.stage_dir(stage) / "done.json", summary)

    def final_weights(self, stage: str) -> Path:
        return self.path / "checkpoints" / stage / "final.safetensors"


# -- labels ------------------------------------------------------------------------------------


def save_labels(path: str | Path, task: str, labels: LabelSet) -> None:
    atomic_write_json(
        path,
        {"task": task, "name": labels.name, "labels": list(labels.labels), "aliases": [list(a) for a in labels.aliases]},
    )


def load_labels(path: str | Path) -> tuple[str, LabelSet]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return data["task"], LabelSet(data["name"], tuple(data["labels"]), tuple(tuple(a) for a in data.get("aliases", [])))
    except FileNotFoundError:
        raise ModelError(f"missing {path}: not a run directory") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ModelError(f"{path}: invalid labels file ({err})") from None


# -- the final model ---------------------------------------------------------------------------


def save_model(path: str | Path, model: Any) -> None:
    """Model weights plus what rebuilding it needs (dims, classes) in the safetensors metadata."""
    meta = {"format": RUN_FORMAT, "dims": json.dumps(model.dims), "num_classes": str(model.num_classes)}
    save_tensors(path, model.state_dict(), metadata=meta)


def model_meta(path: str | Path) -> tuple[dict[str, int], int]:
    meta = read_metadata(path)
    try:
        return {k: int(v) for k, v in json.loads(meta["dims"]).items()}, int(meta["num_classes"])
    except (KeyError, ValueError) as err:
        raise ModelError(f"{path}: not an altsa model file (metadata: {err})") from None


@dataclass
class TrainedRun:
    """Everything inference needs from a run (docs/architecture.md, "Runs")."""

    path: Path
    config: Any  # ExperimentConfig
    task: str
    labels: LabelSet
    model: Any  # ALTSAModel, eval mode
    encoders: dict[str, Any]  # modality -> EncoderConfig the model's features come from
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        return list(self.model.use)


def resolve_run(name_or_path: str | Path) -> Path:
    """A run directory, or a bundled model's folder. The one place RUN arguments resolve."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / "config.yaml").is_file():
            raise ModelError(f"{path} is not a run directory (no config.yaml)")
        return path
    try:
        from altsa.inference.bundled import bundled_path
    except ImportError:  # inference not installed in a stripped-down build
        bundled_path = None  # type: ignore[assignment]
    if bundled_path is not None:
        found = bundled_path(str(name_or_path))
        if found is not None:
            return found
    raise ModelError(f"no run directory or bundled model named {str(name_or_path)!r}")


def run_encoders(config: Any, run_path: Path) -> dict[str, Any]:
    """Encoder configs of a run's modalities; a fine-tuned encoder (teacher or student) points
    into the run (``RUN/<modality>-encoder/``), a LoRA adapter of the teacher too."""
    import dataclasses

    from altsa.training.pipeline import encoder_configs

    encoders = encoder_configs(config)
    shared = getattr(config.train, "teacher_from", None)  # a shared teacher (ablate --share-teacher)
    for m in list(encoders):
        tuned = run_path / f"{m}-encoder"
        if m == "text" and not tuned.is_dir() and shared:
            tuned = Path(shared) / "text-encoder"
        if tuned.is_dir():
            encoders[m] = dataclasses.replace(encoders[m], model=str(tuned.resolve()), freeze=True, unfreeze_last=0)
    adapter = run_path / "text-adapter"  # a LoRA adapter over the config's base model
    if not adapter.is_dir() and shared:
        adapter = Path(shared) / "text-adapter"
    if "text" in encoders and not (run_path / "text-encoder").is_dir() and adapter.is_dir() and not (
            shared and (Path(shared) / "text-encoder").is_dir()):
        options = {**encoders["text"].options, "adapter": str(adapter.resolve())}
        encoders["text"] = dataclasses.replace(encoders["text"], freeze=True, unfreeze_last=0, options=options)
    return encoders


def load_run(name_or_path: str | Path, device: str = "cpu") -> TrainedRun:
    """Load a run (or bundled model): config, label set, model in eval mode, encoder configs."""
    from altsa.experiment import ExperimentConfig
    from altsa.model import build_model

    path = resolve_run(name_or_path)
    config = load_config(ExperimentConfig, path / "config.yaml")
    task, labels = load_labels(path / "labels.json")
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"{path} has no model.safetensors (training not finished? resume with altsa train --resume {path})")
    dims, num_classes = model_meta(weights)
    if num_classes != len(labels):
        raise ModelError(f"{path}: model has {num_classes} classes but labels.json lists {len(labels)}")
    model = build_model(config.model, dims, num_classes)
    try:
        model.load_state_dict(load_tensors(weights))
    except RuntimeError as err:
        raise ModelError(f"{weights}: weights do not match the config ({str(err).splitlines()[0]})") from None
    model.to(device).eval()
    metrics_path = path / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    encoders = {m: ec for m, ec in run_encoders(config, path).items() if m in model.dims}
    return TrainedRun(path, config, task, labels, model, encoders, metrics)
