"""Terang central server: API, MQTT ingestion, storage, scheduling and fault detection."""
