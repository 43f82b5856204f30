"""End to end: an operator writes a profile through the API; the server compiles and publishes each
lamp's config; simulated lamps and one real-firmware lamp (MicroPython unix port) take it from their
retained config topic and dim at the right (simulated) times; their stored readings show the level and
the commanded config version.

The simulated lamps run a whole day at high speed. The firmware lamp runs the night before the
current one: its clock is steered through the simulation's control file (``SimLamp.control``) to
windows around each step — sunset, the 22:00 fade, 03:00, sunrise — rather than waiting in real time.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firmware.device import codec
from firmware.tools.simrun import DeviceConfig, SimLamp, prepare
from server.schedules.evaluate import level_at
from server.schedules.sun import local_midnight, night_of, night_sun
from simulator.runner import RunSummary, SimulationConfig, run
from simulator.topology import generate
from tests.support.factories import make_lamp, unique
from tests.support.mqtt import Publisher, wait_for
from tests.support.topology_api import register_topology

LAMPS = 8
INTERVAL_S = 900
WIT = dt.timezone(dt.timedelta(hours=9))
WIT_MINUTES = 540
SEED = 505
STEPS = [
    {"at": "sunset", "level": 90},
    {"at": "clock", "time": "22:00", "level": 40, "fade_s": 600},
    {"at": "clock", "time": "03:00", "level": 60},
    {"at": "sunrise", "level": 0},
]
FW_INTERVAL_S = 10  # the protocol's shortest report interval: a reading every 10 s of lamp time
FW_SPEED = 200  # lamp time runs this much faster inside each window
SUN_TOLERANCE_S = 120  # the lamp computes its own sun times; they agree with the server's to 2 min
AROUND_SUN_S = 150  # steered windows reach this far either side of sunset and sunrise
LEAD_S = 120  # each window's run starts this much earlier: the lamp notices a jump late


@dataclass(frozen=True)
class FirmwareNight:
    lamp: str
    commanded: dict[str, Any]  # GET /lamps/{id}/config when the night began
    night: dt.date  # the local date the steered night begins on
    sunset: int
    sunrise: int
    windows: list[tuple[int, int]]  # (from, to) Unix s of lamp time actually run


@dataclass(frozen=True)
class NightRun:
    summary: RunSummary
    commanded: dict[str, dict[str, Any]]  # simulated lamp -> GET /lamps/{id}/config
    firmware: FirmwareNight


# One simulated night serves every test of the module; built on first use with the test's own
# (authenticated) API client.
_RUN: dict[str, NightRun] = {}


@pytest.fixture
def night_run(server: Any, api: Any, site_ids: list[str], tmp_path_factory: pytest.TempPathFactory) -> NightRun:
    if "night" not in _RUN:
        _RUN["night"] = _simulate_night(server, api, site_ids[1], tmp_path_factory.mktemp("fw-e2e"))
    return _RUN["night"]


def _simulate_night(server: Any, api: Any, site: str, state_dir: Path) -> NightRun:
    topology = generate(LAMPS, SEED, site)
    register_topology(api, topology, INTERVAL_S)
    fw_lamp = str(make_lamp(api, site, report_interval_s=FW_INTERVAL_S)["id"])
    ids = [*topology.lamps.ids, fw_lamp]
    profile = api.post("/api/v1/profiles", json={"site_id": site, "name": unique("malam-"), "steps": STEPS})
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
    fw_config = commanded.pop(fw_lamp)
    lamp = _boot_firmware_lamp(server, site, fw_lamp, state_dir)
    try:
        summary = run(SimulationConfig(mqtt_url=server.mqtt_url, site_id=site, lamps=LAMPS, seed=SEED,
                                       interval_s=INTERVAL_S, speed=1_000_000.0, duration_s=86_400.0, drain_s=30.0))
        firmware = _steer_through_the_night(api, lamp, fw_lamp, fw_config)
    finally:
        lamp.stop()
        _clear_lamp_retained(server.mqtt_url, site, fw_lamp)
    return NightRun(summary, commanded, firmware)


# --- the real-firmware lamp -----------------------------------------------------------------------
def _steered_night() -> dt.date:
    """The night before the current one: all of it lies in the past, where readings belong."""
    return night_of(time.time(), WIT_MINUTES) - dt.timedelta(days=1)


def _at(day: dt.date, hh: int, mm: int) -> int:
    return local_midnight(day, WIT_MINUTES) + hh * 3600 + mm * 60


def _boot_firmware_lamp(server: Any, site: str, lamp_id: str, state_dir: Path) -> SimLamp:
    # Booted in the afternoon before the night at real pace: the retained config arrives long before
    # the first reading is due, so every reading carries it.
    day = _steered_night()
    prepare(state_dir, DeviceConfig(lamp=lamp_id, site=site, broker=server.mqtt_url, keepalive=10),
            control={"speed": 1, "t0": _at(day, 16, 0), "anchor": time.time()})
    return SimLamp(state_dir).start()


def _steer_through_the_night(api: Any, lamp: SimLamp, lamp_id: str, commanded: dict[str, Any]) -> FirmwareNight:
    cv = commanded["commanded_cv"]
    booted = lamp.wait_status(lambda s: s.get("cv") == cv and s.get("connected"), timeout=30)
    day = _steered_night()
    lat, lon = commanded["config"]["loc"]
    sunset, sunrise = night_sun(lat, lon, day, WIT_MINUTES)
    windows = [
        (sunset - AROUND_SUN_S, sunset + AROUND_SUN_S),
        (_at(day, 21, 59), _at(day, 22, 11)),  # the 22:00 step fades to 40 over 10 minutes
        (_at(day + dt.timedelta(days=1), 2, 59), _at(day + dt.timedelta(days=1), 3, 1)),
        (sunrise - AROUND_SUN_S, sunrise + AROUND_SUN_S),
    ]
    # Speed up while still in the afternoon: the lamp's control loop, asleep for a second of real
    # time at real pace, takes the new pace once it wakes.
    lamp.control(speed=FW_SPEED)
    lamp.wait_status(lambda s: s.get("rtc", -1) >= booted["rtc"] + 120, timeout=20)
    for start, end in windows:
        # The lamp reads its control file every fifth of a second of real time; LEAD_S of its time
        # is over half a second. The windows lie hours apart: its clock reaches `end` only by jumping.
        lamp.control(world=start - LEAD_S)
        lamp.wait_status(_clock_reached(end), timeout=30)
    lamp.control(speed=1)
    done = lamp.wait_status(lambda s: s.get("connected") and s["jp"] == 0 and s["wm"] == s["next_seq"] - 1,
                            timeout=30)
    wait_for(lambda: len(_stored(api, lamp_id, day)) >= done["wm"], timeout=30,
             what="the firmware lamp's readings stored")
    return FirmwareNight(lamp_id, commanded, day, sunset, sunrise, windows)


def _clock_reached(t: int) -> Callable[[dict[str, Any]], bool]:
    return lambda status: int(status.get("rtc", -1)) >= t


def _clear_lamp_retained(mqtt_url: str, site: str, lamp_id: str) -> None:
    """The lamp's retained state and the server's retained ack: nothing left on the shared broker."""
    pub = Publisher(mqtt_url, f"e2e-clear-{lamp_id}-{time.monotonic_ns()}")
    try:
        pub.publish_all([(codec.lamp_topic(site, lamp_id, kind), b"") for kind in (codec.KIND_STATE, codec.KIND_ACK)],
                        timeout=10)
    finally:
        pub.close()


def _stored(api: Any, lamp: str, night: dt.date) -> list[dict[str, Any]]:
    start = dt.datetime.fromtimestamp(_at(night, 12, 0), dt.UTC).isoformat()
    end = dt.datetime.fromtimestamp(_at(night + dt.timedelta(days=1), 12, 0), dt.UTC).isoformat()
    r = api.get(f"/api/v1/lamps/{lamp}/readings", params={"start": start, "end": end, "limit": 10_000})
    r.raise_for_status()
    return list(r.json()["readings"])


@pytest.fixture
def firmware_readings(night_run: NightRun, api: Any) -> tuple[FirmwareNight, list[dict[str, Any]]]:
    fw = night_run.firmware
    return fw, _stored(api, fw.lamp, fw.night)


# --- the simulated lamps --------------------------------------------------------------------------
def _readings(api: Any, lamp: str, summary: RunSummary) -> list[dict[str, Any]]:
    start = dt.datetime.fromtimestamp(summary.sim_start - 1, dt.UTC).isoformat()
    end = dt.datetime.fromtimestamp(summary.sim_end + 1, dt.UTC).isoformat()
    return list(api.get(f"/api/v1/lamps/{lamp}/readings", params={"start": start, "end": end}).json()["readings"])


def _sun_fn(config: dict[str, Any]) -> Any:
    lat, lon = config["loc"]

    def sun(day: dt.date) -> tuple[int, int]:
        return night_sun(lat, lon, day, config["tz"])

    return sun


def test_every_reading_reports_the_commanded_version(night_run: NightRun, api: Any) -> None:
    summary, commanded = night_run.summary, night_run.commanded
    assert summary.stats.acked == summary.stats.readings == LAMPS * (86_400 // INTERVAL_S)
    for lamp, cfg in commanded.items():
        readings = _readings(api, lamp, summary)
        assert len(readings) == 86_400 // INTERVAL_S
        assert {r["cv"] for r in readings} == {cfg["commanded_cv"]}, lamp


def test_lamps_dim_at_the_right_local_times(night_run: NightRun, api: Any) -> None:
    summary, commanded = night_run.summary, night_run.commanded
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


def test_every_reading_matches_the_reference_evaluator(night_run: NightRun, api: Any) -> None:
    summary, commanded = night_run.summary, night_run.commanded
    for lamp, cfg in commanded.items():
        config = cfg["config"]
        sun = _sun_fn(config)
        for r in _readings(api, lamp, summary):
            ts = dt.datetime.fromisoformat(r["ts"]).timestamp()
            assert r["dim"] == level_at(config, ts, sun), (lamp, r["ts"])


# --- the real-firmware lamp -----------------------------------------------------------------------
def test_firmware_lamp_reports_the_commanded_version(firmware_readings: Any) -> None:
    fw, readings = firmware_readings
    assert len(readings) >= 100  # ~24 minutes of lamp time, a reading every 10 s
    assert {r["cv"] for r in readings} == {fw.commanded["commanded_cv"]}
    assert fw.commanded["config"]["ri"] == FW_INTERVAL_S


def test_firmware_lamp_readings_fall_in_the_steered_windows(firmware_readings: Any) -> None:
    fw, readings = firmware_readings
    # The lamp's clock went where it was sent: each window holds readings, 10 s apart.
    for start, end in fw.windows:
        inside = sorted(int(dt.datetime.fromisoformat(r["ts"]).timestamp()) for r in readings
                        if start <= dt.datetime.fromisoformat(r["ts"]).timestamp() < end)
        assert len(inside) >= (end - start) // FW_INTERVAL_S // 2, (start, end, len(inside))


def _dims_between(fw: FirmwareNight, readings: list[dict[str, Any]], start: int, end: int) -> set[int]:
    return {r["dim"] for r in readings if start <= dt.datetime.fromisoformat(r["ts"]).timestamp() < end}


def test_firmware_lamp_dims_at_the_right_local_times(firmware_readings: Any) -> None:
    fw, readings = firmware_readings
    day, next_day = fw.night, fw.night + dt.timedelta(days=1)
    late = SUN_TOLERANCE_S  # the lamp's own sun may be this far from the server's
    expected = [
        ("before sunset: off", fw.sunset - AROUND_SUN_S, fw.sunset - late, {0}),
        ("after sunset: 90", fw.sunset + late, fw.sunset + AROUND_SUN_S, {90}),
        ("before 22:00: 90", _at(day, 21, 59), _at(day, 22, 0), {90}),
        ("fade done by 22:10: 40", _at(day, 22, 10), _at(day, 22, 11), {40}),
        ("before 03:00: 40", _at(next_day, 2, 59), _at(next_day, 3, 0), {40}),
        ("from 03:00: 60", _at(next_day, 3, 0), _at(next_day, 3, 1), {60}),
        ("before sunrise: 60", fw.sunrise - AROUND_SUN_S, fw.sunrise - late, {60}),
        ("after sunrise: off", fw.sunrise + late, fw.sunrise + AROUND_SUN_S, {0}),
    ]
    seen = {name: _dims_between(fw, readings, a, b) for name, a, b, _ in expected}
    assert seen == {name: levels for name, _a, _b, levels in expected}
    # Between 22:00 and 22:10 the lamp ramps down from 90 to 40, as the readings show.
    ramp = [r["dim"] for r in sorted(readings, key=lambda r: r["ts"])
            if _at(day, 22, 0) < dt.datetime.fromisoformat(r["ts"]).timestamp() < _at(day, 22, 10)]
    assert ramp == sorted(ramp, reverse=True) and len(set(ramp)) >= 20, ramp
    assert min(ramp) >= 40 and max(ramp) <= 90, ramp


def test_firmware_lamp_matches_the_reference_evaluator(firmware_readings: Any) -> None:
    fw, readings = firmware_readings
    config = fw.commanded["config"]
    sun = _sun_fn(config)
    off: list[tuple[str, int, int]] = []
    for r in readings:
        ts = dt.datetime.fromisoformat(r["ts"]).timestamp()
        if min(abs(ts - fw.sunset), abs(ts - fw.sunrise)) <= SUN_TOLERANCE_S:
            continue  # the lamp's own sunset/sunrise, within 2 min of astral's
        if r["dim"] != level_at(config, ts, sun):
            off.append((r["ts"], r["dim"], level_at(config, ts, sun)))
    assert off == []
