"""Overrides with their audit trail, plans in the site's zone, previews, and commanded against in
effect: configs pushed retained, lamps out of step until they report the version."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from firmware.device import codec
from tests.support.factories import make_lamps, unique
from tests.support.mqtt import Publisher, Subscriber, wait_for

WIT = dt.timezone(dt.timedelta(hours=9))


def fields(r: Any) -> list[str]:
    return [d["field"] for d in r.json()["detail"]]


def commanded(api: Any, lamp_id: str) -> dict[str, Any]:
    return dict(api.get(f"/api/v1/lamps/{lamp_id}/config").json())


def wait_published(api: Any, lamp_id: str, above_cv: int = 0) -> dict[str, Any]:
    def ready() -> dict[str, Any]:
        cfg = commanded(api, lamp_id)
        ok = cfg["published_at"] is not None and (cfg["commanded_cv"] or 0) > above_cv
        return cfg if ok else {}

    return wait_for(ready, timeout=20, what=f"config of {lamp_id} published")


def override(api: Any, **body: Any) -> Any:
    return api.post("/api/v1/overrides", json={"reason": "test", **body})


def test_override_is_compiled_into_the_lamps_config(api: Any, lamp_ids: list[str]) -> None:
    before = wait_published(api, lamp_ids[0])
    r = override(api, target_type="lamp", target_id=lamp_ids[0], level=30, duration_s=3600,
                 reason="road works on Jl. Budi Utomo")
    assert r.status_code == 201, r.text
    after = wait_published(api, lamp_ids[0], before["commanded_cv"])
    assert [o[0] for o in after["config"]["ovr"]] == [30]
    assert after["commanded_cv"] == before["commanded_cv"] + 1


def test_override_times_are_shown_in_the_sites_zone(api: Any, lamp_ids: list[str]) -> None:
    r = override(api, target_type="lamp", target_id=lamp_ids[1], level=50, duration_s=600)
    assert r.json()["until"].endswith("+09:00")
    assert r.json()["status"] == "active"


@pytest.mark.parametrize(("body", "field"), [
    ({"level": 50, "until": "2020-01-01T00:00:00+09:00"}, "until"),
    ({"level": 50}, "until"),
    ({"level": 50, "until": "2099-01-01T00:00:00+09:00", "duration_s": 600}, "until"),
    ({"level": 50, "until": "2099-01-01T00:00:00"}, "until"),
    ({"level": 150, "duration_s": 600}, "level"),
    ({"level": 50, "duration_s": 600, "reason": ""}, "reason"),
])
def test_bad_overrides_name_the_field(api: Any, lamp_ids: list[str], body: dict[str, Any], field: str) -> None:
    r = api.post("/api/v1/overrides", json={"reason": "x", "target_type": "lamp", "target_id": lamp_ids[0], **body})
    assert r.status_code == 422
    assert fields(r)[0] == field


def test_override_of_an_unknown_target_is_refused(api: Any) -> None:
    r = override(api, target_type="group", target_id="nosuchgroup", level=50, duration_s=600)
    assert r.status_code == 422
    assert fields(r) == ["target_id"]


def test_every_override_action_is_in_the_audit_trail(api: Any, lamp_ids: list[str], sched_site: str) -> None:
    created = override(api, target_type="district", target_id=api.get(f"/api/v1/lamps/{lamp_ids[0]}").json()[
        "district_id"], level=20, duration_s=3600, reason="festival lights test").json()
    api.patch(f"/api/v1/overrides/{created['id']}", json={"level": 25, "reason": "brighter"}).raise_for_status()
    api.delete(f"/api/v1/overrides/{created['id']}", params={"reason": "festival over"}).raise_for_status()
    trail = api.get("/api/v1/control/audit", params={"override_id": created["id"]}).json()["items"]
    assert [(e["action"], e["reason"]) for e in trail] == [
        ("override.cancel", "festival over"),
        ("override.update", "brighter"),
        ("override.create", "festival lights test"),
    ]
    # Who: the authenticated caller (the same client did all three).
    assert len({e["subject"] for e in trail}) == 1 and trail[0]["subject"]
    assert created["created_by"] == trail[0]["subject"]
    assert trail[1]["detail"]["before"]["level"] == 20 and trail[1]["detail"]["after"]["level"] == 25
    assert trail[0]["at"].endswith("+09:00")  # in the site's zone


def test_a_cancelled_override_cannot_be_cancelled_again(api: Any, lamp_ids: list[str]) -> None:
    created = override(api, target_type="lamp", target_id=lamp_ids[2], level=10, duration_s=600).json()
    assert api.delete(f"/api/v1/overrides/{created['id']}", params={"reason": "done"}).json()["status"] == "cancelled"
    assert api.delete(f"/api/v1/overrides/{created['id']}", params={"reason": "again"}).status_code == 409


def test_emergency_all_on_covers_the_site_and_is_audited(api: Any, sched_site: str, lamp_ids: list[str]) -> None:
    r = api.post("/api/v1/overrides/emergency", json={"site_id": sched_site, "reason": "flood evacuation",
                                                      "duration_s": 900})
    assert r.status_code == 201, r.text
    on = r.json()
    assert (on["level"], on["target_type"], on["emergency"]) == (100, "site", True)
    cfg = wait_for(lambda: (c := commanded(api, lamp_ids[0]))["config"] and any(
        o[0] == 100 for o in c["config"]["ovr"]) and c, timeout=20, what="emergency override in the config")
    assert cfg
    api.delete(f"/api/v1/overrides/{on['id']}", params={"reason": "water receded"}).raise_for_status()
    actions = [e["action"] for e in api.get("/api/v1/control/audit", params={"override_id": on["id"]}).json()["items"]]
    assert actions == ["emergency.off", "emergency.on"]


def test_plan_of_a_night_in_the_sites_zone(api: Any, calendar: dict[str, Any], lamp_ids: list[str]) -> None:
    api.post("/api/v1/assignments", json={"calendar_id": calendar["id"], "target_type": "lamp",
                                          "target_id": lamp_ids[0]}).raise_for_status()
    plan = api.get(f"/api/v1/lamps/{lamp_ids[0]}/schedule", params={"date": "2026-12-01"}).json()
    assert plan["timezone"] == "Asia/Jayapura"
    assert plan["night_start"] == "2026-12-01T12:00:00+09:00"
    assert plan["calendar"]["assigned_to"] == f"lamp {lamp_ids[0]}"
    assert [s["level"] for s in plan["steps"]] == [80, 40, 0]
    assert plan["steps"][1]["at"] == "2026-12-01T23:00:00+09:00"
    sunset = dt.datetime.fromisoformat(plan["sunset"])
    assert sunset.utcoffset() == dt.timedelta(hours=9) and 17 <= sunset.hour <= 18
    assert 0 < plan["energy"]["estimate_kwh"] < plan["energy"]["full_power_kwh"]
    assert plan["energy"]["saving_pct"] > 20


def test_most_specific_assignment_wins(api: Any, calendar: dict[str, Any], lamp_ids: list[str],
                                       sched_site: str) -> None:
    district = api.get(f"/api/v1/lamps/{lamp_ids[1]}").json()["district_id"]
    api.post("/api/v1/assignments", json={"calendar_id": calendar["id"], "target_type": "district",
                                          "target_id": district}).raise_for_status()
    plan = api.get(f"/api/v1/lamps/{lamp_ids[1]}/schedule").json()
    assert plan["calendar"]["assigned_to"] == f"district {district}"
    default = api.get("/api/v1/assignments", params={"site_id": sched_site}).json()["items"][0]
    api.post("/api/v1/assignments", json={"calendar_id": default["calendar_id"], "target_type": "lamp",
                                          "target_id": lamp_ids[1]}).raise_for_status()
    plan = api.get(f"/api/v1/lamps/{lamp_ids[1]}/schedule").json()
    assert plan["calendar"]["assigned_to"] == f"lamp {lamp_ids[1]}"


def test_preview_shows_a_groups_levels_through_the_night(api: Any, sched_site: str, lamp_ids: list[str],
                                                         calendar: dict[str, Any]) -> None:
    group = unique("g")
    api.post("/api/v1/groups", json={"id": group, "site_id": sched_site, "name": "Preview"}).raise_for_status()
    api.put(f"/api/v1/groups/{group}/lamps", json={"lamp_ids": lamp_ids}).raise_for_status()
    view = api.get("/api/v1/schedules/preview", params={"group_id": group, "date": "2026-12-01", "step_min": 60,
                                                        "calendar_id": calendar["id"]}).json()
    assert view["lamps"] == 3
    assert len(view["times"]) == 25 and view["times"][0] == "2026-12-01T12:00:00+09:00"
    levels = view["series"][0]["levels"]
    assert levels[view["times"].index("2026-12-01T20:00:00+09:00")] == 80
    assert levels[view["times"].index("2026-12-02T01:00:00+09:00")] == 40
    assert levels[0] == 0


def test_preview_of_an_unknown_group_is_refused(api: Any) -> None:
    r = api.get("/api/v1/schedules/preview", params={"group_id": "nosuchgroup"})
    assert r.status_code == 422
    assert fields(r) == ["group_id"]


def test_config_is_published_retained_and_the_lamp_is_out_of_step_until_it_reports_it(
    api: Any, mqtt_url: str, sched_site: str, run_tag: str
) -> None:
    lamp = make_lamps(api, sched_site, 1)[0]
    cfg = wait_published(api, lamp)
    listed = api.get("/api/v1/control/out-of-step", params={"site_id": sched_site, "limit": 1000}).json()["items"]
    assert lamp in [x["lamp_id"] for x in listed]
    # The lamp was offline: it connects later and finds the retained config waiting.
    sub = Subscriber(mqtt_url, f"lamp-{run_tag}-{lamp}", [codec.lamp_topic(sched_site, lamp, codec.KIND_CONFIG)])
    try:
        got = wait_for(sub.received, timeout=10, what="retained config")
    finally:
        sub.close()
    config = codec.decode_config(got[0][1])
    assert config["cv"] == cfg["commanded_cv"]
    reading = (1, int(dt.datetime.now(dt.UTC).timestamp()), 40.0, 228.0, 0.18, 0.97, 10.0, 100, None, 0, config["cv"])
    pub = Publisher(mqtt_url, f"lamp-pub-{run_tag}-{lamp}")
    try:
        pub.publish_all([(codec.lamp_topic(sched_site, lamp, codec.KIND_TELEMETRY), codec.encode_reading(reading))])
    finally:
        pub.close()

    def in_step() -> bool:
        return bool(commanded(api, lamp)["in_step"])

    wait_for(in_step, timeout=20, what="lamp in step")
    listed = api.get("/api/v1/control/out-of-step", params={"site_id": sched_site, "limit": 1000}).json()["items"]
    assert lamp not in [x["lamp_id"] for x in listed]


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/v1/lamps/{lamp}/schedule", {"date": "1999-01-01"}, "date"),
    ("/api/v1/lamps/{lamp}/schedule", {"date": "9999-12-31"}, "date"),
    ("/api/v1/reports/energy", {"site_id": "{site}", "from": "0001-01-01", "to": "2026-01-01"}, "from"),
])
def test_dates_outside_what_lamps_can_hold_are_refused(api: Any, lamp_ids: list[str], sched_site: str, path: str,
                                                       params: dict[str, str], field: str) -> None:
    query = {k: v.format(site=sched_site) for k, v in params.items()}
    r = api.get(path.format(lamp=lamp_ids[0]), params=query)
    assert r.status_code == 422
    assert fields(r) == [field]


@pytest.mark.parametrize("path", ["/api/v1/profiles/99999999999999999999", "/api/v1/overrides/0"])
def test_ids_out_of_range_are_refused(api: Any, path: str) -> None:
    assert api.get(path).status_code == 422


def test_an_override_starting_long_ago_is_refused(api: Any, lamp_ids: list[str]) -> None:
    r = override(api, target_type="lamp", target_id=lamp_ids[0], level=50, starts_at="2019-01-01T00:00:00+09:00",
                 duration_s=600)
    assert r.status_code == 422
    assert fields(r) == ["starts_at"]


def test_a_reason_with_control_characters_is_refused(api: Any, lamp_ids: list[str]) -> None:
    r = override(api, target_type="lamp", target_id=lamp_ids[0], level=50, duration_s=600, reason="bad\x00")
    assert r.status_code == 422
    assert fields(r) == ["reason"]
