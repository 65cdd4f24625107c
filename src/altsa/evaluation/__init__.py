"""Metrics and reports: weighted F1 (headline), macro F1, accuracy, per-class F1, confusion."""
