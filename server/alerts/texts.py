"""Notification texts in Bahasa Indonesia and English: a subject line and a plain-text body.

Pure: facts in, words out. A crew in the field reads these on a phone, so the body leads with what
failed and where (name, district, cabinet, coordinates and a map link) before anything else. An
unknown fault type or action gets a generic wording, never an error: the fault engine may learn new
faults before this file does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.alerts.facts import AlertFacts, EventFacts, Place

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"

# Title and one-sentence explanation per fault type.
_FAULTS: dict[str, dict[str, tuple[str, str]]] = {
    "lamp_failure": {
        "id": ("Lampu mati", "Lampu tidak menyala padahal jadwal memintanya menyala."),
        "en": ("Lamp failure", "The lamp is not lit although its schedule has it on."),
    },
    "day_burner": {
        "id": ("Lampu menyala siang hari", "Lampu tetap menyala pada siang hari dan memboroskan energi."),
        "en": ("Day burner", "The lamp stays on in daylight and wastes energy."),
    },
    "cycling": {
        "id": ("Lampu berkedip", "Lampu berulang kali mati dan menyala sendiri."),
        "en": ("Cycling", "The lamp keeps switching itself off and on."),
    },
    "power_anomaly": {
        "id": ("Daya tidak wajar", "Daya lampu tidak sesuai dengan tingkat peredupan yang diperintahkan."),
        "en": ("Power anomaly", "The lamp's power does not match its commanded dimming level."),
    },
    "over_voltage": {
        "id": ("Tegangan lebih", "Tegangan listrik di atas batas aman."),
        "en": ("Over-voltage", "The supply voltage is above the safe limit."),
    },
    "under_voltage": {
        "id": ("Tegangan kurang", "Tegangan listrik di bawah batas aman."),
        "en": ("Under-voltage", "The supply voltage is below the safe limit."),
    },
    "low_power_factor": {
        "id": ("Faktor daya rendah", "Faktor daya lampu rendah; driver mungkin rusak."),
        "en": ("Low power factor", "The lamp's power factor is low; its driver may be failing."),
    },
    "energy_anomaly": {
        "id": ("Meter energi tidak wajar", "Penghitung energi mundur atau melonjak."),
        "en": ("Energy counter anomaly", "The energy counter went backwards or jumped."),
    },
    "comm_loss": {
        "id": ("Hilang komunikasi", "Tidak ada laporan dari perangkat dalam selang waktu yang diharapkan."),
        "en": ("Communication loss", "No report has come from the device within its expected interval."),
    },
    "cabinet_outage": {
        "id": ("Panel padam", "Lampu-lampu pada panel ini diam atau tanpa daya: kemungkinan pasokan listrik putus."),
        "en": ("Cabinet power outage", "The cabinet's lamps are silent or at zero power: the supply is likely cut."),
    },
    "gateway_down": {
        "id": ("Gateway mati", "Gateway LoRa tidak melapor; lampu-lampu yang dilayaninya tidak terpantau."),
        "en": ("Gateway down", "The LoRa gateway does not report; the lamps it serves are not monitored."),
    },
    "device_fault": {
        "id": ("Kerusakan perangkat", "Pengendali lampu melaporkan kerusakan perangkat keras."),
        "en": ("Device fault", "The lamp controller reported a hardware fault."),
    },
}
FAULT_TYPES = tuple(_FAULTS)

_GENERIC: dict[str, tuple[str, str]] = {
    "id": ("Gangguan ({fault_type})", "Terdeteksi gangguan jenis {fault_type}."),
    "en": ("Fault ({fault_type})", "A fault of type {fault_type} was detected."),
}

# Every alert_events action; "opened" adds nothing to a subject line, so it has no prefix there.
_ACTIONS: dict[str, dict[str, str]] = {
    "opened": {"id": "Baru", "en": "New"},
    "acknowledged": {"id": "Diterima", "en": "Acknowledged"},
    "started": {"id": "Sedang dikerjakan", "en": "Work started"},
    "resolved": {"id": "Selesai", "en": "Resolved"},
    "closed": {"id": "Ditutup", "en": "Closed"},
    "reopened": {"id": "Dibuka kembali", "en": "Reopened"},
    "escalated": {"id": "Eskalasi", "en": "Escalated"},
    "assigned": {"id": "Ditugaskan", "en": "Assigned"},
    "suppressed": {"id": "Diredam", "en": "Suppressed"},
    "unsuppressed": {"id": "Tidak diredam lagi", "en": "No longer suppressed"},
    "cleared": {"id": "Kondisi pulih", "en": "Condition cleared"},
    "commented": {"id": "Komentar baru", "en": "New comment"},
}
ACTIONS = tuple(_ACTIONS)

_SEVERITIES: dict[str, dict[str, str]] = {
    "critical": {"id": "KRITIS", "en": "CRITICAL"},
    "major": {"id": "BERAT", "en": "MAJOR"},
    "minor": {"id": "RINGAN", "en": "MINOR"},
}

_STATUSES: dict[str, dict[str, str]] = {
    "open": {"id": "terbuka", "en": "open"},
    "acknowledged": {"id": "diterima", "en": "acknowledged"},
    "in_progress": {"id": "dikerjakan", "en": "in progress"},
    "resolved": {"id": "selesai", "en": "resolved"},
    "closed": {"id": "ditutup", "en": "closed"},
}

_LABELS: dict[str, dict[str, str]] = {
    "id": {
        "lamp": "Lampu", "cabinet": "Panel", "gateway": "Gateway", "district": "Distrik",
        "coordinates": "Koordinat", "map": "Peta", "unknown": "tidak diketahui", "detected": "Terdeteksi",
        "severity": "Tingkat", "escalation": "eskalasi ke-{level}", "status": "Status", "note": "Catatan",
        "site": "Wilayah", "alert": "Peringatan", "suppressed": "Diredam oleh peringatan lain (tidak perlu ke lokasi).",
    },
    "en": {
        "lamp": "Lamp", "cabinet": "Cabinet", "gateway": "Gateway", "district": "District",
        "coordinates": "Coordinates", "map": "Map", "unknown": "unknown", "detected": "Detected",
        "severity": "Severity", "escalation": "escalation {level}", "status": "Status", "note": "Note",
        "site": "Site", "alert": "Alert", "suppressed": "Suppressed by another alert (no need to go out).",
    },
}


@dataclass(frozen=True)
class Text:
    subject: str
    body: str


def language_or_default(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def map_url(lat: float, lon: float) -> str:
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=19/{lat:.6f}/{lon:.6f}"


def fault_title(fault_type: str, language: str) -> tuple[str, str]:
    """(title, explanation) of a fault type; a generic pair for types this module does not know."""
    known = _FAULTS.get(fault_type)
    if known is not None:
        return known[language]
    title, sentence = _GENERIC[language]
    return title.format(fault_type=fault_type), sentence.format(fault_type=fault_type)


def action_name(action: str, language: str) -> str:
    return _ACTIONS.get(action, {}).get(language, action)


def local_time(at: dt.datetime, timezone: str) -> str:
    """``2026-03-01 19:42 WIT``: the site's own clock, which is what a crew reads."""
    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _place_lines(place: Place, labels: dict[str, str]) -> list[str]:
    kind = labels.get(place.subject_type, place.subject_type)
    lines = [f"{kind}: {place.label}"]
    if place.district_name or place.district_id:
        lines.append(f"{labels['district']}: {place.district_name or place.district_id}")
    if place.subject_type == "lamp" and (place.cabinet_name or place.cabinet_id):
        cabinet = f"{place.cabinet_name} ({place.cabinet_id})" if place.cabinet_name else place.cabinet_id
        lines.append(f"{labels['cabinet']}: {cabinet}")
    if place.lat is not None and place.lon is not None:
        lines.append(f"{labels['coordinates']}: {place.lat:.6f}, {place.lon:.6f}")
        lines.append(f"{labels['map']}: {map_url(place.lat, place.lon)}")
    else:
        lines.append(f"{labels['coordinates']}: {labels['unknown']}")
    return lines


