"""Run a trained model over a corpus and score it (``altsa evaluate``).

The corpus may be any supported format (``read_corpus``); its features come from the
feature cache, extracted on the fly with the run's own encoders (a fine-tuned text encoder
included). Metrics come from ``altsa.evaluation.metrics``, reports from ``.report``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from altsa.errors import ConfigError, DataError
from altsa.evaluation.metrics import Metrics, aggregate, compute_metrics
from altsa.losses import IGNORE


@dataclass
class Evaluation:
    run: str
    data: str
    metrics: Metrics
    weights_mean: dict[str, float] = field(default_factory=dict)  # mean modality weight over utterances
    absent: dict[str, dict[str, int]] = field(default_factory=dict)  # modality -> reason -> count
    rows: dict[str, Any] = field(default_factory=dict)  # read, kept, skipped, skipped_by_reason
    read_as: dict[str, Any] = field(default_factory=dict)  # format, mapping, columns, labels, clips
    unlabelled: int = 0  # kept utterances without a label of the task: read (they are context), not scored
    no_input: int = 0  # scored utterances with none of the modalities the model reads (scored all the same)
    intervals: dict[str, Any] | None = None  # bootstrap intervals over conversations (evaluation.bootstrap)
    scored: dict[str, list] = field(default_factory=dict, repr=False)  # keys, y_true, y_pred of the scored utterances

    def summary(self) -> dict[str, Any]:
        out = {"run": self.run, "data": self.data, **self.metrics.to_dict(), "weights_mean": self.weights_mean,
               "absent": self.absent, "rows": self.rows, "read_as": self.read_as, "unlabelled": self.unlabelled,
               "no_input": self.no_input}
        if self.intervals is not None:
            out["intervals"] = self.intervals
        return out

    def notices(self) -> list[str]:
        """What a reader of the figures should know: utterances read but not scored, and
        utterances scored with nothing the model reads (their answer comes from the
        conversation around them and the model's bias)."""
        out = []
        if self.unlabelled:
            out.append(f"{self.unlabelled} utterance(s) carry no label of the task: read as context, not scored")
        if self.no_input:
            why = "; ".join(f"{m}: " + ", ".join(f"{r} {n}" for r, n in sorted(c.items()))
                            for m, c in sorted(self.absent.items()) if c)
            out.append(f"{self.no_input} of {self.metrics.n} scored utterance(s) had nothing the model reads"
                       + (f" ({why})" if why else "") + "; scored all the same, from the conversation around them")
        return out


def is_corpus_folder(path: Path) -> bool:
    """A folder that is one corpus by itself (an IEMOCAP session), not a folder of split files."""
    from altsa.data.readers.iemocap import session_folders

    return session_folders(path) == [path]


def corpus_path(data: str | Path, run_config: Any, split: str | None) -> tuple[Path, str | None]:
    """A corpus file, or a folder holding the run config's split files -> (path, split name;
    None for a file whose name says no split and no ``--split``)."""
    from altsa.data.config import split_files

    path = Path(data)
    if path.is_dir() and not is_corpus_folder(path):
        name = split or "dev"
        if name not in run_config.data.splits:
            # MELD's own file names need no config entry: a model trained on train/dev still
            # scores a MELD folder's test split (the bundled models name no test file)
            from altsa.data.readers.meld import SPLIT_DIRS

            official = path / f"{name}_sent_emo.csv"
            if run_config.data.corpus == "meld" and name in SPLIT_DIRS and official.is_file():
                return official, name
            raise ConfigError(f"--split {name}: the run's data.splits has {', '.join(run_config.data.splits)}")
        for file in split_files(dataclasses.replace(run_config.data, root=str(path)), name):
            if not file.exists():  # a file, or a folder (an IEMOCAP session)
                raise DataError("split file not found", path=file)
        return path, name
    if not path.exists():
        raise DataError("file or folder not found", path=path)
    # a file's split is the one its name says (test_sent_emo.csv -> test: MELD.Raw's clip
    # folder for it is output_repeated_splits_test/), else the file's own name
    from altsa.data.readers.meld import infer_split

    return path, split or infer_split(path)


def evaluate_run(
    run: Any,
    data: str | Path,
    *,
    split: str | None = None,
    cache_dir: str | None = None,
    clips: str | None = None,
    format: str | None = None,
    options: Any = None,
    device: str | None = None,
    micro_f1_excludes: list[str] | None = None,
    bootstrap: int = 0,
) -> Evaluation:
    """Score ``run`` (a ``TrainedRun``) on the labelled utterances of ``data``.

    Micro F1 leaves out ``micro_f1_excludes`` (default: the run config's
    ``metrics.micro_f1_excludes``; ``[]``: no micro F1). ``bootstrap`` > 0: that many resamples
    of the conversations give 95 % intervals of every figure (``Evaluation.intervals``; seed 0).

    ``data`` is read as the run's own data section says (format, column mapping, label set)
    unless it is a self-describing file of another kind (``altsa.data.config.for_input``);
    ``options`` (``DataOptions``: the command line's ``--format``, ``--mapping``, ...) refine
    that. Rows outside the run's label set are skipped and counted; more than
    ``max_skipped_fraction`` of them stops the evaluation (``DataError``)."""
    import torch

    from altsa.data.config import DataOptions, describe, for_input, read_file, read_split, split_files
    from altsa.data.readers import check_skipped
    from altsa.encoders.base import build_encoder
    from altsa.model import MODALITIES
    from altsa.training.data import build_split
    from altsa.training.pipeline import _import_encoder_kinds, features_for
    from altsa.training.predict import predict_split

    cfg = run.config
    if cache_dir is None and _bundled(run.path) and not Path(cfg.features.cache_dir).is_absolute():
        # a bundled model's config names a cache relative to wherever the command runs: keep
        # its features in the user cache instead of a folder dropped into the current one
        from altsa.io import user_cache_dir

        cache_dir = str(user_cache_dir() / "features")
    if cache_dir is not None:
        cfg = dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, cache_dir=cache_dir))
    opts = options or DataOptions()
    check_labels_option(opts.labels, run.labels)
    chosen = cfg.metrics.micro_f1_excludes if micro_f1_excludes is None else micro_f1_excludes
    try:
        excludes = dataclasses.replace(cfg.metrics, micro_f1_excludes=list(chosen)).excludes(run.labels.labels)
    except ConfigError as err:
        if micro_f1_excludes is None:
            raise
        raise ConfigError(str(err).replace("metrics.micro_f1_excludes", "--micro-f1-excludes", 1)) from None
    if clips is not None or format is not None:
        opts = dataclasses.replace(opts, clips=clips if clips is not None else opts.clips,
                                   format=format if format is not None else opts.format)
    path, split_name = corpus_path(data, cfg, split)
    run_data = dataclasses.replace(cfg.data, task=run.task)
    if path.is_dir() and not is_corpus_folder(path):
        # the run's split file(s) under this folder, read as the run's config says
        data_cfg = opts.apply(dataclasses.replace(run_data, root=str(path)))
        corpus = read_split(data_cfg, split_name, labels=run.labels, check=False)
        files = split_files(data_cfg, split_name)
        path = files[0] if len(files) == 1 else path
    else:
        data_cfg = for_input(path, run_data, opts)
        corpus = read_file(path, data_cfg, split=split_name, labels=run.labels)
    try:
        rows = check_skipped(corpus, data_cfg.max_skipped_fraction, path=path, option="--max-skipped-fraction")
    except DataError as err:
        counts = corpus.counts()
        if counts["skipped_by_reason"].get("unknown_label", 0) * 2 > counts["skipped"]:  # mostly other labels
            err.message += (f" (this model answers in {run.labels.name}: {', '.join(run.labels.labels)}; a corpus "
                            "labelled in another set needs a model trained on it)")
            err.args = (str(err),)
        raise
    if not any(run.task in u.labels for u in corpus.utterances()):
        raise DataError(f"no utterance carries a label of the task {run.task!r} to score against", path=path)
    _import_encoder_kinds()
    # the modalities the fused prediction reads, as the Recognizer encodes them (model.use)
    from altsa.devices import resolve_device

    on = resolve_device(device)  # features the cache lacks are extracted on the accelerator when there is one
    encoders = {m: build_encoder(ec, device=on) for m, ec in run.encoders.items() if m in run.model.use}
    tables = features_for(cfg, corpus, encoders)
    fs = build_split(split_name or path.stem, corpus, tables, _RunLabels(run.labels), run.task)
    p = predict_split(run.model, fs)
    sel = p.labels != IGNORE
    if not sel.any():
        raise DataError(f"no utterance has a label of the run's label set ({', '.join(run.labels.labels)})", path=path)
    y_true, y_pred = p.labels[sel].tolist(), p.logits[sel].argmax(-1).tolist()
    metrics = compute_metrics(y_true, y_pred, list(run.labels.labels), excludes)
    intervals = None
    if bootstrap > 0:
        from altsa.evaluation.bootstrap import bootstrap as resample

        groups = [conversation_of(key) for key, keep in zip(p.keys, sel.tolist()) if keep]
        intervals = resample(y_true, y_pred, groups, list(run.labels.labels), samples=bootstrap,
                             micro_f1_excludes=excludes)
    w = p.weights[sel].mean(0) if sel.any() else torch.zeros(3)
    used = torch.tensor([m in run.model.use for m in MODALITIES])
    return Evaluation(
        run=str(run.path),
        data=str(path),
        metrics=metrics,
        weights_mean={m: round(float(w[k]), 4) for k, m in enumerate(MODALITIES)},
        absent=fs.absent,
        rows=rows,
        read_as=describe(data_cfg),
        unlabelled=sum(1 for u in corpus.utterances() if not u.labels.get(run.task)),
        no_input=int((~(p.present[sel] & used).any(-1)).sum()),
        intervals=intervals,
        scored={"keys": [k for k, keep in zip(p.keys, sel.tolist()) if keep], "y_true": y_true, "y_pred": y_pred},
    )


