"""The real firmware as a LoRa lamp (MicroPython unix port, simulation HAL) through the simulated air
and the real gateway process to the real server: stored exactly once, journal trimmed by the
gateway's watermark, config changes as deltas reported as cv, replay within the duty cycle."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from firmware.tools.simrun import DeviceConfig, SimLamp, prepare
from tests.lora.conftest import SPEED, Air, stored_seqs
from tests.support.factories import make_lamp
from tests.support.mqtt import wait_for

# The world starts 40 minutes back so that at SPEED it stays behind real time for the whole test:
# a LoRa reading frame carries 12 bits of time, which the gateway rebuilds against its own clock.
WORLD_BEHIND_S = 2400


@pytest.fixture
def lora_lamp(tmp_path: Path, lora_api: httpx.Client, lora_site: str) -> Iterator[Callable[..., tuple[str, SimLamp]]]:
    lamps: list[SimLamp] = []

    def start(air: Air, **lora: Any) -> tuple[str, SimLamp]:
        # Registered first: the server compiles the lamp's config (a reading every 10 s) and the
        # gateway holds it for the lamp's first receive window.
        lamp_id = str(make_lamp(lora_api, lora_site, radio="lora", report_interval_s=10)["id"])
        wait_for(lambda: lora_api.get(f"/api/v1/lamps/{lamp_id}/config").json().get("published_at"),
                 timeout=30, what="the lamp's config published")
        state = tmp_path / lamp_id
        lora.setdefault("sf", 7)
        lora["medium"] = air.medium_address
        cfg = DeviceConfig(lamp=lamp_id, site=lora_site, broker="mqtt://127.0.0.1:1",
                           extra={"bearer": "lora", "lora": lora, "heap_ms": 1000})
        now = time.time()
        prepare(state, cfg, control={"speed": SPEED, "t0": int(now) - WORLD_BEHIND_S, "anchor": now})
        lamp = SimLamp(state).start()
        lamps.append(lamp)
        return lamp_id, lamp

    yield start
    for lamp in lamps:
        lamp.stop()


def config_of(api: httpx.Client, lamp: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/api/v1/lamps/{lamp}/config").json()
    return body


def exactly_once(database_url: str, lamp: str, upto: int, timeout: float = 30) -> list[int]:
    wait_for(lambda: len(set(stored_seqs(database_url, lamp))) >= upto, timeout=timeout,
             what=f"readings 1..{upto} of {lamp} stored")
    seqs = stored_seqs(database_url, lamp)
    assert len(seqs) == len(set(seqs)), "a reading was stored twice"
    assert seqs[:upto] == list(range(1, upto + 1)), "a reading is missing"
    return seqs


def test_readings_of_a_firmware_lora_lamp_are_stored_exactly_once_through_the_gateway(
        air: Air, lora_lamp: Any, database_url: str) -> None:
    lamp_id, lamp = lora_lamp(air)
    st = lamp.wait_status(lambda s: s.get("next_seq", 0) > 12, 40)
    exactly_once(database_url, lamp_id, st["next_seq"] - 2)
    end = lamp.status()
    assert end["lora_refused"] == 0  # the lamp kept its own duty cycle: the air refused nothing
    assert 0 < end["heap"] - end["heap_code"] < 40 * 1024  # steady-state data within the budget


def test_the_journal_is_trimmed_by_the_gateways_watermark_while_its_backhaul_is_down(
        air: Air, lora_lamp: Any, database_url: str) -> None:
    lamp_id, lamp = lora_lamp(air)
    lamp.wait_status(lambda s: s.get("wm", 0) >= 3, 40)
    air.backhaul.cut()
    try:
        before = len(stored_seqs(database_url, lamp_id))
        # Custody: the gateway holds the readings on disk and acknowledges them, server or not.
        st = lamp.wait_status(lambda s: s["wm"] >= before + 8 and s["jp"] <= 4, 40)
        assert len(stored_seqs(database_url, lamp_id)) <= before + 1  # the server saw none of that
    finally:
        air.backhaul.restore()
    exactly_once(database_url, lamp_id, st["wm"], timeout=40)


def test_a_config_change_reaches_the_lamp_as_a_delta_and_is_reported_as_cv(
        air: Air, lora_lamp: Any, lora_api: httpx.Client, database_url: str) -> None:
    lamp_id, lamp = lora_lamp(air)
    first = lamp.wait_status(lambda s: s.get("cv") is not None and s.get("wm", 0) >= 2, 40)
    assert first["lora_delta"] == "full"  # the lamp had no config: the gateway sent it whole
    r = lora_api.post("/api/v1/overrides", json={"target_type": "lamp", "target_id": lamp_id, "level": 40,
                                                 "duration_s": 7200, "reason": "LoRa delta test"})
    assert r.status_code == 201, r.text
    new_cv = wait_for(lambda: (c := config_of(lora_api, lamp_id))["commanded_cv"] > first["cv"]
                      and c["commanded_cv"], timeout=30, what="a new config version compiled")
    st = lamp.wait_status(lambda s: s.get("cv") == new_cv, 40)
    assert st["lora_delta"] == "delta"
    # The server learns the version in effect from the readings the gateway rebuilt for it.
    wait_for(lambda: config_of(lora_api, lamp_id)["in_effect_cv"] == new_cv, timeout=30,
             what="the server sees the new cv in effect")
    assert lora_api.get(f"/api/v1/lamps/{lamp_id}/state").json()["latest"]["cv"] == new_cv


def test_after_the_gateway_was_away_the_lamp_replays_its_journal_within_its_duty_cycle(
        air: Air, lora_lamp: Any, database_url: str) -> None:
    lamp_id, lamp = lora_lamp(air)
    lamp.wait_status(lambda s: s.get("wm", 0) >= 3, 40)
    air.gateway.kill()
    away = lamp.wait_status(lambda s: s["jp"] >= 12, 40)
    air.gateway.start()
    end = lamp.wait_status(lambda s: s["wm"] >= away["next_seq"] - 1 and s["jp"] <= 4, 60)
    exactly_once(database_url, lamp_id, end["wm"], timeout=40)
    assert end["lora_refused"] == 0  # batches went out no faster than 1 % allows
