"""Loads alert history events with what a message says about them: the alert, its site, and the
failed lamp, cabinet or gateway with its district, cabinet and coordinates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from server.alerts.facts import AlertFacts, EventFacts, Place

# The subject's own row gives its name and position; district and cabinet come from the alert when
# the fault engine recorded them, else from the subject.
_QUERY = """
SELECT e.id AS event_id, e.alert_id, e.action, e.at, e.actor, e.from_status, e.to_status, e.note,
       a.site_id, s.name AS site_name, s.timezone, a.fault_type, a.severity, a.status, a.crew_id,
       a.suppressed_by IS NOT NULL AS suppressed, a.escalation_level, a.detected_at,
       a.subject_type, a.subject_id,
       COALESCE(l.name, c.name, g.name) AS subject_name,
       d.id AS district_id, d.name AS district_name,
       cab.id AS cabinet_id, cab.name AS cabinet_name,
       COALESCE(l.lat, c.lat, g.lat) AS lat, COALESCE(l.lon, c.lon, g.lon) AS lon
FROM alert_events e
JOIN alerts a ON a.id = e.alert_id
JOIN sites s ON s.id = a.site_id
LEFT JOIN lamps l ON a.subject_type = 'lamp' AND l.id = a.subject_id
LEFT JOIN cabinets c ON a.subject_type = 'cabinet' AND c.id = a.subject_id
LEFT JOIN gateways g ON a.subject_type = 'gateway' AND g.id = a.subject_id
LEFT JOIN districts d ON d.id = COALESCE(a.district_id, l.district_id, c.district_id, g.district_id)
LEFT JOIN cabinets cab ON cab.id = COALESCE(a.cabinet_id, l.cabinet_id, c.id)
WHERE e.id = ANY(%s)
ORDER BY e.id
"""


def _facts(row: dict[str, Any]) -> tuple[EventFacts, AlertFacts]:
    place = Place(subject_type=row["subject_type"], subject_id=row["subject_id"], name=row["subject_name"],
                  district_id=row["district_id"], district_name=row["district_name"],
                  cabinet_id=row["cabinet_id"], cabinet_name=row["cabinet_name"], lat=row["lat"], lon=row["lon"])
    alert = AlertFacts(alert_id=row["alert_id"], site_id=row["site_id"], site_name=row["site_name"],
                       timezone=row["timezone"], fault_type=row["fault_type"], severity=row["severity"],
                       status=row["status"], crew_id=row["crew_id"], suppressed=row["suppressed"],
                       escalation_level=row["escalation_level"], detected_at=row["detected_at"], place=place)
    event = EventFacts(event_id=row["event_id"], alert_id=row["alert_id"], action=row["action"], at=row["at"],
                       actor=row["actor"], from_status=row["from_status"], to_status=row["to_status"],
                       note=row["note"])
    return event, alert


async def load(conn: psycopg.AsyncConnection[Any], *, event_ids: Sequence[int]) -> list[tuple[EventFacts, AlertFacts]]:
    """The events that exist among ``event_ids``, in id order."""
    if not event_ids:
        return []
    cur = await conn.cursor(row_factory=dict_row).execute(_QUERY, (list(event_ids),))
    return [_facts(row) for row in await cur.fetchall()]
