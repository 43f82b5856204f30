"""Terang central server: API, MQTT ingestion, storage, scheduling and fault detection."""

__version__ = "0.1.0"
