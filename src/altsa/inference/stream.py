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
from typing import TYPE_CHECKING, Any

import torch

from altsa.errors import DataError
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
