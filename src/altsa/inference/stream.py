"""Live conversations: one utterance at a time (spec: "What goes beyond the paper", causal mode).

Design. A causal model (``model.causal=true``: attention sees ``j <= i``, one-directional
LSTM) keeps a state per conversation: the LSTM's ``(h, c)`` and the attention's cached keys
and values (bounded by ``model.max_context`` when set). A new turn then costs:

- its own encoding: the text encoder reads the utterance alone (``text_mode: plain``) or the
  conversation so far right-truncated to the encoder's length, built from a bounded window
  of recent turns (``context``), so its cost does not grow with the conversation;
- media decoding and encoding of its own clip, if any;
- one ``model.step``: one attention row over the cached keys and one LSTM step.

So turn 50 costs what turn 1 costs, and the prediction equals batch ``predict`` on the
conversation so far (same inputs, same arithmetic up to float rounding).

A non-causal model (BiLSTM) has no such state: the label of turn ``i`` depends on later
turns. Its session caches each turn's encoder vectors (they depend only on turns ``<= i``)
and re-runs the model over the whole conversation at every turn: O(n) per turn, correct,
and the timeline is updated with the revised labels of earlier turns. ``info()`` says which.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from altsa.errors import DataError, ModelError
from altsa.inference.inputs import Turn, as_turn
from altsa.inference.predictions import UtterancePrediction
from altsa.inference.recognizer import Encoded

if TYPE_CHECKING:
    from altsa.inference.recognizer import Recognizer


class StreamSession:
    """A conversation fed one utterance at a time.

    ``add(utterance)`` takes what ``Recognizer.predict`` takes for one utterance (a dict,
    an ``Utterance`` or a string) and returns its ``UtterancePrediction``; ``timeline`` is
    every prediction so far, oldest first.
    """

    def __init__(self, recognizer: Recognizer, dialogue_id: str = "live"):
        self.rec = recognizer
        self.dialogue_id = str(dialogue_id)
        self.causal = recognizer.causal
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget the conversation (start a new one with the same recognizer)."""
        self._turns: list[Turn] = []
        self._tags: dict[str, str] = {}
        self._timeline: list[UtterancePrediction] = []
        self._encoded: list[Encoded] = []  # non-causal only: every turn's encoder vectors
        self._state: Any = None
        if self.causal:
            with torch.inference_mode():
                self._state = self.rec.model.init_state(1)

    def __len__(self) -> int:
        return len(self._turns)

    @property
    def timeline(self) -> list[UtterancePrediction]:
        return list(self._timeline)

    def add(self, utterance: Any) -> UtterancePrediction:
        with self._lock:
            turn = self._turn(utterance)
            window = self._text_window(turn)
            text_item = self.rec.text_items(window)[-1]
            enc = self.rec.encode([turn], [text_item])
            if self.causal:
                pred = self._step(turn, enc)
                self._accept(turn)
                self._timeline.append(pred)
                return pred
            self._turns.append(turn)
            self._encoded.append(enc)
            try:
                self._timeline = self._recompute()
            except BaseException:
                self._turns.pop()
                self._encoded.pop()
                raise
            self._tags.setdefault(turn.utterance.speaker, turn.utterance.speaker_tag)
            return self._timeline[-1]

    @staticmethod
    def add_many(
        items: Sequence[tuple[StreamSession, Any]], *, return_exceptions: bool = False
    ) -> list[Any]:
        """Several sessions' next turns as one batched call: ``[(session, utterance), ...]`` ->
        their ``UtterancePrediction``s, in order; each equals what ``session.add(utterance)``
        would give (up to float rounding).

        Why: a service with many live conversations pays one encoder forward pass and one
        ``model.step`` per batch instead of one per turn. Causal sessions' carried states are
        stacked into one batch (attention caches left-padded with masked, all-zero entries),
        stepped once and split back, so per-turn work stays O(1) in conversation length.
        Non-causal sessions share the batched encoding, then recompute their conversation.

        A session named twice is stepped in list order (its second turn in a later batch).
        A turn that cannot be read (bad position, nothing the model can read) fails alone: with
        ``return_exceptions`` its slot holds the exception, else the first one is raised and no
        session changes (turns of an earlier round, for a session named twice, stay recorded).
        """
        if not items:
            return []
        recs = {id(s.rec) for s, _ in items}
        if len(recs) > 1:
            raise ModelError("add_many needs sessions of one recognizer")
        results: list[Any] = [None] * len(items)
        waves: list[list[int]] = []  # wave k: the k-th turn of every session named
        seen: dict[int, int] = {}
        for i, (session, _) in enumerate(items):
            k = seen.get(id(session), 0)
            seen[id(session)] = k + 1
            if k == len(waves):
                waves.append([])
            waves[k].append(i)
        sessions = sorted({id(s): s for s, _ in items}.values(), key=id)  # one lock order: no deadlock
        for s in sessions:
            s._lock.acquire()
        try:
            for w, wave in enumerate(waves):
                errors = _add_wave(items, wave, results, atomic=not return_exceptions and w == 0)
                if errors and not return_exceptions:
                    raise errors[0]
        finally:
            for s in reversed(sessions):
                s._lock.release()
        return results

    # -- internals ----------------------------------------------------------------------------

    def _accept(self, turn: Turn) -> None:
        self._turns.append(turn)
        self._tags.setdefault(turn.utterance.speaker, turn.utterance.speaker_tag)

    def _turn(self, utterance: Any) -> Turn:
        """The next turn: the session's dialogue id, the next position (or the caller's, which
        must grow), the speaker's tag by first appearance."""
        index = len(self._turns)
        last = self._turns[-1].utterance.position if self._turns else -1
        if isinstance(utterance, dict) and "position" not in utterance:
            utterance = {**utterance, "position": last + 1}
        turn = as_turn(utterance, index=index, dialogue_id=self.dialogue_id)
        u = turn.utterance
        if self._turns and u.position <= last:
            raise DataError(f"utterance {index}: position {u.position} does not follow the last turn's {last}")
        tag = self._tags.get(u.speaker, f"s{len(self._tags) + 1}")  # recorded once the turn is in
        # a copy: the caller's Utterance keeps its own dialogue id and tag
        turn.utterance = dataclasses.replace(u, dialogue_id=self.dialogue_id, speaker_tag=tag)
        return turn

    def _text_window(self, turn: Turn) -> list[Turn]:
        """The turns the text encoder needs for ``turn``: itself alone in plain mode; in
        context mode the most recent turns whose text fits the encoder's input (bounded, so
        a turn's cost never grows with the conversation)."""
        if "text" not in self.rec.encoders or self.rec.encoder_configs["text"].text_mode == "plain":
            return [turn]
        budget = self.rec.context_chars()
        window = [turn]
        used = len(turn.utterance.text)
        for prev in reversed(self._turns):
            if used >= budget:
                break
            window.insert(0, prev)
            used += len(prev.utterance.text) + len(prev.utterance.speaker_tag) + 4
        return window

    def _step(self, turn: Turn, enc: Encoded) -> UtterancePrediction:
        dev = self.rec.device
        inputs = {m: v.to(dev) for m, v in enc.vectors.items()}  # [1, dim] each
        with torch.inference_mode():
            out, state = self.rec.model.step(
                self._state,
                text=inputs.get("text"),
                audio=inputs.get("audio"),
                video=inputs.get("video"),
                present=enc.present.to(dev),
            )
        self._state = state
        return self.rec.make_predictions([turn], out["logits"].float().cpu(), out["weights"].float().cpu(), enc.absent)[0]

    def _recompute(self) -> list[UtterancePrediction]:
        joined = Encoded(
            vectors={m: torch.cat([e.vectors[m] for e in self._encoded]) for m in self._encoded[0].vectors},
            present=torch.cat([e.present for e in self._encoded]),
            absent=[a for e in self._encoded for a in e.absent],
        )
        logits, weights = self.rec.forward_encoded(joined, [len(self._turns)])
        return self.rec.make_predictions(self._turns, logits, weights, joined.absent)


