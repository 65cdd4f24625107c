"""Conversation data: schema, corpus readers, text repair, media decoding."""

from altsa.data.schema import (
    LABEL_SETS,
    MELD_EMOTION,
    MELD_SENTIMENT,
    Conversation,
    Corpus,
    LabelSet,
    Problem,
    Utterance,
)

__all__ = [
    "LABEL_SETS",
    "MELD_EMOTION",
    "MELD_SENTIMENT",
    "Conversation",
    "Corpus",
    "LabelSet",
    "Problem",
    "Utterance",
]
