"""End to end: an operator writes a profile through the API; the server compiles and publishes each
lamp's config; simulated lamps take it from their retained config topic and dim at the right
(simulated) times; their stored readings show the level and the commanded config version."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from server.schedules.evaluate import level_at
from server.schedules.sun import night_sun
from simulator.runner import RunSummary, SimulationConfig, run
from simulator.topology import generate
from tests.support.factories import unique
from tests.support.mqtt import wait_for
from tests.support.topology_api import register_topology

LAMPS = 8
INTERVAL_S = 900
WIT = dt.timezone(dt.timedelta(hours=9))
SEED = 505


# One simulated night serves every test of the module; built on first use with the test's own
# (authenticated) API client.
_RUN: dict[str, tuple[RunSummary, dict[str, dict[str, Any]]]] = {}


@pytest.fixture
def night_run(server: Any, api: Any, site_ids: list[str]) -> tuple[RunSummary, dict[str, dict[str, Any]]]:
    if "night" not in _RUN:
        _RUN["night"] = _simulate_night(server, api, site_ids[1])
    return _RUN["night"]


def _simulate_night(server: Any, api: Any, site: str) -> tuple[RunSummary, dict[str, dict[str, Any]]]:
    topology = generate(LAMPS, SEED, site)
    register_topology(api, topology, INTERVAL_S)
    ids = list(topology.lamps.ids)
    profile = api.post("/api/v1/profiles", json={"site_id": site, "name": unique("malam-"), "steps": [
        {"at": "sunset", "level": 90},
        {"at": "clock", "time": "22:00", "level": 40, "fade_s": 600},
        {"at": "clock", "time": "03:00", "level": 60},
        {"at": "sunrise", "level": 0},
    ]})
    assert profile.status_code == 201, profile.text
    calendar = api.post("/api/v1/calendars", json={"site_id": site, "name": unique("e2e-"),
                                                   "default_profile_id": profile.json()["id"]}).json()
    group = unique("ge2e")
    api.post("/api/v1/groups", json={"id": group, "site_id": site, "name": "End to end"}).raise_for_status()
    api.put(f"/api/v1/groups/{group}/lamps", json={"lamp_ids": ids}).raise_for_status()
    api.post("/api/v1/assignments", json={"calendar_id": calendar["id"], "target_type": "group",
                                          "target_id": group}).raise_for_status()

    def pushed() -> dict[str, dict[str, Any]]:
        out = {}
        for lamp in ids:
            cfg = api.get(f"/api/v1/lamps/{lamp}/config").json()
            if not cfg["published_at"] or [s[2] for s in cfg["config"]["prof"][0]] != [90, 40, 60, 0]:
                return {}
            out[lamp] = cfg
        return out

    commanded = wait_for(pushed, timeout=30, what="configs with the new profile published")
    summary = run(SimulationConfig(mqtt_url=server.mqtt_url, site_id=site, lamps=LAMPS, seed=SEED,
                                   interval_s=INTERVAL_S, speed=1_000_000.0, duration_s=86_400.0, drain_s=30.0))
    return summary, commanded


def _readings(api: Any, lamp: str, summary: RunSummary) -> list[dict[str, Any]]:
    start = dt.datetime.fromtimestamp(summary.sim_start - 1, dt.UTC).isoformat()
    end = dt.datetime.fromtimestamp(summary.sim_end + 1, dt.UTC).isoformat()
    return list(api.get(f"/api/v1/lamps/{lamp}/readings", params={"start": start, "end": end}).json()["readings"])


def test_every_reading_reports_the_commanded_version(night_run: Any, api: Any) -> None:
    summary, commanded = night_run
    assert summary.stats.acked == summary.stats.readings == LAMPS * (86_400 // INTERVAL_S)
    for lamp, cfg in commanded.items():
        readings = _readings(api, lamp, summary)
        assert len(readings) == 86_400 // INTERVAL_S
        assert {r["cv"] for r in readings} == {cfg["commanded_cv"]}, lamp


def test_lamps_dim_at_the_right_local_times(night_run: Any, api: Any) -> None:
    summary, commanded = night_run
    seen: set[int] = set()
    for lamp in commanded:
        for r in _readings(api, lamp, summary):
            local = dt.datetime.fromisoformat(r["ts"]).astimezone(WIT)
            minutes = local.hour * 60 + local.minute
            if minutes >= 22 * 60 + 10 or minutes < 3 * 60:
                assert r["dim"] == 40, (lamp, local)
            elif 3 * 60 <= minutes < 5 * 60:
                assert r["dim"] == 60, (lamp, local)
            elif 12 * 60 <= minutes < 17 * 60 + 30:
                assert r["dim"] == 0, (lamp, local)
            elif 18 * 60 + 45 <= minutes < 22 * 60:
                assert r["dim"] == 90, (lamp, local)
            seen.add(r["dim"])
    assert {0, 40, 60, 90} <= seen


def test_every_reading_matches_the_reference_evaluator(night_run: Any, api: Any) -> None:
    summary, commanded = night_run
    for lamp, cfg in commanded.items():
        config = cfg["config"]
        lat, lon = config["loc"]

        def sun(day: dt.date, lat: float = lat, lon: float = lon, tz: int = config["tz"]) -> tuple[int, int]:
            return night_sun(lat, lon, day, tz)

        for r in _readings(api, lamp, summary):
            ts = dt.datetime.fromisoformat(r["ts"]).timestamp()
            assert r["dim"] == level_at(config, ts, sun), (lamp, r["ts"])
