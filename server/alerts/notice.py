"""The JSON document of one alert history event: sent to webhooks and on MQTT (with the texts), and
on the SSE stream (without them). Pure."""

from __future__ import annotations

from typing import Any

from server.alerts import texts
from server.alerts.facts import AlertFacts, EventFacts


def _named(ident: str | None, name: str | None) -> dict[str, Any] | None:
    return None if ident is None else {"id": ident, "name": name}


def event_document(event: EventFacts, alert: AlertFacts) -> dict[str, Any]:
    place = alert.place
    location = None
    if place.lat is not None and place.lon is not None:
        location = {"lat": place.lat, "lon": place.lon, "map_url": texts.map_url(place.lat, place.lon)}
    return {
        "event_id": event.event_id,
        "alert_id": alert.alert_id,
        "action": event.action,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note,
        "site": {"id": alert.site_id, "name": alert.site_name},
        "fault_type": alert.fault_type,
        "severity": alert.severity,
        "status": alert.status,
        "crew_id": alert.crew_id,
        "suppressed": alert.suppressed,
        "escalation_level": alert.escalation_level,
        "detected_at": alert.detected_at.isoformat(),
        "subject": {"type": place.subject_type, "id": place.subject_id, "name": place.name},
        "lamp": _named(place.subject_id, place.name) if place.subject_type == "lamp" else None,
        "cabinet": _named(place.cabinet_id, place.cabinet_name),
        "gateway": _named(place.subject_id, place.name) if place.subject_type == "gateway" else None,
        "district": _named(place.district_id, place.district_name),
        "location": location,
    }


def notification(event: EventFacts, alert: AlertFacts, language: str | None) -> dict[str, Any]:
    """What a subscriber receives: the event's document and its texts in the subscriber's language."""
    lang = texts.language_or_default(language)
    text = texts.render(alert, event, lang)
    return {**event_document(event, alert), "text": {"language": lang, "subject": text.subject, "body": text.body}}
