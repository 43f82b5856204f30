"""What a notification or a stream frame says about one alert history event, gathered once.

Plain values with no I/O: ``details.py`` loads them, ``texts.py`` and ``notice.py`` turn them into
words and JSON.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    """The failed thing (a lamp, a cabinet or a gateway) and where it stands."""

    subject_type: str
    subject_id: str
    name: str | None
    district_id: str | None = None
    district_name: str | None = None
    cabinet_id: str | None = None
    cabinet_name: str | None = None
    lat: float | None = None
    lon: float | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.subject_id})" if self.name else self.subject_id


@dataclass(frozen=True)
class AlertFacts:
    alert_id: int
    site_id: str
    site_name: str
    timezone: str
    fault_type: str
    severity: str
    status: str
    crew_id: str | None
    suppressed: bool
    escalation_level: int
    detected_at: dt.datetime
    place: Place


@dataclass(frozen=True)
class EventFacts:
    event_id: int
    alert_id: int
    action: str
    at: dt.datetime
    actor: str
    from_status: str | None = None
    to_status: str | None = None
    note: str | None = None
