"""Notification texts: what a crew reads, in Bahasa Indonesia and English."""

from __future__ import annotations

import datetime as dt

import pytest

from server.alerts import texts
from server.alerts.facts import AlertFacts, EventFacts, Place

LAMP = Place("lamp", "L00042", "Jl. Cenderawasih 12", "d1", "Mimika Baru", "c7", "Panel Timur 3", -4.546123, 136.884456)
CABINET = Place("cabinet", "c7", "Panel Timur 3", "d1", "Mimika Baru", "c7", "Panel Timur 3", -4.55, 136.88)
GATEWAY = Place("gateway", "gw1", "Gateway Kwamki", "d2", "Kwamki Narama", None, None, -4.52, 136.9)
DETECTED = dt.datetime(2026, 3, 1, 10, 42, tzinfo=dt.UTC)  # 19:42 in Timika (WIT, UTC+9)


def _alert(place: Place = LAMP, fault_type: str = "lamp_failure", **kw: object) -> AlertFacts:
    values: dict[str, object] = {
        "alert_id": 123, "site_id": "mimika", "site_name": "Kabupaten Mimika", "timezone": "Asia/Jayapura",
        "fault_type": fault_type, "severity": "critical", "status": "open", "crew_id": "crew-timur",
        "suppressed": False, "escalation_level": 0, "detected_at": DETECTED, "place": place, **kw}
    return AlertFacts(**values)  # type: ignore[arg-type]


def _event(action: str = "opened", note: str | None = None) -> EventFacts:
    return EventFacts(event_id=9, alert_id=123, action=action, at=DETECTED, actor="engine", note=note)


def test_indonesian_text_names_the_lamp_district_cabinet_and_coordinates() -> None:
    text = texts.render(_alert(), _event(), "id")
    assert text.subject == "[KRITIS] Lampu mati - Jl. Cenderawasih 12 (L00042), Mimika Baru"
    assert "Lampu: Jl. Cenderawasih 12 (L00042)" in text.body
    assert "Distrik: Mimika Baru" in text.body
    assert "Panel: Panel Timur 3 (c7)" in text.body
    assert "Koordinat: -4.546123, 136.884456" in text.body
    assert "https://www.openstreetmap.org/?mlat=-4.546123&mlon=136.884456" in text.body
    assert "Terdeteksi: 2026-03-01 19:42 WIT" in text.body


def test_english_text_of_an_escalation_says_so_in_subject_and_body() -> None:
    text = texts.render(_alert(escalation_level=2), _event("escalated"), "en")
    assert text.subject.startswith("[CRITICAL] Escalated: Lamp failure - Jl. Cenderawasih 12 (L00042)")
    assert "Severity: CRITICAL (escalation 2)" in text.body


@pytest.mark.parametrize("fault_type", texts.FAULT_TYPES)
@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_fault_type_has_its_own_title_in_both_languages(fault_type: str, language: str) -> None:
    title, sentence = texts.fault_title(fault_type, language)
    assert fault_type not in title and sentence.endswith(".")


@pytest.mark.parametrize("action", texts.ACTIONS)
def test_every_action_renders_without_error(action: str) -> None:
    assert texts.render(_alert(), _event(action), "id").subject.startswith("[KRITIS]")


def test_cabinet_alert_uses_the_cabinets_name_and_coordinates() -> None:
    text = texts.render(_alert(CABINET, "cabinet_outage"), _event(), "id")
    assert text.subject == "[KRITIS] Panel padam - Panel Timur 3 (c7), Mimika Baru"
    assert "Panel: Panel Timur 3 (c7)" in text.body and "Koordinat: -4.550000, 136.880000" in text.body


def test_gateway_alert_uses_the_gateways_name() -> None:
    text = texts.render(_alert(GATEWAY, "gateway_down"), _event(), "en")
    assert "Gateway: Gateway Kwamki (gw1)" in text.body and "District: Kwamki Narama" in text.body


def test_unknown_fault_type_and_action_get_a_generic_text() -> None:
    text = texts.render(_alert(fault_type="lamp_on_fire"), _event("teleported"), "en")
    assert "Fault (lamp_on_fire)" in text.subject and "teleported" in text.subject


def test_a_lamp_without_name_or_position_is_named_by_its_id() -> None:
    bare = Place("lamp", "L00099", None)
    text = texts.render(_alert(bare), _event(), "en")
    assert "Lamp: L00099\n" in text.body and "Coordinates: unknown" in text.body and "openstreetmap" not in text.body


def test_event_note_and_suppression_are_mentioned() -> None:
    text = texts.render(_alert(suppressed=True), _event(note="tiang roboh"), "id")
    assert "Catatan: tiang roboh" in text.body and "Diredam" in text.body


def test_unknown_language_falls_back_to_indonesian() -> None:
    assert texts.render(_alert(), _event(), "fr").subject.startswith("[KRITIS]")
