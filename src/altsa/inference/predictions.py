"""What the Recognizer returns for one utterance (the contract the CLI and the service share)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MODALITIES = ("text", "audio", "video")

# Why a modality did not count for an utterance: NOT_PROVIDED when the input carried nothing
# for it (no text, no clip; the same spelling the feature cache stores). Media decoding adds
# its own reasons (``altsa.data.media.Absent``: "missing_file", "unreadable", "silent", ...).
from altsa.data.schema import NOT_PROVIDED  # noqa: E402


def model_lacks(modality: str) -> str:
    """Reason for input the model cannot use (e.g. audio given to a text-only model): it is
    ignored and reported, never an error."""
    return f"model_has_no_{modality}"


@dataclass
class UtterancePrediction:
    """The emotion of one utterance and what it was based on.

    ``weights`` are the fusion's modality weights (spec: "adaptive modality weighting"):
    how much text, audio and video counted; an absent modality has weight 0 and ``absent``
    says why it was absent.
    """

    key: str  # "dialogue_id/position"
    dialogue_id: str
    position: int
    speaker: str
    text: str
    label: str
    confidence: float  # probability of ``label``
    probabilities: dict[str, float]  # every label of the model, in label-set order
    weights: dict[str, float] = field(default_factory=dict)  # "text", "audio", "video"
    absent: dict[str, str] = field(default_factory=dict)  # modality -> reason
    start: float | None = None  # seconds into the recording (``predict_recording``, or the utterance's span)
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the JSON-lines and HTTP shape); ``start``/``end`` only for
        utterances cut from a recording (or given a span of their media)."""
        out = asdict(self)
        if self.start is None and self.end is None:
            del out["start"], out["end"]
        return out
