"""The subscriptions API: validation, no secret ever shown, who may write; and the outbox listing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.alerts.conftest import SECRET, make_crew, notifications_of, open_alert, until
from tests.support.factories import unique

pytestmark = pytest.mark.timeout(60)
HOOK = {"channel": "webhook", "target": "https://ops.example.org/terang", "secret": SECRET}


def _path(crew: str) -> str:
    return f"/api/v1/crews/{crew}/subscriptions"


@pytest.fixture
async def crew(db: Any, notify_site: str) -> str:
    return await make_crew(db, notify_site)


def test_operator_subscribes_a_crew_and_the_secret_is_never_shown(operator_api: Any, crew: str) -> None:
    r = operator_api.post(_path(crew), json={**HOOK, "min_severity": "major", "fault_types": ["lamp_failure"]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["has_secret"] is True and "secret" not in created and SECRET not in r.text
    assert (created["crew_id"], created["actions"], created["language"]) == (
        crew, ["opened", "escalated", "reopened"], None)
    listed = operator_api.get(_path(crew)).json()
    assert [s["id"] for s in listed["items"]] == [created["id"]] and SECRET not in str(listed)


def test_mqtt_subscription_names_its_topic(api: Any, crew: str, notify_site: str) -> None:
    r = api.post(_path(crew), json={"channel": "mqtt"})
    assert r.status_code == 201, r.text
    assert r.json()["mqtt_topic"] == f"terang/v1/{notify_site}/crew/{crew}/alerts"


@pytest.mark.parametrize(("body", "field"), [
    ({**HOOK, "secret": "too-short"}, "secret"),
    ({**HOOK, "secret": None}, "secret"),
    ({**HOOK, "target": "ftp://example.org/hook"}, "target"),
    ({**HOOK, "target": "not a url"}, "target"),
    ({"channel": "email", "target": "regu-timur"}, "target"),
    ({"channel": "email", "target": "a@example.org\r\nBcc: b@example.org"}, "target"),
    ({"channel": "email", "target": "a@example.org", "secret": SECRET}, "secret"),
    ({"channel": "mqtt", "target": "alerts/#"}, "target"),
    ({"channel": "sms", "target": "+62811"}, "channel"),
    ({**HOOK, "fault_types": ["lamp_on_fire"]}, "fault_types[0]"),
    ({**HOOK, "actions": []}, "actions"),
    ({**HOOK, "min_severity": "urgent"}, "min_severity"),
    ({**HOOK, "surprise": 1}, "surprise"),
])
def test_bad_subscription_is_refused_naming_the_field(api: Any, crew: str, body: dict[str, Any], field: str) -> None:
    r = api.post(_path(crew), json=body)
    assert r.status_code == 422, r.text
    assert field in {d["field"] for d in r.json()["detail"]}, r.json()


def test_subscription_for_an_unknown_crew_is_404(api: Any) -> None:
    r = api.post(_path(unique("nocrew-")), json={"channel": "mqtt"})
    assert r.status_code == 404 and "crew" in r.json()["message"]


@pytest.mark.parametrize("role", ["viewer", "crew", "technician"])
def test_only_admins_and_operators_write_subscriptions(role_client: Any, api: Any, crew: str, role: str) -> None:
    caller = role_client(role)
    assert caller.post(_path(crew), json={"channel": "mqtt"}).status_code == 403
    made = api.post(_path(crew), json={"channel": "mqtt"}).json()
    assert caller.get(f"{_path(crew)}/{made['id']}").status_code == 200
    assert caller.delete(f"{_path(crew)}/{made['id']}").status_code == 403


def test_patch_changes_rules_and_rotates_the_secret_without_showing_it(api: Any, crew: str) -> None:
    made = api.post(_path(crew), json=HOOK).json()
    r = api.patch(f"{_path(crew)}/{made['id']}", json={"min_severity": "critical", "fault_types": None,
                                                        "secret": "another-secret-of-enough-length", "enabled": False})
    assert r.status_code == 200, r.text
    assert (r.json()["min_severity"], r.json()["fault_types"], r.json()["enabled"], r.json()["has_secret"]) == (
        "critical", None, False, True)
    assert "another-secret" not in r.text
    bad = api.patch(f"{_path(crew)}/{made['id']}", json={"target": "mailto:x@example.org"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "target"


def test_deleted_subscription_is_gone(api: Any, crew: str) -> None:
    made = api.post(_path(crew), json={"channel": "mqtt"}).json()
    assert api.delete(f"{_path(crew)}/{made['id']}").status_code == 204
    assert api.get(f"{_path(crew)}/{made['id']}").status_code == 404


async def test_the_servers_notifier_queues_deliveries_listed_by_alert_and_status(
    api: Any, viewer_api: Any, db: Any, notify_site: str, crew: str
) -> None:
    sub = api.post(_path(crew), json={"channel": "mqtt"}).json()
    alert_id, event_id = await open_alert(db, notify_site, unique("L"), crew_id=crew)
    # The running server makes the row (it does not send it: the test's site is not one it serves).
    await until(lambda: notifications_of(db, event_id=event_id), what="the server's notifier")
    listed = api.get("/api/v1/notifications", params={"alert_id": alert_id}).json()
    assert [(n["event_id"], n["subscription_id"], n["status"]) for n in listed["items"]] == [
        (event_id, sub["id"], "pending")]
    assert listed["items"][0]["payload"]["text"]["language"] == "id"
    assert api.get("/api/v1/notifications", params={"alert_id": alert_id, "status": "sent"}).json()["total"] == 0
    assert viewer_api.get("/api/v1/notifications").status_code == 403
