"""The demo writes its dimming schedule through the API once; town lamps then follow it."""

from __future__ import annotations

from typing import Any

from simulator.demo_schedule import PROFILE, ensure_demo_schedule
from simulator.topology import generate
from tests.support.topology_api import bearer, register_topology


def test_demo_schedule_is_written_once_and_reaches_town_lamps(server: Any, api: Any, site_ids: list[str]) -> None:
    topology = generate(40, 606, site_ids[1])
    register_topology(api, topology, 300)
    ensure_demo_schedule(server.api_url, topology, token=bearer(api))
    ensure_demo_schedule(server.api_url, topology, token=bearer(api))
    names = [p["name"] for p in api.get("/api/v1/profiles", params={"site_id": site_ids[1], "limit": 1000}).json()[
        "items"]]
    assert names.count(PROFILE) == 1
    towns = {d.id for d in topology.districts if d.setting == "town"}
    district_of = dict(zip(topology.lamps.ids, (topology.districts[k].id for k in topology.lamps.district),
                           strict=True))
    town_lamp = next(lamp for lamp, d in district_of.items() if d in towns)
    plan = api.get(f"/api/v1/lamps/{town_lamp}/schedule", params={"date": "2026-12-02"}).json()
    assert plan["profile"]["name"] == PROFILE
    holiday = api.get(f"/api/v1/lamps/{town_lamp}/schedule", params={"date": "2026-12-25"}).json()
    assert holiday["profile"]["name"] != PROFILE
    assert holiday["rule"] is not None
