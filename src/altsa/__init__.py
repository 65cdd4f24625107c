"""altsa: multimodal emotion recognition in conversation (ALTSA teacher-student model)."""

__version__ = "0.1.0"
