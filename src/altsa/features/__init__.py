"""The feature cache: frozen-encoder vectors computed once, stored as safetensors shards.

See docs/features.md: ``altsa extract CONFIG`` fills it; ``load_features`` reads it.
"""

from altsa.features.cache import FeatureCache, FeatureTable, fingerprint_hash
from altsa.features.extract import cache_status, extract, input_spec, load_features, plan_items

__all__ = [
    "FeatureCache",
    "FeatureTable",
    "cache_status",
    "extract",
    "fingerprint_hash",
    "input_spec",
    "load_features",
    "plan_items",
]
