"""Through the whole server: lamps publish over MQTT, ingestion stores, the fault engine (on the wall
clock) opens an alert that the API shows, assigned to the district's crew."""

from __future__ import annotations

import time
from typing import Any

from firmware.device import codec
from tests.support.factories import make_cabinet, make_district, make_lamps, unique
from tests.support.mqtt import Publisher, wait_for


def _reading(seq: int, ts: int, p: float) -> tuple[Any, ...]:
    return (seq, ts, p, 224.0, round(p / 224 / 0.97, 3), 0.97, 1000.0 + seq * 8, 100, 30.0, 0, None)


def test_a_lamp_reporting_dark_over_mqtt_gets_an_alert_for_its_crew(api: Any, site_ids: list[str],
                                                                     mqtt_url: str, run_tag: str) -> None:
    site = site_ids[2]
    from tests.support.factories import ensure_site

    ensure_site(api, site)
    district = make_district(api, site)["id"]
    cabinet = make_cabinet(api, site, district)["id"]
    crew = unique("crew")
    assert api.post("/api/v1/crews", json={"id": crew, "site_id": site, "name": "Regu", "districts": [district]}
                    ).status_code == 201
    lamps = make_lamps(api, site, 5, district_id=district, cabinet_id=cabinet, rated_w=100.0)
    pub = Publisher(mqtt_url, f"faults-e2e-{run_tag}")
    try:
        now = int(time.time())
        for seq in (1, 2):
            batch = [(codec.lamp_topic(site, lamp, codec.KIND_TELEMETRY),
                      codec.encode_readings([_reading(seq, now - 600 + 300 * seq, 0.6 if k == 0 else 101.0)]))
                     for k, lamp in enumerate(lamps)]
            pub.publish_all(batch)

            def stored(seq: int = seq) -> bool:
                return all(api.get(f"/api/v1/lamps/{lamp}/state").json()["ack_seq"] == seq for lamp in lamps)

            wait_for(stored, timeout=20, what=f"reading {seq} stored")
            time.sleep(2.5)  # the engine ticks every second in tests: let it see this reading
    finally:
        pub.close()
    found = wait_for(lambda: api.get("/api/v1/alerts", params={"subject_id": lamps[0]}).json()["items"],
                     timeout=20, what="the lamp failure alert")
    (alert,) = found
    assert (alert["fault_type"], alert["status"], alert["crew_id"]) == ("lamp_failure", "open", crew)
    assert (alert["district_id"], alert["cabinet_id"]) == (district, cabinet)
    others = api.get("/api/v1/alerts", params={"cabinet_id": cabinet, "limit": 100}).json()["items"]
    assert [a["subject_id"] for a in others] == [lamps[0]]
