"""The alert lifecycle: open -> acknowledged -> in progress -> resolved -> closed.

Crews move alerts along by hand; the fault engine resolves an alert whose condition cleared and
re-opens a resolved one whose condition came back. Anything else is an invalid transition (409).
"""

from __future__ import annotations

from typing import Literal

Status = Literal["open", "acknowledged", "in_progress", "resolved", "closed"]
STATUSES: tuple[Status, ...] = ("open", "acknowledged", "in_progress", "resolved", "closed")
LIVE: tuple[Status, ...] = ("open", "acknowledged", "in_progress")

# (from, to) -> the history action recorded.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("open", "acknowledged"): "acknowledged",
    ("open", "in_progress"): "started",  # acknowledging by starting work is fine
    ("open", "resolved"): "resolved",
    ("acknowledged", "in_progress"): "started",
    ("acknowledged", "resolved"): "resolved",
    ("in_progress", "resolved"): "resolved",
    ("resolved", "closed"): "closed",
    ("resolved", "open"): "reopened",  # the fix did not hold
}


def action_for(current: str, wanted: str) -> str | None:
    """The history action of moving from ``current`` to ``wanted``, or None when not allowed."""
    return TRANSITIONS.get((current, wanted))


def allowed_from(current: str) -> list[str]:
    return [to for (frm, to) in TRANSITIONS if frm == current]
