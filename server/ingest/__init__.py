"""MQTT ingestion: validate, batch, COPY, de-duplicate, acknowledge with per-lamp watermarks."""
