"""Distillation losses: logit-level relation loss and feature-level similarity alignment."""

from altsa.losses.contrastive import Contrast, Prototypes, supervised_contrastive_loss, with_contrast
from altsa.losses.objectives import IGNORE, DistillWeights, class_weights, classification_loss, student_loss
from altsa.losses.rdrop import rdrop_loss
from altsa.losses.relation import pearson, relation_loss
from altsa.losses.similarity import similarity_loss
from altsa.losses.teacher import TextOut, teacher_objective

__all__ = [
    "IGNORE",
    "Contrast",
    "DistillWeights",
    "Prototypes",
    "TextOut",
    "class_weights",
    "classification_loss",
    "pearson",
    "rdrop_loss",
    "relation_loss",
    "similarity_loss",
    "student_loss",
    "supervised_contrastive_loss",
    "teacher_objective",
    "with_contrast",
]
