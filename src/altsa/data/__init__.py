"""Conversation data: schema, corpus readers, text repair, media decoding."""

from altsa.data.schema import (
    EMORYNLP_EMOTION,
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
    "EMORYNLP_EMOTION",
    "LABEL_SETS",
    "MELD_EMOTION",
    "MELD_SENTIMENT",
    "Conversation",
    "Corpus",
    "LabelSet",
    "Problem",
    "Utterance",
]
