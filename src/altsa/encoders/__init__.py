"""Modality encoders (text teacher, audio and video students) wrapping Hugging Face models."""
