"""The simulator's LoRa lamps through the air and real gateway processes (``--lora-via-gateway``):
every reading of every lamp, LoRa or not, is stored exactly once."""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.runner import SimulationConfig, run
from simulator.topology import LORA, generate
from tests.lora.conftest import stored_seqs

# 16 lamps of which 7 talk LoRa to 2 gateways (this seed keeps the number of gateway processes low).
LAMPS = 16
SEED = 53
# Two simulated hours in 15 s: the first readings are far older than an 11-byte reading frame can
# date (the gateway rebuilds its 12-bit time against its own clock), so they go in batch frames.
DURATION_S = 7200.0
SPEED = 480.0
INTERVAL_S = 600


def test_a_simulated_lora_fleet_through_the_gateways_stores_every_reading_exactly_once(
        lora_centre: Any, lora_api: Any, lora_site: str, database_url: str, role_tokens: dict[str, str]) -> None:
    topology = generate(LAMPS, SEED, lora_site)
    lora = (topology.lamps.radio == LORA) & (topology.lamps.gateway >= 0)
    assert lora.sum() >= 5 and len(set(topology.lamps.gateway[lora].tolist())) == 2
    summary = run(SimulationConfig(mqtt_url=lora_centre.mqtt_url, api_url=lora_centre.api_url,
                                   api_token=role_tokens["technician"], site_id=lora_site,
                                   lamps=LAMPS, seed=SEED, interval_s=INTERVAL_S, speed=SPEED,
                                   duration_s=DURATION_S, drain_s=120.0, lora_via_gateway=True))
    assert summary.drained
    assert summary.lora is not None and summary.lora.uplinks > 0
    per_lamp = int(DURATION_S // INTERVAL_S)
    for k, lamp in enumerate(topology.lamps.ids):
        seqs = stored_seqs(database_url, lamp)
        assert seqs == list(range(1, len(seqs) + 1)), f"{lamp} ({'LoRa' if lora[k] else 'broker'}): {seqs}"
        assert len(seqs) >= per_lamp - 1
    lora_readings = sum(len(stored_seqs(database_url, lamp)) for lamp in np.array(topology.lamps.ids)[lora])
    assert summary.lora.readings_sent >= lora_readings  # they went over the air, not to the broker
