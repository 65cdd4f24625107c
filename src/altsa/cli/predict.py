"""``altsa predict MODEL INPUT`` and ``altsa demo``: label conversations with a trained model.

MODEL is a run directory or a bundled model's name (``meld-text-minilm``). INPUT is a JSONL
conversation file, any corpus file ``altsa.data.readers.read_corpus`` reads, media files and
folders of them (format ``clips``: each file a one-utterance conversation named by the file,
text ``not_provided``), or ``-`` for JSONL on stdin; several may be given. Bad input stops at
the first bad line with a one-line error naming it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import typer

from altsa.cli import recordings
from altsa.cli.main import app
from altsa.cli.options import data_options
from altsa.errors import AltsaError, DataError

DEMO_MODEL = "meld-text-minilm"
EXAMPLE = "conversation.jsonl"


def example_path(name: str = EXAMPLE) -> Path:
    """The example conversation shipped with the package (``altsa/examples/``)."""
    return Path(str(resources.files("altsa") / "examples" / name))


def read_input(source: str, *, fmt: str | None = None, clips: str | None = None, data: Any = None,
               split: str | None = None):
    """A corpus from a file or stdin (``-``, JSONL), strict: the first bad line is an error.
    ``data`` (a ``DataConfig``) says how to read a file; ``fmt``/``clips`` are shorthands;
    ``split`` the split of a MELD file whose name does not say it (its clip folder)."""
    from altsa.data.config import AUTO, DataConfig, read_file

    if data is None:
        data = DataConfig(corpus=fmt or AUTO, clips=clips)
    if source != "-":
        if not Path(source).exists():
            raise DataError(f"input file not found: {source}")
        return read_file(source, data, strict=True, split=split)
    raw = sys.stdin.buffer.read()
    if not raw.strip():
        raise DataError("<stdin>: no input (expected JSONL, one conversation per line)")
    with tempfile.TemporaryDirectory(prefix="altsa-stdin-") as tmp:
        path = Path(tmp) / "stdin.jsonl"
        path.write_bytes(raw)
        try:
            jsonl = data if data.corpus not in (AUTO, "") else DataConfig(corpus="jsonl", clips=data.clips)
            return read_file(path, jsonl, strict=True)
        except AltsaError as err:  # name the input as the user knows it
            if err.path == str(path):
                err.path = "<stdin>"
                err.args = (str(err),)
            raise


def input_data(model: str, source: str, opts: Any) -> Any:
    """How to read INPUT: the options, over the run's own data section (``for_input``)."""
    from altsa.config import load_config
    from altsa.data.config import AUTO, DataConfig, for_input
    from altsa.experiment import ExperimentConfig
    from altsa.training.run import resolve_run

    try:
        run_data = load_config(ExperimentConfig, resolve_run(model) / "config.yaml").data
    except AltsaError:
        run_data = None  # the model's own error comes with loading it
    if source == "-":
        return opts.apply(DataConfig(corpus=AUTO))
    data = for_input(source, run_data, opts)
    if opts.name_pattern is None and data.name_pattern is not None:
        # the run's pattern labelled its training clips; a new recording is predicted whatever its name
        import dataclasses

        data = dataclasses.replace(data, name_pattern=None)
    return data


def check_model_labels(model: str, labels: str) -> None:
    """``--labels`` may only name MODEL's own label set: the model answers in it whatever the
    option says (``evaluation.evaluate.check_labels_option``)."""
    from altsa.evaluation.evaluate import check_labels_option
    from altsa.training.run import load_labels, resolve_run

    check_labels_option(labels, load_labels(resolve_run(model) / "labels.json")[1])


