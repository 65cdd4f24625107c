"""Distillation losses: logit-level relation loss and feature-level similarity alignment."""
