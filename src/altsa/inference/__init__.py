"""Inference: the Recognizer API over trained runs and bundled models."""
