"""The Recognizer: a trained run (or a bundled model) ready to label conversations.

    rec = Recognizer.from_pretrained("meld-text-minilm")          # or a run directory
    rec.predict([{"speaker": "Ann", "text": "We won!"}, ...])     # -> [UtterancePrediction]
    live = rec.stream(); live.add({"speaker": "Ann", "text": "Hi"})

It owns the encoders of the run (built from the run's resolved config), decodes media,
encodes every modality in batches, runs the ALTSA model and turns its outputs into
``UtterancePrediction`` objects. Modalities the model does not have are ignored and
reported (``absent``), never an error (spec: "What goes beyond the paper": one model
answers with any subset of its modalities).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from altsa.data.schema import LabelSet, is_blank
from altsa.errors import ConfigError, DataError, ModelError
from altsa.inference.inputs import Turn, as_turns
from altsa.inference.predictions import MODALITIES, NOT_PROVIDED, UtterancePrediction, model_lacks


@dataclass
class Encoded:
    """Model inputs for a list of turns: per modality ``[n, dim]`` (zeros where absent)."""

    vectors: dict[str, torch.Tensor]  # modality -> [n, dim], only the model's modalities
    present: torch.Tensor  # [n, 3] bool (text, audio, video)
    absent: list[dict[str, str]]  # per turn: modality -> reason


class Recognizer:
    """Emotion recognition for conversations, from a trained run.

    Args:
        run: a loaded run (``altsa.training.load_run``): config, labels, model, encoders config.
        device: "cpu", "cuda", "cuda:1", ...
        batch_size: utterances per encoder call and dialogues per model call.
    """

    def __init__(self, run: Any, *, device: str | torch.device = "cpu", batch_size: int = 32):
        from altsa.encoders import build_encoder

        from altsa.devices import resolve_device

        self.run = run
        self.device = resolve_device(device)
        self.batch_size = max(1, int(batch_size))
        self.model = run.model.to(self.device).eval()
        self._labels: LabelSet = run.labels
        self._modalities = [m for m in MODALITIES if m in self.model.use]
        self.encoder_configs = {m: run.encoders[m] for m in self._modalities}
        self.encoders = {m: build_encoder(cfg, device=self.device) for m, cfg in self.encoder_configs.items()}
        for encoder in self.encoders.values():  # load weights now, not inside the first prediction
            getattr(encoder, "module", None)
        # HF fast tokenizers are not safe to call from several threads at once (the service
        # runs predictions in a thread pool); one lock per recognizer serialises encoder calls.
        self._lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        run_or_name: str | Path,
        device: str | torch.device = "cpu",
        *,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> Recognizer:
        """Load a run directory or a bundled model by name (``altsa.inference.list_bundled()``).

        ``threads`` sets torch's intra-op threads (process-wide). For batch-1 latency on a
        small CPU, 1 avoids thread hand-offs that dominate tiny matrix products.
        """
        from altsa.training.run import load_run

        from altsa.devices import resolve_device

        if not isinstance(run_or_name, (str, os.PathLike)):
            raise ModelError(f"from_pretrained expects a bundled model name or a run directory, not "
                             f"{type(run_or_name).__name__}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"threads must be a whole number of at least 1, not {threads!r}")

        device = resolve_device(device)  # before loading: a wrong device costs no load time
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        return cls(load_run(run_or_name), device=device, batch_size=batch_size)

    # -- what the model is --------------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        return list(self._labels.labels)

    @property
    def modalities(self) -> list[str]:
        """Modalities the model uses (a subset of text, audio, video)."""
        return list(self._modalities)

    @property
    def causal(self) -> bool:
        return bool(self.model.cfg.causal) and getattr(self.model.context, "causal", False)

    @property
    def name(self) -> str:
        return str(getattr(self.run, "name", None) or Path(str(self.run.path)).name)

    def info(self) -> dict[str, Any]:
        """What the model is, for ``GET /v1/model`` and ``altsa predict --info``."""
        from altsa import __version__

        cfg = self.model.cfg
        return {
            "name": self.name,
            "labels": self.labels,
            "task": getattr(self.run.config.data, "task", None),
            "modalities": self.modalities,
            "encoders": {
                m: {"kind": c.kind, "model": c.model, "text_mode": c.text_mode} if m == "text"
                else {"kind": c.kind, "model": c.model}
                for m, c in self.encoder_configs.items()
            },
            "fusion": cfg.fusion,
            "context": cfg.context,
            "causal": self.causal,
            "streaming": (
                "O(1) per turn (causal: carried LSTM state and cached attention keys/values)"
                if self.causal
                else "O(n) per turn (non-causal: each turn recomputes the conversation so far)"
            ),
            "device": str(self.device),
            "version": __version__,
        }

    # -- prediction -----------------------------------------------------------------------------------

    def predict(self, conversation: Any) -> list[UtterancePrediction]:
        """Labels for every utterance of one conversation (a ``Conversation``, a list of
        utterance dicts/``Utterance``s/strings, or ``{"dialogue_id", "utterances"}``)."""
        return self.predict_batch([conversation])[0]

    def predict_batch(self, conversations: Sequence[Any]) -> list[list[UtterancePrediction]]:
        """Several conversations, batched: encoders see up to ``batch_size`` utterances per
        call, the model up to ``batch_size`` dialogues per call."""
        dialogues = [as_turns(c) for c in _sequence(conversations, "predict_batch", "a list of conversations")]
        results: list[list[UtterancePrediction]] = []
        for start in range(0, len(dialogues), self.batch_size):
            chunk = dialogues[start : start + self.batch_size]
            results.extend(self._predict_chunk(chunk))
        return results

    def predict_corpus(self, corpus_or_conversations: Any) -> list[UtterancePrediction]:
        """Every utterance of a ``Corpus`` (or list of conversations), flattened in order."""
        convs = getattr(corpus_or_conversations, "conversations", corpus_or_conversations)
        convs = _sequence(convs, "predict_corpus", "a Corpus or a list of conversations")
        return [p for preds in self.predict_batch(convs) for p in preds]

    def predict_recording(
        self, source: Any, config: Any = None, *, return_transcript: bool = False
    ) -> Any:
        """Labels for every utterance of a raw recording (a path or the file's bytes: wav,
        mp3, flac, mp4, mkv, webm, ...): transcribed, cut into utterances and speakers
        (``altsa.recordings``), then labelled from their text, audio and (for a video file)
        frames. Predictions carry ``start``/``end`` in seconds; no speech gives ``[]``.

        ``config``: an ``altsa.recordings.RecordingConfig`` (speakers, limits, ASR model).
        ``return_transcript``: also return the ``Transcript`` (words, notices, timings).
        """
        from altsa.recordings import transcribe_recording

        transcript = transcribe_recording(source, config)
        predictions = self.predict_transcript(transcript)
        return (predictions, transcript) if return_transcript else predictions

    def predict_transcript(self, transcript: Any) -> list[UtterancePrediction]:
        """Labels for a ``Transcript`` (``altsa.recordings.transcribe_recording``) with
        ``start``/``end`` set; the video frames are decoded only when the model reads video."""
        if not transcript.utterances:
            return []
        video = self.encoder_configs["video"].media if "video" in self._modalities else None
        items = transcript.items(video=video)
        predictions = self.predict({"dialogue_id": transcript.conversation.dialogue_id, "utterances": items})
        for i, pred in enumerate(predictions):
            pred.start, pred.end = transcript.span(i)
            if video is None and transcript.info.video and pred.absent.get("video") == NOT_PROVIDED:
                pred.absent["video"] = model_lacks("video")  # the file has frames; this model reads none
        return predictions

    def stream(self, dialogue_id: str = "live") -> Any:
        """A live session: ``add(utterance)`` returns that utterance's prediction."""
        from altsa.inference.stream import StreamSession

        return StreamSession(self, dialogue_id=dialogue_id)

    def add_many(self, items: Sequence[tuple[Any, Any]], *, return_exceptions: bool = False) -> list[Any]:
        """Next turns of several live sessions of this recognizer in one batched call:
        ``[(session, utterance), ...]`` -> ``[UtterancePrediction]``, each equal to
        ``session.add(utterance)``. One encoder pass for all texts, one ``model.step`` for all
        causal sessions (see ``StreamSession.add_many``)."""
        from altsa.inference.stream import StreamSession

        items = _sequence(items, "add_many", "a list of (session, utterance) pairs")
        if not all(isinstance(it, (tuple, list)) and len(it) == 2 and isinstance(it[0], StreamSession) for it in items):
            raise DataError("add_many expects a list of (session, utterance) pairs, sessions from stream()")
        if any(s.rec is not self for s, _ in items):
            raise ModelError("add_many: every session must come from this recognizer's stream()")
        return StreamSession.add_many(items, return_exceptions=return_exceptions)

    # -- internals ------------------------------------------------------------------------------------

    def _predict_chunk(self, dialogues: list[list[Turn]]) -> list[list[UtterancePrediction]]:
        text_items: list[str | None] = []
        for turns in dialogues:
            text_items.extend(self.text_items(turns))
        flat = [t for turns in dialogues for t in turns]
        enc = self.encode(flat, text_items)
        lengths = [len(turns) for turns in dialogues]
        logits, weights = self.forward_encoded(enc, lengths)
        preds = self.make_predictions(flat, logits, weights, enc.absent)
        out, i = [], 0
        for n in lengths:
            out.append(preds[i : i + n])
            i += n
        return out

    def text_items(self, turns: Sequence[Turn]) -> list[str | None]:
        """The text encoder's input for every turn (None where the text is empty): the
        utterance alone (``plain``) or the speaker-tagged conversation so far (``context``),
        built by the encoder itself so inference reads exactly what training read."""
        encoder = self.encoders.get("text")
        if encoder is None:
            return [None] * len(turns)
        # ``turns`` are sorted and speaker-tagged already (a Conversation would re-tag a
        # streaming window), and the builder only iterates, so a plain list serves.
        utterances = [t.utterance for t in turns]
        if hasattr(encoder, "build_inputs"):
            items = encoder.build_inputs(utterances)
        else:
            from altsa.encoders import text_inputs

            items = text_inputs(utterances, mode=self.encoder_configs["text"].text_mode)  # type: ignore[arg-type]
        return [None if is_blank(t.utterance.text) else item for item, t in zip(items, turns)]

    def context_chars(self) -> int:
        """Characters of history a context-mode text input can use: ``max_chars`` when set,
        else a generous bound for ``max_length`` tokens (a token spans at most a few dozen
        characters), so a streaming window of this many characters reads what the whole
        history would."""
        enc = self.encoders.get("text")
        max_chars = getattr(enc, "options", {}).get("max_chars") if enc is not None else None
        if max_chars:
            return int(max_chars)
        return 32 * int(self.encoder_configs["text"].max_length)

    def encode(self, turns: Sequence[Turn], text_items: Sequence[str | None]) -> Encoded:
        """Decode media and run every encoder of the model over ``turns``."""
        from altsa.data.media import Absent, decode_audio, decode_video

        n = len(turns)
        present = torch.zeros(n, 3, dtype=torch.bool)
        absent: list[dict[str, str]] = [{} for _ in range(n)]
        items: dict[str, list[Any]] = {m: [None] * n for m in self._modalities}
        for i, turn in enumerate(turns):
            sources = {"text": text_items[i], "audio": turn.audio, "video": turn.video}
            for k, m in enumerate(MODALITIES):
                src = sources[m]
                if m not in self._modalities:
                    given = src is not None if m != "text" else not is_blank(turn.utterance.text)
                    absent[i][m] = model_lacks(m) if given else NOT_PROVIDED
                    continue
                if src is None:  # no transcript / no clip: the same reason the feature cache stores
                    absent[i][m] = NOT_PROVIDED
                    continue
                if m != "text":
                    decode = decode_audio if m == "audio" else decode_video
                    src = decode(src, self.encoder_configs[m].media, span=turn.span)
                    if isinstance(src, Absent):
                        absent[i][m] = src.reason
                        continue
                items[m][i] = src
                present[i, k] = True
            if not present[i].any():
                u = turn.utterance
                why = ", ".join(f"{m}: {r}" for m, r in absent[i].items())
                raise DataError(f"utterance {u.key} ({u.speaker}): nothing the model can read ({why})")
        vectors = {}
        for m in self._modalities:
            idx = [i for i in range(n) if items[m][i] is not None]
            out = torch.zeros(n, self.encoders[m].dim)
            for s in range(0, len(idx), self.batch_size):
                part = idx[s : s + self.batch_size]
                out[part] = self._run_encoder(m, [items[m][i] for i in part])
            vectors[m] = out
        return Encoded(vectors, present, absent)

    def _run_encoder(self, modality: str, items: list[Any]) -> torch.Tensor:
        """``encoder.encode(items)`` -> [n, dim] float32 on the CPU. One text (the streaming
        path) goes straight through tokenize + forward: the same arithmetic as ``encode``
        without its per-call bookkeeping (sorting, train/eval toggling), which is a visible
        share of a few-millisecond call."""
        encoder = self.encoders[modality]
        with self._lock:  # a HF fast tokenizer fails when two threads call it at once; loading is once
            module = getattr(encoder, "module", None)
            fast = module is not None and not module.training and hasattr(encoder, "tokenize")
            if not fast or len(items) > self.batch_size:
                with torch.inference_mode():
                    return encoder.encode(items).float().cpu()  # toggles train/eval: stays locked
            batch = encoder.tokenize(items)
        # The forward pass runs unlocked: a server with several inference threads (one torch
        # thread each) then encodes two micro-batches on two cores at once.
        with torch.inference_mode():
            if len(items) == 1:
                return encoder.forward(batch).float().cpu()
            if getattr(encoder, "packable", False):
                return _encode_packed(encoder, batch)
            return _encode_length_groups(encoder, batch)

    def forward_encoded(self, enc: Encoded, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad the flat turns into ``[dialogues, turns, dim]`` and run the model."""
        b, n_max = len(lengths), max(lengths)
        mask = torch.zeros(b, n_max, dtype=torch.bool)
        index = torch.zeros(b, n_max, dtype=torch.long)
        flat_pos = []
        start = 0
        for d, n in enumerate(lengths):
            mask[d, :n] = True
            index[d, :n] = torch.arange(start, start + n)
            flat_pos.append((d, n))
            start += n
        inputs = {}
        for m, vec in enc.vectors.items():
            inputs[m] = vec[index].to(self.device) * mask.unsqueeze(-1).to(self.device)  # [B, N, dim]
        present = enc.present[index] & mask.unsqueeze(-1)  # [B, N, 3]
        with torch.inference_mode():
            out = self.model(
                text=inputs.get("text"),
                audio=inputs.get("audio"),
                video=inputs.get("video"),
                present=present.to(self.device),
                mask=mask.to(self.device),
            )
        logits = out["logits"][mask.to(self.device)].float().cpu()  # [n, C], flat order
        weights = out["weights"][mask.to(self.device)].float().cpu()  # [n, 3]
        return logits, weights

    def make_predictions(
        self,
        turns: Sequence[Turn],
        logits: torch.Tensor,
        weights: torch.Tensor,
        absent: Sequence[dict[str, str]],
    ) -> list[UtterancePrediction]:
        """Model outputs for ``turns`` (logits [n, C], weights [n, 3]) -> predictions."""
        if logits.shape[-1] != len(self._labels):
            raise ModelError(f"model gives {logits.shape[-1]} classes but has {len(self._labels)} labels")
        probs = torch.softmax(logits.float(), dim=-1).tolist()
        weights_l = weights.tolist()
        labels = self.labels
        preds = []
        for turn, p, w, ab in zip(turns, probs, weights_l, absent):
            u = turn.utterance
            best = max(range(len(p)), key=p.__getitem__)
            preds.append(
                UtterancePrediction(
                    key=u.key,
                    dialogue_id=u.dialogue_id,
                    position=u.position,
                    speaker=u.speaker,
                    text=u.text,
                    label=labels[best],
                    confidence=p[best],
                    probabilities=dict(zip(labels, p)),
                    weights=dict(zip(MODALITIES, w)),
                    absent=dict(ab),
                    start=u.start,  # an utterance of a longer recording: where it lies
                    end=u.end,
                )
            )
        return preds


# Most tokens one packed pass holds: its attention is computed over the whole row (masked
# block-diagonally), so it grows with the square of this; at 256 it is a few percent of the
# pass on MiniLM. A server micro-batch of 8 live turns packs ~110 MELD tokens.
_PACK_TOKENS = 256


def _encode_packed(encoder: Any, batch: Any) -> torch.Tensor:
    """Several texts as one unpadded row per ``_PACK_TOKENS`` (``encoder.forward_packed``):
    the weights stream once per row and no padding is computed (``forward_packed`` reads only
    the attended tokens, so the rows need no trimming). ``batch``: ``encoder.tokenize(texts)``."""
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    out = torch.zeros(len(lengths), encoder.dim)
    start = 0
    while start < len(lengths):
        stop, total = start + 1, lengths[start]
        while stop < len(lengths) and total + lengths[stop] <= _PACK_TOKENS:
            total += lengths[stop]
            stop += 1
        sub = {k: v[start:stop] for k, v in batch.items() if torch.is_tensor(v) and v.dim() == 2}
        out[start:stop] = encoder.forward_packed(sub).float().cpu()
        start = stop
    return out


# Fixed cost of one text-encoder call, in padded tokens: measured on the bundled MiniLM at one
# torch thread (a 4-token call ~14 ms, ~0.35 ms per extra padded token in a batch). Only the
# grouping depends on it, never the result.
_CALL_COST_TOKENS = 32


def _encode_length_groups(encoder: Any, batch: Any) -> torch.Tensor:
    """Several texts in as few padded tokens as pays: tokenize once, sort by length, split
    into contiguous groups minimising ``calls x _CALL_COST_TOKENS + padded tokens`` (dynamic
    programming), run one forward pass per group. Why: one padded batch of short and long
    turns (the server's micro-batches) spends most of its time on padding. Each group is
    exactly what tokenizing it alone gives (its rows, cut to its longest), so the vectors
    equal one-by-one encoding up to float rounding. ``batch``: ``encoder.tokenize(texts)``."""
    mask = batch["attention_mask"]  # [n, L]
    lengths = mask.sum(dim=1).tolist()
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j (sorted) texts
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            cost = best[i] + _CALL_COST_TOKENS + (j - i) * lengths[order[j - 1]]
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    left = getattr(encoder.tokenizer, "padding_side", "right") == "left"
    out = torch.zeros(n, encoder.dim)
    for idx in groups:
        longest = max(lengths[i] for i in idx)
        cols = slice(mask.shape[1] - longest, None) if left else slice(0, longest)
        rows = torch.tensor(idx)
        sub = {k: v[rows][:, cols] for k, v in batch.items() if torch.is_tensor(v) and v.dim() == 2}  # [g, longest]
        out[rows] = encoder.forward(sub).float().cpu()
    return out


def _sequence(value: Any, where: str, what: str) -> list[Any]:
    """``value`` as a list, or a ``DataError`` saying what ``where`` takes (strings and
    mappings are one item, not a sequence of them)."""
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
        raise DataError(f"{where} expects {what}, not {type(value).__name__}")
    return list(value)