def conversation_of(key: str) -> str:
    """The conversation of an utterance key ``dialogue_id/position`` (the id may hold ``/``)."""
    return key.rsplit("/", 1)[0]


def compare_runs(a: Evaluation, b: Evaluation, labels: list[str], *, samples: int = 1000,
                 micro_f1_excludes: list[str] | None = None) -> dict[str, Any]:
    """The paired bootstrap of two evaluations of the same utterances (``bootstrap.paired``);
    ``DataError`` when they did not score the same utterances with the same labels (the two
    runs read the data differently)."""
    from altsa.evaluation.bootstrap import paired

    ka, kb = a.scored["keys"], b.scored["keys"]
    only = sorted(set(ka) ^ set(kb))
    if only or len(ka) != len(kb):
        why = f"{len(only)} utterance(s) scored by one only (first: {only[0]})" if only else "a key scored twice"
        raise DataError(f"the two runs did not score the same utterances: {why}; compare them on a file both read "
                        "the same way (e.g. JSONL)")
    at = {k: i for i, k in enumerate(kb)}  # B's answers in A's order
    true_b = [b.scored["y_true"][at[k]] for k in ka]
    if true_b != a.scored["y_true"]:
        raise DataError("the two runs read different gold labels for the same utterances (their label mappings "
                        "differ); compare them on a file both read the same way")
    pred_b = [b.scored["y_pred"][at[k]] for k in ka]
    excludes = a.metrics.micro_f1_excludes if micro_f1_excludes is None else micro_f1_excludes
    return paired(a.scored["y_true"], a.scored["y_pred"], pred_b, [conversation_of(k) for k in ka],
                  labels, samples=samples, micro_f1_excludes=excludes)


