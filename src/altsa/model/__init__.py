"""ALTSA modules: student projections, cross-modal attention, adaptive weighting, context model."""

from altsa.model.altsa import MODALITIES, OUTPUT_KEYS, ALTSAModel, build_model
from altsa.model.config import ModelConfig
from altsa.model.context import CONTEXTS
from altsa.model.fusion import FUSIONS

__all__ = ["CONTEXTS", "FUSIONS", "MODALITIES", "OUTPUT_KEYS", "ALTSAModel", "ModelConfig", "build_model"]
