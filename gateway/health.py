"""The gateway's health report: a codec ``state`` message on ``terang/v1/<site>/gw/<gw_id>/state``.

Published retained, QoS 1, every ``central.health_interval_s`` and on connect; the Last Will is the
codec's ``{"st":"offline"}``. The figures travel in the state's ``h`` map (at most 32 flat entries);
docs/gateway.md ("Health") names and defines each key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from firmware.device import codec
from gateway.outbox import ItemClass

GATEWAY_FIRMWARE = "0.1.0"

_CLASS_KEYS = {ItemClass.DIAGNOSTIC: "diag", ItemClass.READING: "read", ItemClass.STATE: "state",
               ItemClass.ALARM: "alarm"}


@dataclass(frozen=True)
class HealthInputs:
    started_at: float
    queue_depth: dict[ItemClass, int]
    queue_max: int
    oldest_received_at: float | None
    downlinks_queued: int
    counters: dict[str, int]
    backhaul_up: bool
    backhaul_since: float
    outages: int
    resent: int
    local_up: bool | None = None
    radio: dict[str, int | float] = field(default_factory=dict)
    rejected: int = 0
    bearer: str = "4g"


def health_map(h: HealthInputs, now: float) -> dict[str, object]:
    c = h.counters
    m: dict[str, object] = {
        "up_s": int(now - h.started_at),
        "q": sum(h.queue_depth.values()),
        "q_max": h.queue_max,
        "q_age_s": 0 if h.oldest_received_at is None else max(0, int(now - h.oldest_received_at)),
        "bh": "up" if h.backhaul_up else "down",
        "bh_s": max(0, int(now - h.backhaul_since)),
        "bh_outages": h.outages,
        "resent": h.resent,
        "fwd": c.get("forwarded_readings", 0),
        "dup": c.get("duplicates", 0),
        "rej": h.rejected,
        "dl_q": h.downlinks_queued,
        "dl_sent": c.get("downlink_sent", 0),
        "dl_expired": c.get("downlink_expired", 0),
    }
    for cls, key in _CLASS_KEYS.items():
        m["q_" + key] = h.queue_depth.get(cls, 0)
        m["drop_" + key] = c.get(f"dropped_{cls.name.lower()}", 0)
    if h.local_up is not None:
        m["local"] = "up" if h.local_up else "down"
    m.update(h.radio)
    return m


def encode(h: HealthInputs, now: float | None = None) -> bytes:
    now = time.time() if now is None else now
    return codec.encode_state({"st": "online", "ts": int(now), "fw": GATEWAY_FIRMWARE, "bearer": h.bearer,
                               "h": health_map(h, now)})


def offline_payload() -> bytes:
    return codec.STATE_OFFLINE