def _bundled(path: Any) -> bool:
    from altsa.inference.bundled import BUNDLED

    return any(Path(path).resolve() == BUNDLED.get(n).path.resolve() for n in BUNDLED.names())


def check_labels_option(labels: str | None, run_labels: Any) -> None:
    """``--labels`` with a trained model: the model answers in its own label set, so the
    option may only name that set (else it would look applied while the run's set is)."""
    if labels is None:
        return
    from altsa.data.config import DataConfig, label_set

    try:
        wanted = label_set(DataConfig(labels=labels)).labels
    except ConfigError:
        wanted = None
    if wanted is None or tuple(wanted) != tuple(run_labels.labels):
        raise ConfigError(f"--labels {labels}: the model answers in its own labels ({', '.join(run_labels.labels)}); "
                          "drop --labels")


class _RunLabels:
    """The run's label set, except that a label outside it fails with a clear message."""

    def __init__(self, labels):
        self.labels = labels

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except DataError:
            raise DataError(
                f"label {label!r} is not one the model knows ({', '.join(self.labels.labels)})"
            ) from None


def default_out(run_arg: str, run_path: Path, tag: str) -> Path:
    """RUN/eval/<tag> for a run directory. A bundled model (never write into the installed
    package) or a read-only run folder: ``<user cache>/eval/<name>-<tag>`` (``$ALTSA_CACHE_DIR``,
    else ``~/.cache/altsa``), so a report never lands in the current folder (a git tree) unasked."""
    from altsa.io import user_cache_dir

    if Path(run_arg).is_dir() and os.access(run_path, os.W_OK):
        return run_path / "eval" / tag
    return user_cache_dir() / "eval" / f"{run_path.name}-{tag}"


def write_evaluation(out: Path, ev: Evaluation, *, title: str, seeds: dict[str, Any] | None = None) -> dict[str, Path]:
    from altsa.evaluation.report import write_report

    extra: dict[str, Any] = {"run": ev.run, "data": ev.data, "rows": ev.rows, "read as": ev.read_as,
                             "mean modality weights": ev.weights_mean}
    if ev.absent:
        extra["absent modalities"] = ev.absent
    if seeds is not None:
        extra["seeds"] = seeds
    return write_report(out, ev.metrics, title=title, extra=extra, intervals=ev.intervals)


def aggregate_evaluations(evs: list[Evaluation]) -> dict[str, Any]:
    """Mean ± std over runs (different seeds of one config)."""
    try:
        return aggregate([e.metrics for e in evs])
    except ValueError as err:
        raise ConfigError(f"cannot aggregate these runs: {err}") from None