@app.command("predict")
@data_options()
def predict_cmd(
    model: str = typer.Argument(..., help="run directory or bundled model name (e.g. meld-text-minilm)"),
    inputs: list[str] = typer.Argument(
        ..., metavar="INPUT...",
        help="JSONL conversation file, a corpus file (CSV, MELD), media files (a recording to transcribe, or a "
             "clip: see --media-as) or folders of clips (each a one-utterance conversation), or - for JSONL on stdin",
    ),
    json_out: bool = typer.Option(False, "--json", help="JSON lines: one object per utterance"),
    table: bool = typer.Option(False, "--table", help="a readable table (the default)"),
    split: str = typer.Option(None, "--split", help="the split of a MELD file whose name does not say it "
                              "(train, dev or test: which clip folder --clips holds)"),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N, mps or auto (CUDA when usable)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="utterances per encoder call, dialogues per model call"),
    threads: int = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: torch's choice)"),
    media_as: str = recordings.MEDIA_AS,
    speakers: int = recordings.SPEAKERS,
    max_minutes: float = recordings.MAX_MINUTES,
    asr_model: str = recordings.ASR_MODEL,
    language: str = recordings.LANGUAGE,
    data_opts: Any = None,
) -> None:
    """Label every utterance of INPUT with MODEL (table, or JSON lines with --json).

    A media file INPUT is a recording (transcribed into utterances with times and speakers,
    see: altsa transcribe; the timeline shows time, speaker, text, emotion and confidence)
    or a clip (one utterance, no transcript): --media-as recording|clip; by default a
    recording when the model reads text, else a clip. A folder holds clips.
    """
    if json_out and table:
        raise typer.BadParameter("choose one of --json and --table")
    if "-" in inputs and len(inputs) > 1:
        raise typer.BadParameter("- (stdin) cannot be combined with other inputs")
    if data_opts.labels is not None:
        check_model_labels(model, data_opts.labels)
    if recordings.as_recordings(model, inputs, media_as):
        cfg = recordings.recording_config(
            speakers=speakers, max_minutes=max_minutes, asr_model=asr_model, language=language, threads=threads
        )
        recordings.predict_recordings(
            model, inputs, json_out=json_out, device=device, batch_size=batch_size, threads=threads, cfg=cfg
        )
        return
    from altsa.data.readers import describe_counts
    from altsa.inference import Recognizer
    from altsa.inference.format import json_lines, prediction_table, print_renderable

    conversations, clips, read, origins = [], False, [], []
    for source in inputs:
        corpus = read_input(source, data=input_data(model, source, data_opts), split=split)
        if not corpus.conversations:
            raise DataError(f"{source}: no utterances to predict")
        note = f"; {corpus.ignored_files} other files ignored (not media)" if corpus.ignored_files else ""
        read.append(f"{source}: {describe_counts(corpus.counts())}{note}")
        clips = clips or any(not u.has_text for u in corpus.utterances())
        conversations += corpus.conversations
        origins += [source] * sum(len(c) for c in corpus.conversations)
    rec = Recognizer.from_pretrained(model, device=device, batch_size=batch_size, threads=threads)
    predictions = rec.predict_corpus(conversations)
    # what was read, on stderr (stdout holds the predictions; an error stays one line)
    print("\n".join(read), file=sys.stderr)
    if json_out:  # several inputs: each line names its own (their keys may repeat)
        json_lines(predictions, sys.stdout, sources=origins if len(inputs) > 1 else None)
    else:
        title = f"{rec.name}: {inputs[0]}" + (f" (+{len(inputs) - 1} more)" if len(inputs) > 1 else "")
        print_renderable(prediction_table(predictions, modalities=rec.modalities, title=title, show_dialogue=clips))


@app.command("demo")
def demo_cmd(
    model: str = typer.Option(DEMO_MODEL, help="run directory or bundled model name (meld-text-accurate: the accurate one; pip install 'altsa\\[accurate]')"),
    input: str = typer.Option(None, "--input", help="a conversation file (or a recording, as altsa predict "
                              "reads it) instead of the shipped example"),
    json_out: bool = typer.Option(False, "--json", help="JSON lines instead of the timeline"),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N, mps or auto (CUDA when usable)."),
) -> None:
    """Offline quick start: the bundled model reads the shipped example conversation."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything it needs ships with the install
    from altsa.inference import Recognizer
    from altsa.inference.format import json_lines, print_renderable, timeline

    source = input or str(example_path())
    if recordings.as_recordings(model, [source], "auto"):  # a recording: transcribed, as predict does
        from altsa.recordings import RecordingConfig

        recordings.predict_recordings(model, [source], json_out=json_out, device=device, batch_size=32, threads=None,
                                      cfg=RecordingConfig())
        return
    corpus = read_input(source)
    if not corpus.conversations:
        raise DataError(f"{source}: no utterances to predict")
    t0 = time.perf_counter()
    rec = Recognizer.from_pretrained(model, device=device)
    t1 = time.perf_counter()
    predictions = rec.predict_corpus(corpus)
    t2 = time.perf_counter()
    if json_out:
        json_lines(predictions, sys.stdout)
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    mods = "+".join(rec.modalities)
    print_renderable(timeline(predictions, title=f"{rec.name} ({mods}) on {Path(source).name}"), console=console)
    n = len(predictions)
    console.print(  # the device is escaped: only the [dim] is markup
        f"[dim]{n} utterances in {(t2 - t1) * 1e3:.0f} ms ({(t2 - t1) * 1e3 / n:.1f} ms each) "
        f"on {escape(str(rec.device))}; "
        f"model loaded in {t1 - t0:.1f} s[/dim]"
    )
