"""Faults and maintenance alerts: detection, lifecycle, notifications (docs/faults.md)."""
