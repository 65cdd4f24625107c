"""Model hyperparameters (spec: ALTSA.md, "Architecture"). Every open choice is a field here.

Defaults follow the spec where it fixes a value; where it is silent, the field's comment
says what we chose and why (docs/training.md lists every choice with its measurement).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelConfig:
    d: int = 256  # shared latent size: every modality is projected to d (spec 1, 2: "projected to d")
    fusion: str = "altsa"  # FUSIONS registry name: altsa | telme-shift | concat
    context: str = "bilstm"  # CONTEXTS registry name: bilstm | lstm | none
    causal: bool = False  # live mode: attention sees j <= i, bilstm becomes a one-directional LSTM
    heads: int = 4  # cross-modal attention heads (spec 3; count not given: 4 divides every d we use)
    dropout: float = 0.1  # on projections, attention output, fused vectors and the classifier input
    modality_dropout: float = 0.0  # training: drop each listed modality per utterance with this probability
    modality_dropout_on: list[str] = field(default_factory=lambda: ["audio", "video"])  # which ones may drop
    modalities: list[str] | None = None  # modalities the fused prediction uses (None: all with features)
    projection: str = "linear"  # modality -> d: "linear" (spec) or "mlp" (Linear-GELU-Linear)
    input_dropout: float = 0.0  # dropout on the raw encoder vectors before projection
    input_norm: str = "none"  # "layernorm": normalise each raw encoder vector before projecting
    attention_keys: str = "av"  # keys from [a_j ; v_j] (spec) or "tav": [t_j ; a_j ; v_j] (text-only data)
    max_context: int | None = None  # attention window: utterance i sees at most this many turns
    gate: str = "linear"  # weighting gate over [c ; a ; v]: "linear" or "mlp"
    context_hidden: int | None = None  # LSTM hidden size per direction (None: d for lstm, d/2 for bilstm)
    context_layers: int = 1  # stacked LSTM layers
    telme_beta: float = 1.0  # telme-shift: bound on the shift's norm relative to the text vector
