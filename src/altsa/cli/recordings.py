"""``altsa transcribe RECORDING``, and the recording route of ``altsa predict MODEL RECORDING``.

A recording (wav, mp3, flac, mp4, mkv, webm, ... any rate, mono or stereo) becomes
utterances with times and speakers (``altsa.recordings``). Notices (no speech, regions
without words) and timings go to stderr, so ``--json`` output stays pure.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from altsa.cli.main import app

def is_recording(path: str) -> bool:
    """A media file by its suffix (the clips reader's list) is read as a recording, not a corpus file."""
    from altsa.data.readers.clips import is_media_file

    return path != "-" and is_media_file(path)


def recording_config(
    *, speakers: int | None, max_minutes: float, asr_model: str, language: str | None, threads: int | None
) -> Any:
    from altsa.recordings import RecordingConfig

    return RecordingConfig(
        speakers=speakers, max_minutes=max_minutes, asr_model=asr_model, language=language, threads=threads or 0
    ).check()


def notify(transcript: Any, *, seconds: float) -> None:
    """Notices, and the real-time factor, on stderr."""
    for notice in transcript.notices:
        print(f"notice: {notice}", file=sys.stderr)
    rtf = seconds / max(transcript.duration, 1e-9)
    print(
        f"{transcript.info.name}: {transcript.duration:.1f} s, {len(transcript.utterances)} utterances, "
        f"{len({u.speaker for u in transcript.utterances})} speakers in {seconds:.1f} s (real-time factor {rtf:.2f})",
        file=sys.stderr,
    )


def transcript_table(transcript: Any):
    from rich.table import Table

    from altsa.inference.format import clock_span, literal, literal_title

    # the file name, speakers and texts are shown literally (rich markup in them is not markup)
    table = Table(title=literal_title(transcript.info.name), box=None, header_style="dim", pad_edge=False)
    table.add_column("time", style="dim", no_wrap=True)
    table.add_column("speaker", style="bold", no_wrap=True)
    table.add_column("text", overflow="fold", ratio=1)
    for i, u in enumerate(transcript.utterances):
        start, end = transcript.span(i)
        table.add_row(clock_span(start, end), literal(u.speaker), literal(u.text))
    return table


SPEAKERS = typer.Option(None, "--speakers", min=1, max=64, help="number of speakers, when known (default: estimated)")
MAX_MINUTES = typer.Option(60.0, "--max-minutes", min=0.01, help="refuse longer recordings (checked before decoding)")
ASR_MODEL = typer.Option("tiny.en", "--asr-model", help="Whisper: tiny.en, base (the audio-base extra) or a CTranslate2 folder")
LANGUAGE = typer.Option(None, "--language", help="spoken language code for multilingual models (default: detected)")
MEDIA_AS = typer.Option(
    "auto", "--media-as",
    help="media files as a 'recording' (transcribed, split into utterances) or a 'clip' (one utterance); "
         "auto: recording when the model reads text",
)


@app.command("transcribe")
def transcribe_cmd(
    recording: str = typer.Argument(..., help="audio or video file of a conversation (wav, mp3, flac, mp4, mkv, webm, ...)"),
    speakers: int = SPEAKERS,
    max_minutes: float = MAX_MINUTES,
    asr_model: str = ASR_MODEL,
    language: str = LANGUAGE,
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads (default: the libraries' choice)"),
    json_out: bool = typer.Option(False, "--json", help="the conversation as one JSONL line on stdout (nothing when no speech is found: a notice on stderr says so)"),
    output: Path = typer.Option(None, "--output", "-o", help="write the conversation as JSONL to this file"),
) -> None:
    """Transcribe RECORDING into utterances with times and speakers (JSONL, docs/data.md)."""
    from altsa.io import atomic_write_text
    from altsa.recordings import transcribe_recording

    if output is not None and Path(recording).exists() and output.exists() and output.resolve() == Path(recording).resolve():
        raise typer.BadParameter(f"{output} is the recording itself: writing the transcript there would replace it",
                                 param_hint="--output")

    cfg = recording_config(
        speakers=speakers, max_minutes=max_minutes, asr_model=asr_model, language=language, threads=threads
    )
    t0 = time.perf_counter()
    transcript = transcribe_recording(recording, cfg)
    seconds = time.perf_counter() - t0
    line = json.dumps(transcript.to_dict(), ensure_ascii=False) + "\n" if transcript.utterances else ""
    if output is not None:
        atomic_write_text(output, line)
    if json_out:
        sys.stdout.write(line)
    elif output is None:
        from altsa.inference.format import print_renderable

        if transcript.utterances:
            print_renderable(transcript_table(transcript))
    notify(transcript, seconds=seconds)
    if output is not None:
        print(f"wrote {output}", file=sys.stderr)


def model_reads_text(model: str) -> bool:
    """Whether MODEL's fused prediction reads text (from its config, before loading it)."""
    from altsa.config import load_config
    from altsa.experiment import ExperimentConfig
    from altsa.training.run import resolve_run

    cfg = load_config(ExperimentConfig, resolve_run(model) / "config.yaml")
    used = cfg.model.modalities or cfg.encoders.modalities
    return "text" in used


def as_recordings(model: str, inputs: list[str], media_as: str) -> bool:
    """Whether ``altsa predict`` transcribes its inputs as recordings: every input is a media
    file (not a folder) and ``--media-as`` says recording, or auto and the model reads text
    (a text model can do nothing with a clip's absent transcript; an audio or video model
    labels each clip whole)."""
    if media_as not in ("auto", "recording", "clip"):
        raise typer.BadParameter(f"--media-as must be auto, recording or clip, not {media_as!r}")
    media = [is_recording(i) and not Path(i).is_dir() for i in inputs]
    if media_as == "clip" or not any(media):
        return False
    if not all(media):
        if media_as == "recording":
            raise typer.BadParameter("--media-as recording: every INPUT must be a media file")
        if media_as == "auto" and model_reads_text(model):  # the media would be recordings: not with corpus files
            raise typer.BadParameter("recordings (media files, for a model that reads text) cannot be mixed with "
                                     "corpus files or folders in one command; run them apart, or pass --media-as clip")
        return False
    return media_as == "recording" or model_reads_text(model)


def predict_recordings(
    model: str, paths: list[str], *, json_out: bool, device: str, batch_size: int, threads: int | None, cfg: Any
) -> None:
    """``altsa predict MODEL RECORDING...``: transcribe each, then label every utterance."""
    from altsa.inference import Recognizer
    from altsa.inference.format import json_lines, print_renderable, recording_timeline
    from altsa.recordings import probe

    for path in paths:
        probe(path, max_minutes=cfg.max_minutes)  # a bad file fails before the model loads
    t0 = time.perf_counter()
    rec = Recognizer.from_pretrained(model, device=device, batch_size=batch_size, threads=threads)
    loaded = time.perf_counter() - t0
    for path in paths:
        t1 = time.perf_counter()
        predictions, transcript = rec.predict_recording(path, cfg, return_transcript=True)
        seconds = time.perf_counter() - t1
        if json_out:
            json_lines(predictions, sys.stdout)
            sys.stdout.flush()
        elif predictions:
            title = f"{rec.name} ({'+'.join(rec.modalities)}) on {transcript.info.name}"
            print_renderable(recording_timeline(predictions, title=title))
        notify(transcript, seconds=seconds)
    print(f"model loaded in {loaded:.1f} s", file=sys.stderr)
