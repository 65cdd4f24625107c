"""Training stages: teacher, students (distillation), fusion.

``load_run`` / ``resolve_run`` / ``TrainedRun`` are what inference needs; ``train`` and
``resume`` (in ``altsa.training.pipeline``) are what ``altsa train`` runs.
"""

from altsa.training.run import TrainedRun, load_run, resolve_run

__all__ = ["TrainedRun", "load_run", "resolve_run"]
