"""HTTP service for live conversations (FastAPI)."""
