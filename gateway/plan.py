"""Capacity planning for one gateway's LoRa lamps: airtime, channel load, collisions, duty cycle.

Pure arithmetic behind ``terang lora plan``; docs/lora.md works an example through it.

Model: every lamp sends one frame of ``app_bytes`` every ``interval_s`` seconds at spreading factor
``sf``, on a channel picked at random among ``channels``; frames at the same SF on the same channel
collide when they overlap (pure ALOHA, no capture). With offered load G per channel (in Erlang,
frames x airtime / time), a frame survives when no other frame starts within one airtime either
side of it: P(success) = exp(-2G).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from firmware.device import airtime


@dataclass(frozen=True)
class PlanInput:
    lamps: int
    sf: int
    app_bytes: int
    interval_s: float
    channels: int = len(airtime.AS923_2_CHANNELS)
    duty_cycle: float = airtime.DUTY_CYCLE
    dwell: bool = True
    # Downlink frame the gateway sends (acks, commands): application bytes, and how many per lamp
    # per day the operator expects.
    downlink_bytes: int = 6
    downlinks_per_lamp_per_day: float = 4.0

    def __post_init__(self) -> None:
        airtime.check_sf(self.sf)
        if self.lamps < 1:
            raise ValueError("lamps: must be at least 1")
        if not 0 <= self.app_bytes <= 242:
            raise ValueError("bytes: an application payload is 0..242 bytes")
        if self.interval_s <= 0:
            raise ValueError("interval: must be positive seconds")
        if self.channels < 1:
            raise ValueError("channels: must be at least 1")
        if not 0 < self.duty_cycle <= 1:
            raise ValueError("duty_cycle: must be in (0, 1]")


@dataclass(frozen=True)
class PlanResult:
    sf: int
    data_rate: int
    phy_bytes: int
    time_on_air_s: float
    max_app_bytes: int | None
    fits_payload: bool
    within_dwell: bool
    lamp_duty_cycle: float
    lamp_duty_headroom: float
    min_interval_s: float
    frames_per_hour: float
    channel_load_erlang: float
    collision_probability: float
    delivered_per_hour: float
    max_lamps_1pct_collisions: int
    max_lamps_10pct_collisions: int
    gateway_downlink_s_per_hour: float
    gateway_downlink_budget_s_per_hour: float
    gateway_downlink_headroom: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def max_lamps(p_collision: float, toa_s: float, interval_s: float, channels: int) -> int:
    """Largest fleet whose pure-ALOHA collision probability stays at or under ``p_collision``."""
    g = -math.log(1.0 - p_collision) / 2.0
    return int(g * channels * interval_s / toa_s)


def plan(inp: PlanInput) -> PlanResult:
    phy = inp.app_bytes + airtime.LORAWAN_OVERHEAD
    toa = airtime.time_on_air(phy, inp.sf)
    cap = airtime.max_app_payload(inp.sf, inp.dwell)
    frames_per_hour = inp.lamps * 3600.0 / inp.interval_s
    g = inp.lamps * toa / (inp.interval_s * inp.channels)
    p_coll = 1.0 - math.exp(-2.0 * g)
    lamp_dc = toa / inp.interval_s
    down_toa = airtime.time_on_air(inp.downlink_bytes + airtime.LORAWAN_OVERHEAD, inp.sf, crc=False)
    down_s_per_hour = inp.lamps * inp.downlinks_per_lamp_per_day / 24.0 * down_toa
    budget = 3600.0 * inp.duty_cycle
    return PlanResult(
        sf=inp.sf,
        data_rate=airtime.data_rate(inp.sf),
        phy_bytes=phy,
        time_on_air_s=toa,
        max_app_bytes=cap,
        fits_payload=cap is not None and inp.app_bytes <= cap,
        within_dwell=toa <= airtime.DWELL_LIMIT_S,
        lamp_duty_cycle=lamp_dc,
        lamp_duty_headroom=inp.duty_cycle / lamp_dc,
        min_interval_s=toa / inp.duty_cycle,
        frames_per_hour=frames_per_hour,
        channel_load_erlang=g,
        collision_probability=p_coll,
        delivered_per_hour=frames_per_hour * (1.0 - p_coll),
        max_lamps_1pct_collisions=max_lamps(0.01, toa, inp.interval_s, inp.channels),
        max_lamps_10pct_collisions=max_lamps(0.10, toa, inp.interval_s, inp.channels),
        gateway_downlink_s_per_hour=down_s_per_hour,
        gateway_downlink_budget_s_per_hour=budget,
        gateway_downlink_headroom=budget / down_s_per_hour if down_s_per_hour > 0 else math.inf,
    )
