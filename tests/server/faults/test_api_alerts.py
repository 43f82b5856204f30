"""The alerts and crews API as crews and operators use it, through real HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from tests.conftest import TEST_CREW
from tests.support.factories import make_district, unique


@pytest.fixture
def crew(api: Any, site_id: str) -> str:
    """The crew the test crew user belongs to, on the run's site."""
    r = api.post("/api/v1/crews", json={"id": TEST_CREW, "site_id": site_id, "name": "Regu Uji"})
    assert r.status_code in (201, 409), r.text
    return TEST_CREW


def _alert(database_url: str, site_id: str, *, crew_id: str | None, status: str = "open",
           fault_type: str = "lamp_failure") -> int:
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO alerts (site_id, fault_type, subject_type, subject_id, severity, status, crew_id,"
            " first_evidence_at, detected_at) VALUES (%s, %s, 'lamp', %s, 'major', %s, %s, %s, %s) RETURNING id",
            (site_id, fault_type, unique("lamp"), status, crew_id, now, now)).fetchone()
        assert row is not None
        conn.execute("INSERT INTO alert_events (alert_id, actor, action, to_status) VALUES (%s, 'engine', 'opened',"
                     " 'open')", (row[0],))
        return int(row[0])


def test_a_crew_moves_its_alert_through_the_whole_lifecycle(crew_api: Any, crew: str, database_url: str,
                                                            site_id: str) -> None:
    alert_id = _alert(database_url, site_id, crew_id=crew)
    for status in ("acknowledged", "in_progress", "resolved", "closed"):
        r = crew_api.post(f"/api/v1/alerts/{alert_id}/transitions", json={"status": status, "note": "siap"})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
    detail = crew_api.get(f"/api/v1/alerts/{alert_id}").json()
    assert [e["action"] for e in detail["history"]] == ["opened", "acknowledged", "started", "resolved", "closed"]
    assert detail["history"][1]["actor"].startswith("crew-")
    assert detail["allowed_transitions"] == []
    assert detail["acknowledged_at"] is not None and detail["closed_at"] is not None


@pytest.mark.parametrize(("start", "to"), [("open", "closed"), ("closed", "open"), ("resolved", "in_progress"),
                                           ("in_progress", "acknowledged")])
def test_an_invalid_transition_is_a_conflict_naming_what_is_allowed(api: Any, crew: str, database_url: str,
                                                                     site_id: str, start: str, to: str) -> None:
    alert_id = _alert(database_url, site_id, crew_id=crew, status=start)
    r = api.post(f"/api/v1/alerts/{alert_id}/transitions", json={"status": to})
    assert r.status_code == 409
    assert f"can not become {to}" in r.text


def test_an_unknown_status_is_a_422(api: Any, crew: str, database_url: str, site_id: str) -> None:
    alert_id = _alert(database_url, site_id, crew_id=crew)
    assert api.post(f"/api/v1/alerts/{alert_id}/transitions", json={"status": "fixed"}).status_code == 422


def test_a_crew_does_not_see_another_crews_alert(crew_api: Any, api: Any, database_url: str, site_id: str,
                                                 crew: str) -> None:
    other = unique("crew")
    assert api.post("/api/v1/crews", json={"id": other, "site_id": site_id, "name": "Regu Lain"}).status_code == 201
    theirs = _alert(database_url, site_id, crew_id=other)
    mine = _alert(database_url, site_id, crew_id=crew)
    assert crew_api.get(f"/api/v1/alerts/{theirs}").status_code == 404
    assert crew_api.post(f"/api/v1/alerts/{theirs}/transitions", json={"status": "acknowledged"}).status_code == 404
    listed = {a["id"] for a in crew_api.get("/api/v1/alerts", params={"limit": 1000}).json()["items"]}
    assert mine in listed and theirs not in listed


def test_a_viewer_may_read_but_not_move_an_alert(viewer_api: Any, crew: str, database_url: str, site_id: str) -> None:
    alert_id = _alert(database_url, site_id, crew_id=crew)
    assert viewer_api.get(f"/api/v1/alerts/{alert_id}").status_code == 200
    assert viewer_api.post(f"/api/v1/alerts/{alert_id}/transitions", json={"status": "acknowledged"}).status_code == 403


def test_comments_are_kept_in_order_with_their_author(crew_api: Any, crew: str, database_url: str,
                                                      site_id: str) -> None:
    alert_id = _alert(database_url, site_id, crew_id=crew)
    for body in ("Lampu diganti", "Driver juga"):
        assert crew_api.post(f"/api/v1/alerts/{alert_id}/comments", json={"body": body}).status_code == 201
    comments = crew_api.get(f"/api/v1/alerts/{alert_id}/comments").json()
    assert [c["body"] for c in comments] == ["Lampu diganti", "Driver juga"]
    assert crew_api.post(f"/api/v1/alerts/{alert_id}/comments", json={"body": ""}).status_code == 422


def test_an_operator_assigns_an_alert_to_another_crew(api: Any, crew: str, database_url: str, site_id: str) -> None:
    alert_id = _alert(database_url, site_id, crew_id=None)
    r = api.patch(f"/api/v1/alerts/{alert_id}", json={"crew_id": crew})
    assert r.status_code == 200 and r.json()["crew_id"] == crew
    assert r.json()["history"][-1]["action"] == "assigned"
    assert api.patch(f"/api/v1/alerts/{alert_id}", json={"crew_id": "no-such-crew"}).status_code == 422


def test_alerts_filter_by_status_type_and_hide_suppressed(api: Any, crew: str, database_url: str,
                                                          site_id: str) -> None:
    keep = _alert(database_url, site_id, crew_id=crew, fault_type="day_burner")
    hidden = _alert(database_url, site_id, crew_id=crew, fault_type="day_burner")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE alerts SET suppressed_by = %s WHERE id = %s", (keep, hidden))
    params = {"site_id": site_id, "fault_type": "day_burner", "status": ["open"], "limit": 1000}
    ids = {a["id"] for a in api.get("/api/v1/alerts", params=params).json()["items"]}
    assert keep in ids and hidden not in ids
    ids = {a["id"] for a in api.get("/api/v1/alerts", params={**params, "include_suppressed": True}).json()["items"]}
    assert hidden in ids
    assert api.get("/api/v1/alerts", params={"fault_type": "broken"}).status_code == 422
    assert api.get("/api/v1/alerts", params={"since": "2026-11-28T10:00:00"}).status_code == 422


def test_a_crew_is_made_for_districts_and_refused_with_a_named_field(api: Any, site_id: str) -> None:
    district = make_district(api, site_id)["id"]
    body = {"id": unique("crew"), "site_id": site_id, "name": "Regu Kuala Kencana", "districts": [district]}
    r = api.post("/api/v1/crews", json=body)
    assert r.status_code == 201 and r.json()["districts"] == [district]
    bad = api.post("/api/v1/crews", json={**body, "id": unique("crew"), "language": "fr"})
    assert bad.status_code == 422 and "language" in bad.text
    missing = api.post("/api/v1/crews", json={**body, "id": unique("crew"), "site_id": "nosuchsite"})
    assert missing.status_code == 422 and "site_id" in missing.text
