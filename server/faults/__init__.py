"""Fault detection: vectorised detectors over every lamp, outage correlation, the engine that turns
conditions into alerts (docs/faults.md)."""