def _add_wave(items: Sequence[tuple[StreamSession, Any]], wave: list[int], results: list[Any], *, atomic: bool) -> list[BaseException]:
    """One turn for each of several distinct sessions (their locks held): build and encode the
    turns together, step the causal ones together, record. Fills ``results[i]`` with a
    prediction or the turn's exception; returns the exceptions (none recorded when ``atomic``
    and any failed)."""
    rec = items[wave[0]][0].rec
    ready: list[tuple[int, Turn, str | None]] = []
    errors: list[BaseException] = []
    for i in wave:
        session, utterance = items[i]
        try:
            turn = session._turn(utterance)
            ready.append((i, turn, rec.text_items(session._text_window(turn))[-1]))
        except DataError as e:
            results[i] = e
            errors.append(e)
    if not ready or (atomic and errors):
        return errors
    encoded = _encode_each(rec, ready, results, errors)
    if atomic and errors:
        return errors
    causal = [(i, turn, enc) for i, turn, enc in encoded if items[i][0].causal]
    if causal:
        preds = _step_many([items[i][0] for i, _, _ in causal], [t for _, t, _ in causal], [e for _, _, e in causal])
        for (i, turn, _), pred in zip(causal, preds):
            session = items[i][0]
            session._accept(turn)
            session._timeline.append(pred)
            results[i] = pred
    for i, turn, enc in encoded:
        session = items[i][0]
        if session.causal:
            continue
        session._turns.append(turn)
        session._encoded.append(enc)
        try:
            session._timeline = session._recompute()
        except BaseException as e:  # noqa: BLE001 - this turn fails alone; the session is unchanged
            session._turns.pop()
            session._encoded.pop()
            results[i] = e
            errors.append(e)
            continue
        session._tags.setdefault(turn.utterance.speaker, turn.utterance.speaker_tag)
        results[i] = session._timeline[-1]
    return errors


