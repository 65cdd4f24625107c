"""ALTSA modules: student projections, cross-modal attention, adaptive weighting, context model."""
