"""Training stages: teacher, students (distillation), fusion."""
