"""Profiles, calendars, groups and assignments through the API, with their validation errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.factories import unique

SUNSET_FULL = {"at": "sunset", "level": 100}
SUNRISE_OFF = {"at": "sunrise", "level": 0}


def fields(r: Any) -> list[str]:
    return [d["field"] for d in r.json()["detail"]]


def test_new_site_starts_with_the_all_night_calendar(api: Any, site_ids: list[str]) -> None:
    site = unique(site_ids[0][:20] + "n")
    api.post("/api/v1/sites", json={"id": site, "name": "Fresh"}).raise_for_status()
    assignments = api.get("/api/v1/assignments", params={"site_id": site}).json()["items"]
    assert [(a["target_type"], a["target_id"]) for a in assignments] == [("site", site)]
    calendar = api.get(f"/api/v1/calendars/{assignments[0]['calendar_id']}").json()
    profile = api.get(f"/api/v1/profiles/{calendar['default_profile_id']}").json()
    assert [(s["at"], s["offset_min"], s["level"]) for s in profile["steps"]] == [("sunset", 0, 100), ("sunrise", 0, 0)]
    assert calendar["fallback_level"] == 100


def test_profile_round_trips_with_labels(profile: dict[str, Any]) -> None:
    assert [s["label"] for s in profile["steps"]] == ["sunset", "23:00", "sunrise-30 min"]


@pytest.mark.parametrize(("steps", "field", "words"), [
    ([{"at": "clock", "time": "23:00", "level": 40}, SUNSET_FULL], "steps[1]", "comes before"),
    ([SUNSET_FULL, {"at": "sunset", "level": 50}], "steps[1]", "same time"),
    ([{"at": "sunset", "level": 100, "fade_s": 4000}, {"at": "sunset", "offset_min": 30, "level": 50}], "steps[0]",
     "runs into"),
])
def test_profile_steps_out_of_order_or_overlapping_are_refused(api: Any, sched_site: str, steps: list[Any],
                                                               field: str, words: str) -> None:
    r = api.post("/api/v1/profiles", json={"site_id": sched_site, "name": unique("bad-"), "steps": steps})
    assert r.status_code == 422
    assert fields(r) == [field]
    assert words in r.json()["message"]


@pytest.mark.parametrize(("step", "field"), [
    ({"at": "sunset", "level": 101}, "steps[0].level"),
    ({"at": "sunset", "level": -1}, "steps[0].level"),
    ({"at": "clock", "level": 50}, "steps[0]"),
    ({"at": "clock", "time": "25:00", "level": 50}, "steps[0]"),
    ({"at": "sunset", "offset_min": 800, "level": 50}, "steps[0].offset_min"),
    ({"at": "moonrise", "level": 50}, "steps[0].at"),
])
def test_bad_step_values_name_the_field(api: Any, sched_site: str, step: dict[str, Any], field: str) -> None:
    r = api.post("/api/v1/profiles", json={"site_id": sched_site, "name": unique("bad-"), "steps": [step]})
    assert r.status_code == 422
    assert fields(r)[0] == field


def test_profile_for_an_unknown_site_is_refused(api: Any) -> None:
    r = api.post("/api/v1/profiles", json={"site_id": "nosuchsite", "name": "x", "steps": [SUNSET_FULL]})
    assert r.status_code == 422
    assert fields(r) == ["site_id"]


def test_profile_name_is_unique_per_site(api: Any, sched_site: str, profile: dict[str, Any]) -> None:
    r = api.post("/api/v1/profiles", json={"site_id": sched_site, "name": profile["name"], "steps": [SUNSET_FULL]})
    assert r.status_code == 409


def test_calendar_with_holiday_and_weekday_rules(api: Any, sched_site: str, profile: dict[str, Any]) -> None:
    full = api.post("/api/v1/profiles", json={"site_id": sched_site, "name": unique("full-"),
                                              "steps": [SUNSET_FULL, SUNRISE_OFF]}).json()
    r = api.post("/api/v1/calendars", json={
        "site_id": sched_site, "name": unique("cal-"), "default_profile_id": profile["id"], "rules": [
            {"profile_id": full["id"], "weekdays": ["fri", "sat"]},
            {"profile_id": full["id"], "holidays": "id-national", "priority": 10},
        ]})
    assert r.status_code == 201, r.text
    rules = r.json()["rules"]
    assert rules[0]["weekdays"] == ["fri", "sat"]
    assert rules[1]["holidays"] == "id-national"


@pytest.mark.parametrize(("rule", "field"), [
    ({"profile_id": 999_999_999, "weekdays": ["mon"]}, "rules[0].profile_id"),
    ({"weekdays": ["mon"]}, "rules[0].profile_id"),
    ({"weekdays": ["someday"]}, "rules[0].weekdays[0]"),
    ({"from_date": "2027-02-01", "to_date": "2027-01-01"}, "rules[0]"),
])
def test_bad_calendar_rules_name_the_field(api: Any, sched_site: str, profile: dict[str, Any], rule: dict[str, Any],
                                           field: str) -> None:
    body_rule = {"profile_id": profile["id"], **rule}
    if "profile_id" not in rule and rule.get("weekdays") == ["mon"]:
        del body_rule["profile_id"]
    r = api.post("/api/v1/calendars", json={"site_id": sched_site, "name": unique("cal-"),
                                            "default_profile_id": profile["id"], "rules": [body_rule]})
    assert r.status_code == 422
    assert fields(r)[0] == field


def test_profile_in_use_cannot_be_deleted(api: Any, calendar: dict[str, Any]) -> None:
    r = api.delete(f"/api/v1/profiles/{calendar['default_profile_id']}")
    assert r.status_code == 409


def test_assignment_to_an_unknown_target_is_refused(api: Any, calendar: dict[str, Any]) -> None:
    r = api.post("/api/v1/assignments", json={"calendar_id": calendar["id"], "target_type": "cabinet",
                                              "target_id": "nosuchcabinet"})
    assert r.status_code == 422
    assert fields(r) == ["target_id"]


def test_a_target_has_one_calendar(api: Any, calendar: dict[str, Any], lamp_ids: list[str]) -> None:
    body = {"calendar_id": calendar["id"], "target_type": "lamp", "target_id": lamp_ids[0]}
    assert api.post("/api/v1/assignments", json=body).status_code == 201
    assert api.post("/api/v1/assignments", json=body).status_code == 409


def test_group_members_must_be_lamps_of_the_site(api: Any, sched_site: str, lamp_ids: list[str]) -> None:
    group = unique("g")
    body = {"id": group, "site_id": sched_site, "name": "Jalan Cenderawasih"}
    api.post("/api/v1/groups", json=body).raise_for_status()
    r = api.put(f"/api/v1/groups/{group}/lamps", json={"lamp_ids": [lamp_ids[0], "nosuchlamp"]})
    assert r.status_code == 422
    assert fields(r) == ["lamp_ids[1]"]
    r = api.put(f"/api/v1/groups/{group}/lamps", json={"lamp_ids": lamp_ids[:2]})
    assert r.json()["lamp_ids"] == sorted(lamp_ids[:2])
    assert api.delete(f"/api/v1/groups/{group}/lamps/{lamp_ids[0]}").status_code == 204
    assert api.get(f"/api/v1/groups/{group}/lamps").json()["lamp_ids"] == [lamp_ids[1]]
