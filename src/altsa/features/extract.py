"""Compute per-utterance vectors once and keep them (spec: ALTSA.md, "What goes beyond the paper").

``extract`` encodes every utterance of a corpus that the cache lacks for this encoder and
writes shards as it goes (resumable); ``load_features`` returns the vectors aligned to a
corpus. Under ``accelerate launch`` each process encodes a disjoint share and writes its own
shards; the main process merges the indexes at the end.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from altsa.data.media import Absent, MediaConfig
from altsa.data.schema import NOT_PROVIDED, Corpus
from altsa.errors import DataError
from altsa.features.cache import FeatureCache, FeatureTable


@dataclass
class Item:
    """One utterance's input for one modality, and its cache entry id."""

    key: str  # Utterance.key
    id: str  # "<key>#<digest of the input>"
    source: Any  # text (str) or media path (str) or None
    absent: str = ""  # reason known before decoding (NOT_PROVIDED: no text, no clip)
    span: tuple[float | None, float | None] | None = None  # seconds of the media file to read (None: all)


def _encoder_media(encoder: Any) -> MediaConfig:
    media = getattr(encoder, "media", None) or getattr(getattr(encoder, "cfg", None), "media", None)
    return media if isinstance(media, MediaConfig) else MediaConfig()


def input_spec(encoder: Any) -> dict[str, Any]:
    """How this encoder's inputs are built from a corpus (stored in the cache's meta.json, so
    ``load_features`` can rebuild entry ids from a bare fingerprint)."""
    if encoder.modality == "text":
        return dict(getattr(encoder, "input_spec", None) or {"mode": "plain"})
    return {"media": dataclasses.asdict(_encoder_media(encoder))}


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _media_digest(source: str, span: tuple[float | None, float | None] | None = None) -> str:
    """The clip's path, size and mtime, and the span read from it: two utterances of one
    recording never share an entry (a whole-file entry keeps its digest of old)."""
    path = os.path.realpath(source)
    where = "" if span is None else f"|span={span[0]!r},{span[1]!r}"
    try:
        st = os.stat(path)
        return _digest(f"{path}|{st.st_size}|{st.st_mtime_ns}{where}")
    except OSError:
        return _digest(f"{path}|missing{where}")  # recomputed once the file appears


def plan_items(corpus: Corpus, modality: str, spec: dict[str, Any]) -> list[Item]:
    """Every utterance of ``corpus``, in order, as an ``Item`` of ``modality``."""
    items: list[Item] = []
    if modality == "text":
        from altsa.encoders.text import text_inputs

        for conv in corpus.conversations:
            # context mode: utterance i's input is the conversation so far, so build per conversation
            texts = text_inputs(conv, **spec)
            for u, text in zip(conv.utterances, texts, strict=True):
                # an utterance without transcript has no text vector, whatever the input mode
                absent = "" if u.has_text else NOT_PROVIDED
                items.append(Item(u.key, f"{u.key}#{_digest(text)}", text, absent))
        return items
    if modality not in ("audio", "video"):
        raise DataError(f"unknown modality {modality!r}")
    for u in corpus.utterances():
        source = u.audio_source() if modality == "audio" else u.video_source()
        if source is None:
            items.append(Item(u.key, f"{u.key}#none", None, NOT_PROVIDED))
        else:
            items.append(Item(u.key, f"{u.key}#{_media_digest(str(source), u.span)}", str(source), span=u.span))
    return items


def _decode(item: Item, modality: str, media: MediaConfig) -> Any:
    """The encoder input of ``item`` or an ``Absent``."""
    if item.absent:
        return Absent(item.absent)
    if modality == "text":
        return item.source
    from altsa.data.media import decode_audio, decode_video

    return (decode_audio if modality == "audio" else decode_video)(item.source, media, span=item.span)


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:.1f} utt/s" if task.speed else "- utt/s")

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not enabled, transient=False,
    )


def process_state() -> Any:
    """This process's ``accelerate.PartialState``.

    Under ``accelerate launch`` / ``torchrun`` on a machine without GPUs (or with
    ``ACCELERATE_USE_CPU``), the processes join a CPU (gloo) group: ``PartialState`` only
    does that when asked for the CPU, so ask when there is no GPU to use.
    """
    from accelerate import PartialState

    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    return PartialState(cpu=cpu or not torch.cuda.is_available())


