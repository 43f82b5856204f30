"""The operators' HTTP API (FastAPI) under ``/api/v1``."""
