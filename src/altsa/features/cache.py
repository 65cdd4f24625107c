"""The on-disk feature cache: one folder per (modality, encoder fingerprint).

Layout (docs/features.md)::

    CACHE/<modality>/<fingerprint-hash>/
        meta.json                      the full fingerprint, dim, how inputs are built
        index.json                     shard -> the entry ids it holds, rewritten after each shard
        index-r<rank>-<pid>.json       the same, per process of a multi-process run (merged at the end)
        shard-<run>-r<rank>-<seq>.safetensors   vectors [m, dim], present [m]; ids and reasons in metadata

An entry id is ``<utterance key>#<input digest>``: the digest names the input itself (the text
the encoder read, or the clip's path, size and mtime), so the same key in another split or an
edited corpus never picks up another input's vector. Every file is written atomically; a
shard is complete before any index names it, and shards carry their own ids, so a killed
run loses at most the shard it was filling and the next run resumes from what is on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from altsa.errors import DataError
from altsa.io import atomic_write, atomic_write_json

INDEX = "index.json"
META = "meta.json"
CACHE_VERSION = 1

# Absent reasons older caches stored under another name (one spelling everywhere now).
_RENAMED_REASONS = {"no_media": "not_provided"}


@dataclass
class FeatureTable:
    """Per-utterance vectors of one modality, aligned to a corpus (or a list of keys)."""

    keys: list[str]  # utterance keys ("dialogue/position")
    vectors: torch.Tensor  # [n, dim] float32 (zeros where absent)
    present: torch.Tensor  # [n] bool
    reasons: list[str]  # "" where present, else the Absent reason

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def absent_counts(self) -> Counter[str]:
        """reason -> how many utterances lack this modality for it."""
        return Counter(r for r in self.reasons if r)


def fingerprint_hash(fingerprint: str) -> str:
    """The folder name of a fingerprint."""
    return hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:16]


class FeatureCache:
    """One encoder's folder of the cache: read what is there, add shards, merge indexes."""

    def __init__(self, root: str | Path, modality: str, fingerprint: str):
        self.root = Path(root)
        self.modality = modality
        self.fingerprint = fingerprint
        self.path = self.root / modality / fingerprint_hash(fingerprint)
        self._run = f"{time.time_ns():016x}"
        self._seq = 0
        self._own_file: Path | None = None
        self._own: dict[str, list[str]] = {}

    @classmethod
    def find(cls, root: str | Path, fingerprint: str) -> FeatureCache:
        """The folder of ``fingerprint`` under any modality (for a bare fingerprint string)."""
        hits = sorted(Path(root).glob(f"*/{fingerprint_hash(fingerprint)}/{META}"))
        if not hits:
            raise DataError(
                f"no cached features for this encoder fingerprint under {root}; run `altsa extract CONFIG` first"
            )
        return cls(root, hits[0].parent.parent.name, fingerprint)

    # -- meta ---------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any] | None:
        try:
            meta = json.loads((self.path / META).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(f"unreadable cache metadata: {err}", path=self.path / META) from None
        if meta.get("fingerprint") != self.fingerprint:
            raise DataError("cache folder holds another fingerprint (hash collision?); delete it", path=self.path)
        return meta

    def write_meta(self, dim: int, input_spec: dict[str, Any]) -> None:
        meta = self.read_meta()
        if meta is not None:
            if int(meta["dim"]) != dim:
                raise DataError(f"cached vectors have dim {meta['dim']} but the encoder gives {dim}", path=self.path)
            return
        atomic_write_json(
            self.path / META,
            {"version": CACHE_VERSION, "modality": self.modality, "dim": dim, "fingerprint": self.fingerprint,
             "input_spec": input_spec},
        )

    # -- reading ------------------------------------------------------------------------
    def _index_files(self) -> list[Path]:
        return sorted(self.path.glob("index*.json"))

    def shards(self) -> dict[str, list[str]]:
        """shard name -> entry ids, as each shard's own metadata says (not the index files: a
        shard is the truth about its rows). A shard that cannot be
        read, or whose tensors do not have one row per id, is left out, so its rows count as
        not cached and are computed again: a damaged file is never used."""
        found: dict[str, list[str]] = {}
        for file in sorted(self.path.glob("shard-*.safetensors")):  # names sort by run start: later runs win
            ids = self._shard_ids(file)
            if ids is not None:
                found[file.name] = ids
        return found

    @staticmethod
    def _shard_ids(file: Path) -> list[str] | None:
        try:
            with safe_open(str(file), framework="pt") as fh:
                ids = json.loads((fh.metadata() or {})["ids"])
                rows = {fh.get_slice(name).get_shape()[0] for name in ("vectors", "present")}
        except Exception:  # an unreadable shard is recomputed, never fatal
            return None
        if not isinstance(ids, list) or rows != {len(ids)}:
            return None
        return [str(i) for i in ids]

    def entries(self) -> dict[str, tuple[str, int]]:
        """entry id -> (shard name, row) for everything cached."""
        out: dict[str, tuple[str, int]] = {}
        for shard, ids in self.shards().items():
            for row, eid in enumerate(ids):
                out[eid] = (shard, row)
        return out

    def load(self, ids: list[str], keys: list[str] | None = None) -> FeatureTable:
        """The cached rows of ``ids`` (all must be cached), labelled with ``keys``."""
        meta = self.read_meta()
        if meta is None:
            raise DataError(f"no cached {self.modality} features; run `altsa extract CONFIG` first", path=self.path)
        dim = int(meta["dim"])
        entries = self.entries()
        missing = [i for i in ids if i not in entries]
        if missing:
            raise DataError(
                f"{len(missing)} of {len(ids)} entries are not cached; run `altsa extract CONFIG`", path=self.path
            )
        vectors = torch.zeros(len(ids), dim)
        present = torch.zeros(len(ids), dtype=torch.bool)
        reasons = [""] * len(ids)
        wanted: dict[str, list[tuple[int, int]]] = {}
        for pos, eid in enumerate(ids):
            shard, row = entries[eid]
            wanted.setdefault(shard, []).append((pos, row))
        for shard, pairs in wanted.items():
            try:
                with safe_open(str(self.path / shard), framework="pt") as fh:
                    shard_vectors = fh.get_tensor("vectors")  # [m, dim]
                    shard_present = fh.get_tensor("present")  # [m]
                    shard_reasons = json.loads((fh.metadata() or {}).get("reasons", "[]"))
            except Exception as err:  # changed on disk since it was checked (another process?)
                raise DataError(f"cache shard {shard} cannot be read ({str(err).splitlines()[0][:120]}); run "
                                "`altsa extract CONFIG` to compute its rows again", path=self.path) from None
            if shard_vectors.shape[1] != dim:
                raise DataError(f"shard {shard} has dim {shard_vectors.shape[1]}, expected {dim}", path=self.path)
            pos = torch.tensor([p for p, _ in pairs])
            rows = torch.tensor([r for _, r in pairs])
            vectors[pos] = shard_vectors[rows].float()
            present[pos] = shard_present[rows].bool()
            for p, r in pairs:
                reason = shard_reasons[r] if r < len(shard_reasons) else ""
                reasons[p] = _RENAMED_REASONS.get(reason, reason)
        return FeatureTable(list(keys if keys is not None else ids), vectors, present, reasons)

    # -- writing ------------------------------------------------------------------------
    def begin(self, rank: int = 0, world_size: int = 1) -> None:
        """Start writing. One process keeps ``index.json`` itself up to date; each process of
        a multi-process run keeps its own index file, merged by ``consolidate``."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._rank = rank
        if world_size == 1:
            self._own_file = self.path / INDEX
            self._own = self.shards()
        else:
            self._own_file = self.path / f"index-r{rank}-{os.getpid()}.json"
            self._own = {}

    def write_shard(self, ids: list[str], vectors: torch.Tensor, present: torch.Tensor, reasons: list[str]) -> str:
        """Write one shard (atomically), then the index naming it (atomically)."""
        if self._own_file is None:
            raise RuntimeError("FeatureCache.begin() was not called")
        name = f"shard-{self._run}-r{self._rank:03d}-{self._seq:05d}.safetensors"
        self._seq += 1
        tensors = {"vectors": vectors.detach().float().cpu().contiguous(), "present": present.bool().cpu().contiguous()}
        metadata = {"ids": json.dumps(ids), "reasons": json.dumps(reasons)}
        atomic_write(self.path / name, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
        self._own[name] = list(ids)
        self._write_index(self._own_file, self._own)
        return name

    def _write_index(self, file: Path, shards: dict[str, list[str]]) -> None:
        atomic_write_json(file, {"version": CACHE_VERSION, "fingerprint_hash": self.path.name, "shards": shards})

    def needs_consolidation(self) -> bool:
        """True when ``index.json`` is not the whole story (per-process indexes, unindexed shards)."""
        if any(f.name != INDEX for f in self._index_files()):
            return True
        on_disk = {f.name for f in self.path.glob("shard-*.safetensors")}
        try:
            listed = set(json.loads((self.path / INDEX).read_text(encoding="utf-8")).get("shards", {}))
        except (OSError, json.JSONDecodeError):
            return bool(on_disk)
        return not on_disk <= listed

    def consolidate(self) -> None:
        """Merge every index (and unindexed shard) into ``index.json``; drop per-process
        indexes and temp files of killed writers. Call when no process is writing."""
        if not self.path.is_dir():
            return
        merged = self.shards()
        self._write_index(self.path / INDEX, merged)
        for file in self._index_files():
            if file.name != INDEX:
                file.unlink(missing_ok=True)
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

