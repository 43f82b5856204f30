"""The server acknowledges with a contiguous per-lamp watermark, published retained on the lamp's
ack topic, asks for gaps, and moves past ranges the device reports lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from firmware.device import codec
from tests.conftest import RUN_TAG
from tests.support.factories import make_lamp
from tests.support.mqtt import Publisher, Subscriber, wait_for


def reading(seq: int) -> dict[str, Any]:
    return {"seq": seq, "ts": int(time.time()) - 600 + seq, "p": 70.0, "v": 220.0, "i": 0.33, "pf": 0.96,
            "e": 500.0 + seq, "dim": 100}


@pytest.fixture
def lamp(api: httpx.Client, site_id: str) -> str:
    return str(make_lamp(api, site_id)["id"])


@pytest.fixture
def acks(mqtt_url: str, site_id: str, lamp: str) -> Iterator[Subscriber]:
    sub = Subscriber(mqtt_url, f"acks-{RUN_TAG}-{lamp}", [codec.lamp_topic(site_id, lamp, codec.KIND_ACK)])
    yield sub
    sub.close()


def latest_ack(sub: Subscriber) -> tuple[int, list[tuple[int, int]]] | None:
    got = sub.received()
    return codec.decode_ack(got[-1][1]) if got else None


def send(publisher: Publisher, site: str, lamp: str, kind: str, obj: Any) -> None:
    publisher.publish_all([(codec.lamp_topic(site, lamp, kind), json.dumps(obj).encode())])


def test_ack_is_the_last_seq_of_a_contiguous_run(
    publisher: Publisher, acks: Subscriber, site_id: str, lamp: str
) -> None:
    send(publisher, site_id, lamp, "telemetry", [reading(s) for s in (1, 2, 3)])
    assert wait_for(lambda: latest_ack(acks) == (3, []), what="ack 3")


def test_ack_stops_below_a_gap_and_names_it(publisher: Publisher, acks: Subscriber, site_id: str, lamp: str) -> None:
    send(publisher, site_id, lamp, "telemetry", [reading(s) for s in (1, 2, 5, 6)])
    assert wait_for(lambda: latest_ack(acks) == (2, [(3, 4)]), what="ack 2 asking for 3-4")


def test_filling_the_gap_moves_the_ack_past_it(publisher: Publisher, acks: Subscriber, site_id: str, lamp: str) -> None:
    send(publisher, site_id, lamp, "telemetry", [reading(s) for s in (1, 4)])
    wait_for(lambda: latest_ack(acks) == (1, [(2, 3)]), what="ack 1")
    send(publisher, site_id, lamp, "telemetry", [reading(s) for s in (2, 3)])
    assert wait_for(lambda: latest_ack(acks) == (4, []), what="ack 4")


def test_drop_event_moves_the_ack_past_the_lost_range(
    publisher: Publisher, acks: Subscriber, site_id: str, lamp: str
) -> None:
    send(publisher, site_id, lamp, "telemetry", [reading(s) for s in (1, 2, 9, 10)])
    wait_for(lambda: latest_ack(acks) == (2, [(3, 8)]), what="ack 2")
    send(publisher, site_id, lamp, "event", {"ts": int(time.time()), "ev": "drop", "from": 3, "to": 8})
    assert wait_for(lambda: latest_ack(acks) == (10, []), what="ack 10 after the drop")


def test_ack_is_retained_for_a_device_that_reconnects(
    publisher: Publisher, acks: Subscriber, mqtt_url: str, site_id: str, lamp: str
) -> None:
    send(publisher, site_id, lamp, "telemetry", reading(1))
    wait_for(lambda: latest_ack(acks) == (1, []), what="ack 1")
    late = Subscriber(mqtt_url, f"late-{RUN_TAG}-{lamp}", [codec.lamp_topic(site_id, lamp, codec.KIND_ACK)])
    try:
        assert wait_for(lambda: latest_ack(late) == (1, []), what="the retained ack")
    finally:
        late.close()


def test_republishing_a_batch_stores_nothing_new(
    publisher: Publisher, acks: Subscriber, site_id: str, lamp: str, database_url: str
) -> None:
    batch = [reading(s) for s in range(1, 11)]
    send(publisher, site_id, lamp, "telemetry", batch)
    wait_for(lambda: latest_ack(acks) == (10, []), what="ack 10")
    acks.messages.clear()
    send(publisher, site_id, lamp, "telemetry", batch)
    wait_for(lambda: latest_ack(acks) == (10, []), what="the ack of the replay")
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM readings r JOIN lamps l ON l.key = r.lamp_key WHERE l.id = %s", (lamp,)
        ).fetchone()
    assert row == (10,)


def test_the_same_event_twice_is_stored_once(
    publisher: Publisher, api: httpx.Client, site_id: str, lamp: str, database_url: str
) -> None:
    event = {"ts": int(time.time()), "ev": "boot", "rc": "wdt", "fw": "1.2.3"}
    send(publisher, site_id, lamp, "event", event)
    send(publisher, site_id, lamp, "event", event)
    send(publisher, site_id, lamp, "telemetry", reading(1))

    def events() -> int:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM lamp_events e JOIN lamps l ON l.key = e.lamp_key WHERE l.id = %s", (lamp,)
            ).fetchone()
        return int(row[0]) if row else 0

    wait_for(lambda: api.get(f"/api/v1/lamps/{lamp}/state").json()["latest"] is not None, what="the reading")
    assert events() == 1


def test_state_message_sets_online_and_last_will_sets_offline(
    publisher: Publisher, api: httpx.Client, site_id: str, lamp: str
) -> None:
    send(publisher, site_id, lamp, "state", {"st": "online", "fw": "1.0.0"})
    wait_for(lambda: api.get(f"/api/v1/lamps/{lamp}/state").json()["online"] is True, what="online")
    publisher.publish_all([(codec.lamp_topic(site_id, lamp, "state"), codec.STATE_OFFLINE)])
    assert wait_for(lambda: api.get(f"/api/v1/lamps/{lamp}/state").json()["online"] is False, what="offline")
