"""Every kind of bad telemetry lands in the dead-letter table with its reason, and the worker goes
on to ingest the next good message."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.support.factories import make_lamp
from tests.support.mqtt import Publisher, wait_for


def reading(seq: int, **changes: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"seq": seq, "ts": int(time.time()) - 60, "p": 80.5, "v": 221.0, "i": 0.37,
                         "pf": 0.96, "e": 1234.5, "dim": 100}
    r.update(changes)
    return {k: v for k, v in r.items() if v is not ...}


def as_json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


BAD_PAYLOADS: dict[str, tuple[str, bytes]] = {
    "non-utf8": ("not_utf8", b'{"seq": 1, "note": "\xff\xfe"}'),
    "truncated-json": ("bad_json", b'{"seq": 1, "ts": 17'),
    "string-not-object": ("wrong_shape", b'"hello"'),
    "array-of-numbers": ("wrong_shape", b"[1, 2, 3]"),
    "missing-pf": ("missing_key", as_json(reading(1, pf=...))),
    "extra-key": ("unknown_key", as_json(reading(1, colour="red"))),
    "dim-as-string": ("wrong_type", as_json(reading(1, dim="100"))),
    "seq-as-bool": ("wrong_type", as_json(reading(1) | {"seq": True})),
    "nan-power": ("non_finite", b'{"seq": 1, "ts": 1764300000, "p": NaN, "v": 220, "i": 0.4, "pf": 0.9, '
                                b'"e": 1, "dim": 100}'),
    "infinite-voltage": ("non_finite", b'{"seq": 1, "ts": 1764300000, "p": 1, "v": Infinity, "i": 0.4, '
                                       b'"pf": 0.9, "e": 1, "dim": 100}'),
    "dim-150": ("out_of_range", as_json(reading(1, dim=150))),
    "pf-2": ("out_of_range", as_json(reading(1, pf=2))),
    "negative-voltage": ("out_of_range", as_json(reading(1, v=-1.0))),
    "two-days-ahead": ("future_timestamp", as_json(reading(1, ts=int(time.time()) + 2 * 86400))),
    "older-than-retention": ("stale_timestamp", as_json(reading(1, ts=int(time.time()) - 500 * 86400))),
    "empty-batch": ("empty_batch", b"[]"),
    "batch-over-cap": ("batch_too_large", as_json([reading(n) for n in range(501)])),
    "payload-over-cap": ("payload_too_large", b" " * (64 * 1024 + 1)),
}


def _stored_seq(api: httpx.Client, lamp_id: str) -> int | None:
    latest = api.get(f"/api/v1/lamps/{lamp_id}/state").json()["latest"]
    return None if latest is None else int(latest["seq"])


def _dead_letters(api: httpx.Client, topic: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/api/v1/dead-letters", params={"topic_prefix": topic}).json()["items"]
    return items


@pytest.mark.parametrize("case", list(BAD_PAYLOADS))
def test_bad_telemetry_is_dead_lettered_and_the_next_good_message_is_stored(
    case: str, api: httpx.Client, site_id: str, publisher: Publisher
) -> None:
    reason, payload = BAD_PAYLOADS[case]
    lamp = make_lamp(api, site_id)["id"]
    topic = f"terang/v1/{site_id}/lamp/{lamp}/telemetry"
    publisher.publish_all([(topic, payload), (topic, as_json(reading(7)))])
    wait_for(lambda: _stored_seq(api, lamp) == 7, what="the good reading after the bad one")
    letters = wait_for(lambda: _dead_letters(api, topic), what="a dead letter")
    assert [d["reason"] for d in letters] == [reason]


def test_dead_letter_keeps_a_bounded_copy_of_the_raw_payload(
    api: httpx.Client, site_id: str, publisher: Publisher
) -> None:
    lamp = make_lamp(api, site_id)["id"]
    topic = f"terang/v1/{site_id}/lamp/{lamp}/telemetry"
    publisher.publish_all([(topic, b" " * (64 * 1024 + 1))])
    letter = wait_for(lambda: _dead_letters(api, topic), what="a dead letter")[0]
    assert letter["payload_size"] == 64 * 1024 + 1
    assert len(letter["payload_text"]) == 4096


def test_reading_of_an_unregistered_lamp_is_dead_lettered(
    api: httpx.Client, site_id: str, publisher: Publisher
) -> None:
    topic = f"terang/v1/{site_id}/lamp/ghost-{time.monotonic_ns()}/telemetry"
    publisher.publish_all([(topic, as_json(reading(1)))])
    assert wait_for(lambda: _dead_letters(api, topic), what="a dead letter")[0]["reason"] == "unknown_lamp"


def test_reading_published_under_another_site_is_dead_lettered(
    api: httpx.Client, site_id: str, site_ids: list[str], publisher: Publisher
) -> None:
    lamp = make_lamp(api, site_id)["id"]
    topic = f"terang/v1/{site_ids[1]}/lamp/{lamp}/telemetry"
    publisher.publish_all([(topic, as_json(reading(1)))])
    letter = wait_for(lambda: _dead_letters(api, topic), what="a dead letter")[0]
    assert letter["reason"] == "site_mismatch"
    assert site_id in letter["detail"]


def test_topic_with_an_invalid_lamp_id_is_dead_lettered(
    api: httpx.Client, site_id: str, publisher: Publisher
) -> None:
    topic = f"terang/v1/{site_id}/lamp/bad.id/telemetry"
    publisher.publish_all([(topic, as_json(reading(1)))])
    assert wait_for(lambda: _dead_letters(api, topic), what="a dead letter")[0]["reason"] == "bad_topic"


def test_energy_counter_going_backwards_is_stored_and_flagged(
    api: httpx.Client, site_id: str, publisher: Publisher
) -> None:
    lamp = make_lamp(api, site_id)["id"]
    topic = f"terang/v1/{site_id}/lamp/{lamp}/telemetry"
    now = int(time.time())
    publisher.publish_all([(topic, as_json([reading(1, ts=now - 120, e=500.0), reading(2, ts=now - 60, e=20.0)]))])
    wait_for(lambda: _stored_seq(api, lamp) == 2, what="both readings")
    rows = api.get(f"/api/v1/lamps/{lamp}/readings").json()["readings"]
    assert [(r["seq"], r["q"]) for r in rows] == [(1, 0), (2, 1)]


def test_rejections_are_counted_by_reason(api: httpx.Client, site_id: str, publisher: Publisher) -> None:
    before = api.get("/api/v1/stats/ingest").json()["rejected_by_reason"].get("empty_batch", 0)
    lamp = make_lamp(api, site_id)["id"]
    topic = f"terang/v1/{site_id}/lamp/{lamp}/telemetry"
    publisher.publish_all([(topic, b"[]"), (topic, b"[]")])
    wait_for(lambda: len(_dead_letters(api, topic)) == 2, what="two dead letters")
    after = wait_for(
        lambda: api.get("/api/v1/stats/ingest").json()["rejected_by_reason"].get("empty_batch", 0) - before >= 2,
        what="the counter",
    )
    assert after
