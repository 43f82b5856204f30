"""The health report is a valid protocol state message with the documented keys."""

from __future__ import annotations

from firmware.device import codec
from gateway.health import HealthInputs, encode, health_map, offline_payload
from gateway.outbox import ItemClass

RADIO = {"rx": 10, "rx_bad": 1, "rx_lost": 2, "tx": 3, "airtime_s": 0.155, "duty": 0.0004, "coll": 4,
         "tx_deferred": 0}


def inputs(**overrides: object) -> HealthInputs:
    base: dict[str, object] = {
        "started_at": 1_000.0, "queue_depth": {ItemClass.READING: 7, ItemClass.ALARM: 1}, "queue_max": 100,
        "oldest_received_at": 1_500.0, "downlinks_queued": 2,
        "counters": {"forwarded_readings": 50, "dropped_reading": 3, "downlink_sent": 4, "duplicates": 5},
        "backhaul_up": False, "backhaul_since": 1_900.0, "outages": 1, "resent": 6, "local_up": True,
        "radio": RADIO, "rejected": 1,
    }
    return HealthInputs(**(base | overrides))  # type: ignore[arg-type]


def test_health_is_a_codec_state_message():
    t0 = 1_800_000_000.0
    state = codec.decode_state(encode(inputs(started_at=t0, backhaul_since=t0), now=t0 + 60))
    assert (state["st"], state["ts"], state["bearer"]) == ("online", 1_800_000_060, "4g")


def test_health_reports_queue_backhaul_drops_and_radio():
    h = health_map(inputs(), now=2_000.0)
    assert (h["q"], h["q_read"], h["q_alarm"], h["q_diag"], h["q_age_s"]) == (8, 7, 1, 0, 500)
    assert (h["bh"], h["bh_s"], h["bh_outages"]) == ("down", 100, 1)
    assert (h["drop_read"], h["drop_alarm"], h["fwd"], h["dl_sent"], h["dl_q"]) == (3, 0, 50, 4, 2)
    assert {k: h[k] for k in RADIO} == RADIO


def test_health_fits_the_32_entries_a_state_allows():
    assert len(health_map(inputs(), now=2_000.0)) <= 32


def test_empty_queue_has_age_zero():
    assert health_map(inputs(oldest_received_at=None, queue_depth={}), now=2_000.0)["q_age_s"] == 0


def test_last_will_is_the_protocol_offline_state():
    assert offline_payload() == b'{"st":"offline"}'
