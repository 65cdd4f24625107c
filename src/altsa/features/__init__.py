"""The feature cache: frozen-encoder vectors computed once, stored as safetensors shards."""