def _chunks(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def cache_for(cache_dir: str | Path, encoder: Any) -> FeatureCache:
    return FeatureCache(cache_dir, encoder.modality, encoder.fingerprint)


def cache_status(cache_dir: str | Path, corpus: Corpus, encoder: Any) -> tuple[int, int]:
    """(cached, total) utterances of ``corpus`` for ``encoder``."""
    items = plan_items(corpus, encoder.modality, input_spec(encoder))
    entries = cache_for(cache_dir, encoder).entries()
    return sum(it.id in entries for it in items), len(items)


def extract(
    corpus: Corpus,
    encoder: Any,
    cache_dir: str | Path,
    *,
    batch_size: int = 32,
    shard_size: int = 256,
    progress: bool = True,
    workers: int | None = None,
    state: Any = None,
) -> FeatureTable:
    """Encode what the cache lacks for ``encoder`` and return the corpus' vectors.

    Args:
        batch_size: utterances decoded and handed to ``encoder.encode`` at a time (the encoder
            may split them further into its own forward batches).
        shard_size: a shard (and an index update) is written every this many utterances;
            a killed run loses at most this many.
        workers: threads decoding media ahead of the encoder (default: min(4, CPUs)).
        state: an ``accelerate.PartialState``; default: the current one (one process unless
            started by ``accelerate launch``).
    """
    state = state or process_state()
    modality = encoder.modality
    spec = input_spec(encoder)
    media = _encoder_media(encoder)
    items = plan_items(corpus, modality, spec)
    cache = cache_for(cache_dir, encoder)
    if state.is_main_process:
        cache.path.mkdir(parents=True, exist_ok=True)
        cache.write_meta(encoder.dim, spec)
    state.wait_for_everyone()
    done = cache.entries()
    todo = list({it.id: it for it in items if it.id not in done}.values())
    if modality == "text":  # longest first: batches of similar length (little padding), repeats adjacent
        todo.sort(key=lambda it: (-len(it.source or ""), it.source or ""))
    state.wait_for_everyone()  # every process has planned before anyone writes
    # strided, not contiguous: each process gets a fair share of long and short inputs
    mine = todo[state.process_index :: state.num_processes]
    cache.begin(state.process_index, state.num_processes)
    if mine:
        _run(cache, encoder, mine, modality, media, batch_size, shard_size, workers, progress and state.is_main_process,
             f"{modality} {corpus.name}" + (f" (process 1/{state.num_processes})" if state.num_processes > 1 else ""))
    state.wait_for_everyone()
    if state.is_main_process and cache.needs_consolidation():
        cache.consolidate()
    state.wait_for_everyone()
    return cache.load([it.id for it in items], [it.key for it in items])


def _run(
    cache: FeatureCache,
    encoder: Any,
    mine: list[Item],
    modality: str,
    media: MediaConfig,
    batch_size: int,
    shard_size: int,
    workers: int | None,
    show: bool,
    label: str,
) -> None:
    """Decode (threads, one chunk ahead), encode, and write shards of ``mine``."""
    buf_ids: list[str] = []
    buf_vecs: list[torch.Tensor] = []
    buf_present: list[bool] = []
    buf_reasons: list[str] = []

    def flush() -> None:
        if buf_ids:
            cache.write_shard(list(buf_ids), torch.cat(buf_vecs), torch.tensor(buf_present), list(buf_reasons))
            buf_ids.clear(), buf_vecs.clear(), buf_present.clear(), buf_reasons.clear()

    n_workers = workers or min(4, os.cpu_count() or 1)
    chunks = list(_chunks(mine, batch_size))
    pool = ThreadPoolExecutor(max_workers=n_workers) if modality != "text" else None

    def submit(chunk: list[Item]) -> list[Future] | list[Any]:
        if pool is None:
            return [_decode(it, modality, media) for it in chunk]
        return [pool.submit(_decode, it, modality, media) for it in chunk]

    with _progress(show) as bar:
        task = bar.add_task(label, total=len(mine))
        try:
            pending = submit(chunks[0]) if chunks else []
            for i, chunk in enumerate(chunks):
                decoded = [p.result() if isinstance(p, Future) else p for p in pending]
                if i + 1 < len(chunks):
                    pending = submit(chunks[i + 1])  # decode the next chunk while this one encodes
                inputs = [d for d in decoded if not isinstance(d, Absent)]
                vectors = torch.zeros(len(chunk), encoder.dim)
                if inputs:
                    encoded = encoder.encode(inputs)  # [k, dim]
                    rows = torch.tensor([j for j, d in enumerate(decoded) if not isinstance(d, Absent)])
                    vectors[rows] = encoded.detach().float().cpu()
                buf_ids.extend(it.id for it in chunk)
                buf_vecs.append(vectors)
                buf_present.extend(not isinstance(d, Absent) for d in decoded)
                buf_reasons.extend(d.reason if isinstance(d, Absent) else "" for d in decoded)
                if len(buf_ids) >= shard_size:
                    flush()
                bar.advance(task, len(chunk))
        finally:
            flush()  # an interrupted run keeps every vector it finished
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)


def load_features(cache_dir: str | Path, corpus: Corpus, encoder_or_fingerprint: Any) -> FeatureTable:
    """The cached vectors of ``corpus`` (in corpus order) for an encoder or its fingerprint.

    Raises ``DataError`` naming the fix (``altsa extract``) when any utterance is missing.
    """
    if isinstance(encoder_or_fingerprint, str):
        cache = FeatureCache.find(cache_dir, encoder_or_fingerprint)
        meta = cache.read_meta() or {}
        spec = meta.get("input_spec") or {}
    else:
        cache = cache_for(cache_dir, encoder_or_fingerprint)
        spec = input_spec(encoder_or_fingerprint)
    items = plan_items(corpus, cache.modality, spec)
    entries = cache.entries() if cache.path.is_dir() else {}
    missing = [it for it in items if it.id not in entries]
    if missing:
        raise DataError(
            f"{len(missing)} of {len(items)} utterances of {corpus.name} have no cached {cache.modality} features "
            f"for this encoder (first: {missing[0].key}); run `altsa extract CONFIG` first (cache: {cache.path})"
        )
    return cache.load([it.id for it in items], [it.key for it in items])