def _encode_each(rec: Recognizer, ready: list[tuple[int, Turn, str | None]], results: list[Any],
                 errors: list[BaseException]) -> list[tuple[int, Turn, Encoded]]:
    """Encode the turns in one batched call and split per turn; if one turn is unreadable,
    encode them one by one so that only that turn fails."""
    try:
        enc = rec.encode([t for _, t, _ in ready], [x for _, _, x in ready])
    except DataError:
        out = []
        for i, turn, text in ready:
            try:
                out.append((i, turn, rec.encode([turn], [text])))
            except DataError as e:
                results[i] = e
                errors.append(e)
        return out
    return [
        (i, turn, Encoded({m: v[j : j + 1] for m, v in enc.vectors.items()}, enc.present[j : j + 1], [enc.absent[j]]))
        for j, (i, turn, _) in enumerate(ready)
    ]


def _step_many(sessions: list[StreamSession], turns: list[Turn], encs: list[Encoded]) -> list[UtterancePrediction]:
    """One ``model.step`` for several causal sessions: stack their states, step, split back."""
    rec = sessions[0].rec
    dev = rec.device
    inputs = {m: torch.cat([e.vectors[m] for e in encs]).to(dev) for m in encs[0].vectors}  # [B, dim]
    present = torch.cat([e.present for e in encs]).to(dev)  # [B, 3]
    states = [s._state for s in sessions]
    with torch.inference_mode():
        stacked = {
            "fusion": _stack_fusion([st["fusion"] for st in states]),
            "context": _stack_context([st["context"] for st in states]),
            "turns": 0,
        }
        out, new = rec.model.step(
            stacked, text=inputs.get("text"), audio=inputs.get("audio"), video=inputs.get("video"), present=present
        )
    for b, (session, old) in enumerate(zip(sessions, states)):
        session._state = {
            "fusion": _split_fusion(new["fusion"], b, old["fusion"]),
            "context": _split_context(new["context"], b),
            "turns": old["turns"] + 1,
        }
    absent = [a for e in encs for a in e.absent]
    return rec.make_predictions(turns, out["logits"].float().cpu(), out["weights"].float().cpu(), absent)


def _stack_context(states: list[Any]) -> Any:
    """LSTM ``(h, c)`` [layers, 1, H] each -> [layers, B, H]; None (no context model) stays None."""
    if states[0] is None:
        return None
    return tuple(torch.cat([st[j] for st in states], dim=1) for j in range(len(states[0])))  # [layers, B, H]


def _split_context(state: Any, b: int) -> Any:
    if state is None:
        return None
    return tuple(x[:, b : b + 1].clone() for x in state)  # [layers, 1, H]


def _stack_fusion(states: list[Any]) -> Any:
    """Attention caches ``k``/``v`` [1, H, L_i, dh], ``ok`` [1, L_i] of different lengths ->
    [B, H, L_max, dh] left-padded with zeros whose ``ok`` is False: masked keys get exactly
    zero attention, so each row computes what its own cache would."""
    if states[0] is None:
        return None
    if not isinstance(states[0], dict) or set(states[0]) != {"k", "v", "ok"}:
        raise ModelError(f"cannot batch a fusion state of type {type(states[0]).__name__}")
    longest = max(st["ok"].shape[1] for st in states)
    k0 = states[0]["k"]
    k = k0.new_zeros(len(states), k0.shape[1], longest, k0.shape[3])  # [B, H, L_max, dh]
    v = torch.zeros_like(k)
    ok = torch.zeros(len(states), longest, dtype=torch.bool, device=k0.device)  # [B, L_max]
    for b, st in enumerate(states):
        n = st["ok"].shape[1]
        if n:
            k[b, :, longest - n :] = st["k"][0]
            v[b, :, longest - n :] = st["v"][0]
            ok[b, longest - n :] = st["ok"][0]
    return {"k": k, "v": v, "ok": ok}


def _split_fusion(state: Any, b: int, old: Any) -> Any:
    """Row ``b`` of the stepped caches, without its padding: its own entries plus the new one,
    capped like the model caps them (``max_context``)."""
    if state is None:
        return None
    n = old["ok"].shape[1] + 1
    n = min(n, state["ok"].shape[1])  # the window (max_context) already cut the oldest entries
    return {
        "k": state["k"][b : b + 1, :, -n:].clone(),  # [1, H, n, dh]
        "v": state["v"][b : b + 1, :, -n:].clone(),
        "ok": state["ok"][b : b + 1, -n:].clone(),  # [1, n]
    }
