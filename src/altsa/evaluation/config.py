"""The ``metrics`` section of an experiment: the figure of record for its corpus.

Corpora are compared by different figures: MELD and IEMOCAP by weighted F1, speech emotion
corpora by UAR, DailyDialog by micro F1 without ``neutral``. A config names its corpus's
figure once, and every stage keeps its best epoch by it while ``altsa evaluate`` reports it
beside the others::

    metrics:
      select_on: micro_f1            # weighted_f1 (default), macro_f1, accuracy, uar, micro_f1
      micro_f1_excludes: [neutral]   # labels left out of micro F1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from altsa.errors import ConfigError
from altsa.evaluation.metrics import SELECTABLE, Selection, excluded, selection


@dataclass
class MetricsConfig:
    select_on: str = "weighted_f1"  # the dev figure each stage keeps its best epoch by (SELECTABLE)
    micro_f1_excludes: list[str] = field(default_factory=list)  # labels left out of micro F1 (DailyDialog: neutral)

    def selection(self, labels: Sequence[str]) -> Selection:
        """The checked ``Selection`` for a label set; ``ConfigError`` names the key at fault."""
        try:
            return selection(self.select_on, labels, self.micro_f1_excludes)
        except ValueError as err:
            raise ConfigError(f"metrics.{err}") from None

    def excludes(self, labels: Sequence[str]) -> list[str]:
        """``micro_f1_excludes`` spelled as the label set spells them, checked."""
        try:
            return [labels[k] for k in excluded(labels, self.micro_f1_excludes)]
        except ValueError as err:
            raise ConfigError(f"metrics.{err}") from None


__all__ = ["SELECTABLE", "MetricsConfig"]
