"""Nothing is lost: the real firmware journals through broker outages and power cuts, replays in
batches, and trims its journal only after the server's acknowledgement."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware.device import codec
from firmware.tools.simrun import SimLamp
from server.embedded.broker import MosquittoBroker
from tests.firmware.conftest import FakeServer, Observer, config, timika, world_control
from tests.support.mqtt import wait_for


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    # Own broker: it is stopped mid-test. `user` keeps persistence writable when tests run as root.
    b = MosquittoBroker(tmp_path / "broker").start()
    yield b
    b.stop()


def copies_by_seq(obs: Observer, lamp: str) -> dict[int, set[tuple[Any, ...]]]:
    out: dict[int, set[tuple[Any, ...]]] = {}
    for r in obs.readings(lamp):
        out.setdefault(r[0], set()).add(r)
    return out


def test_broker_outage_every_reading_arrives_once_and_the_journal_is_trimmed(
    make_lamp: Callable[..., SimLamp], broker: MosquittoBroker, site: str
) -> None:
    obs = Observer(broker.url, site, persistent=True).start()
    server = FakeServer(obs, "L1").start()
    try:
        obs.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
        lamp = make_lamp("L1", broker=broker.url, control=world_control(timika(2, 20), 40))
        lamp.wait_status(lambda s: s.get("wm", 0) >= 2, 20)
        broker.stop()
        during = lamp.wait_status(lambda s: not s["connected"] and s["jp"] >= 6, 30)
        assert during["level"] == 100 and during["why"] == "schedule"  # keeps lighting on schedule
        broker.start()
        end = lamp.wait_status(lambda s: s["connected"] and s["jp"] == 0 and s["wm"] >= during["next_seq"], 40)
        copies = copies_by_seq(obs, "L1")
        top = end["wm"]
        assert set(range(1, top + 1)) <= set(copies)  # nothing lost
        assert all(len(v) == 1 for v in copies.values())  # re-sends repeat the same reading
        assert server.watermark >= top
        batches = [p for p in obs.of("L1", codec.KIND_TELEMETRY) if p.startswith(b"[")]
        assert batches, "the backlog should be replayed in batches"
    finally:
        server.stop()
        obs.clear_retained()
        obs.stop()


def test_killed_mid_journal_nothing_is_lost_or_renumbered(
    make_lamp: Callable[..., SimLamp], observer: Observer
) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    server = FakeServer(observer, "L1").start()
    rng = random.Random(7)
    try:
        lamp = make_lamp("L1", control=world_control(timika(2, 20), 40))  # a reading every 0.25 s
        lamp.wait_status(lambda s: s.get("connected"), 20)
        for _ in range(3):
            time.sleep(rng.uniform(0.3, 0.8))
            lamp.kill()  # power cut, whatever the firmware was doing; the supply restores power
        end = lamp.wait_status(lambda s: s.get("connected") and s["next_seq"] > 8 and s["jp"] == 0, 40)
        copies = copies_by_seq(observer, "L1")
        assert set(range(1, end["wm"] + 1)) <= set(copies)
        assert all(len(v) == 1 for v in copies.values()), "a sequence number was reused for another reading"
        energy = [next(iter(copies[s]))[6] for s in sorted(copies)]
        assert energy == sorted(energy), "the energy counter went backwards across a power cut"
        assert lamp.exits.count(-9) == 3  # three power cuts, three cold starts
    finally:
        server.stop()


def test_full_journal_reports_the_dropped_range_and_recovers(
    make_lamp: Callable[..., SimLamp], observer: Observer
) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    server = FakeServer(observer, "L1").start()
    server.enabled = False  # the server is away: nothing is acknowledged, the 8-slot ring overflows
    try:
        lamp = make_lamp("L1", journal_slots=8, control=world_control(timika(2, 20), 40))
        st = lamp.wait_status(lambda s: s.get("dropped", 0) >= 3, 30)
        assert st["flags"] & codec.F_JOURNAL_OVERFLOW
        server.enabled = True
        end = lamp.wait_status(lambda s: s["jp"] == 0 and not s["flags"] & codec.F_JOURNAL_OVERFLOW, 30)

        def lost_seqs() -> set[int]:
            drops = observer.events("L1", "drop")
            return set().union(*(set(range(int(e["from"]), int(e["to"]) + 1)) for e in drops))

        def accounted() -> set[int]:
            # Every seq up to the watermark was either delivered or declared lost (the last drop
            # event may reach the observer a moment after the lamp's status file says it is done).
            lost, got = lost_seqs(), {r[0] for r in observer.readings("L1")}
            return lost if lost and set(range(1, end["wm"] + 1)) <= got | lost else set()

        lost = wait_for(accounted, what="every seq delivered or declared lost")
        assert min(lost) == 1
        # A reading overwritten after it was delivered counts as dropped from the journal but was
        # not lost, so the reported ranges can only be smaller than the drop count.
        assert 0 < len(lost) <= end["dropped"]
    finally:
        server.stop()
