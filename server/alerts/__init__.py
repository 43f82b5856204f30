"""Maintenance alerts: lifecycle, crews, history and notifications (docs/faults.md)."""