def render(alert: AlertFacts, event: EventFacts, language: str | None) -> Text:
    lang = language_or_default(language)
    labels = _LABELS[lang]
    title, sentence = fault_title(alert.fault_type, lang)
    action = action_name(event.action, lang)
    severity = _SEVERITIES.get(alert.severity, {}).get(lang, alert.severity.upper())
    place = alert.place.label
    where = alert.place.district_name or alert.place.district_id
    prefix = "" if event.action == "opened" else f"{action}: "
    subject = f"[{severity}] {prefix}{title} - {place}" + (f", {where}" if where else "")

    level = f" ({labels['escalation'].format(level=alert.escalation_level)})" if alert.escalation_level else ""
    status = _STATUSES.get(alert.status, {}).get(lang, alert.status)
    lines = [f"{title} - {action}", sentence]
    if alert.suppressed:
        lines.append(labels["suppressed"])
    lines.append("")
    lines.extend(_place_lines(alert.place, labels))
    lines.append(f"{labels['detected']}: {local_time(alert.detected_at, alert.timezone)}")
    lines.append(f"{labels['severity']}: {severity}{level}")
    lines.append(f"{labels['status']}: {status}")
    if event.note:
        lines.append(f"{labels['note']}: {event.note}")
    lines.append("")
    lines.append(f"{labels['site']}: {alert.site_name} ({alert.site_id}) - {labels['alert']} #{alert.alert_id}")
    return Text(subject=subject, body="\n".join(lines) + "\n")
