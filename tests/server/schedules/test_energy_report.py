"""Measured energy against the schedule's estimate, per district and night."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from firmware.device import codec
from tests.support.factories import make_district, make_lamps
from tests.support.mqtt import Publisher, wait_for

WIT = dt.timezone(dt.timedelta(hours=9))


def test_energy_report_compares_measured_with_the_estimate(api: Any, mqtt_url: str, sched_site: str,
                                                           run_tag: str) -> None:
    district = make_district(api, sched_site)["id"]
    lamp, _idle = make_lamps(api, sched_site, 2, district_id=district, rated_w=90.0)
    night = (dt.datetime.now(WIT) - dt.timedelta(days=3)).date()
    start = dt.datetime.combine(night, dt.time(18), tzinfo=WIT)
    # Full power from 18:00 to 06:00: 90 W for half an hour is 45 Wh per reading.
    readings = [(k + 1, int((start + dt.timedelta(minutes=30 * k)).timestamp()), 90.0, 226.0, 0.4, 0.98,
                 1000.0 + 45.0 * k, 100, None, 0, None) for k in range(25)]
    pub = Publisher(mqtt_url, f"energy-{run_tag}-{lamp}")
    try:
        pub.publish_all([(codec.lamp_topic(sched_site, lamp, codec.KIND_TELEMETRY), codec.encode_readings(readings))])
    finally:
        pub.close()
    wait_for(lambda: api.get(f"/api/v1/lamps/{lamp}/state").json()["ack_seq"] == 25, timeout=20, what="stored")
    report = api.get("/api/v1/reports/energy", params={"site_id": sched_site, "from": night.isoformat(),
                                                       "to": night.isoformat(), "district_id": district}).json()
    assert report["timezone"] == "Asia/Jayapura"
    (row,) = report["items"]
    assert (row["district_id"], row["date"]) == (district, night.isoformat())
    assert (row["lamps"], row["lamps_reporting"]) == (2, 1)
    assert row["measured_kwh"] == 1.08
    assert 1.0 < row["estimate_kwh"] < 1.16  # sunset to sunrise at 90 W, about 12 h
    assert abs(row["deviation_pct"]) < 8
    assert row["estimate_all_lamps_kwh"] == pytest.approx(2 * row["estimate_kwh"], abs=0.002)


def test_energy_report_refuses_a_reversed_range(api: Any, sched_site: str) -> None:
    r = api.get("/api/v1/reports/energy", params={"site_id": sched_site, "from": "2026-11-10", "to": "2026-11-01"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "from"


def test_energy_report_of_an_unknown_site_is_refused(api: Any) -> None:
    r = api.get("/api/v1/reports/energy", params={"site_id": "nosuchsite"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "site_id"
