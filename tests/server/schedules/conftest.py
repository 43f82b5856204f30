"""Fixtures for schedule tests against the running server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.factories import ensure_site, make_district, make_lamps, unique


@pytest.fixture
def sched_site(api: Any, site_ids: list[str]) -> str:
    """The run's second site: schedule tests assign site-wide calendars and overrides there."""
    ensure_site(api, site_ids[1])
    return site_ids[1]


@pytest.fixture
def district(api: Any, sched_site: str) -> str:
    return str(make_district(api, sched_site)["id"])


@pytest.fixture
def lamp_ids(api: Any, sched_site: str, district: str) -> list[str]:
    return make_lamps(api, sched_site, 3, district_id=district)


@pytest.fixture
def profile(api: Any, sched_site: str) -> dict[str, Any]:
    body = {"site_id": sched_site, "name": unique("hemat-"), "steps": [
        {"at": "sunset", "level": 80},
        {"at": "clock", "time": "23:00", "level": 40},
        {"at": "sunrise", "offset_min": -30, "level": 0},
    ]}
    r = api.post("/api/v1/profiles", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def calendar(api: Any, sched_site: str, profile: dict[str, Any]) -> dict[str, Any]:
    r = api.post("/api/v1/calendars", json={"site_id": sched_site, "name": unique("cal-"),
                                            "default_profile_id": profile["id"]})
    assert r.status_code == 201, r.text
    return dict(r.json())
