from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from simulator.runner import Progress, SimulationConfig, run
from simulator.state import load, save
from tests.support.mqtt import wait_for


def config(mqtt_url: str, site: str, **overrides: Any) -> SimulationConfig:
    base = SimulationConfig(mqtt_url=mqtt_url, site_id=site, lamps=20, interval_s=60, speed=100_000.0,
                            duration_s=600.0, drain_s=10.0)
    return dataclasses.replace(base, **overrides)


def test_every_lamp_reports_once_per_interval_for_the_whole_run(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=True)
    summary = run(config(mqtt_url, sim_site))
    assert summary.stats.readings == 200
    assert summary.stats.acked == 200
    assert summary.drained
    for lamp_id in summary.topology.lamps.ids:
        assert ingest.seqs(lamp_id) == list(range(1, 11))


def test_readings_are_stamped_inside_the_run_and_never_in_the_future(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=True)
    summary = run(config(mqtt_url, sim_site, lamps=5, speed=1_000.0))
    stamps = [r[1] for lamp in ingest.readings.values() for r in lamp]
    assert min(stamps) >= summary.sim_start
    assert max(stamps) < summary.sim_start + 600
    assert max(stamps) <= time.time()
    # An accelerated run ends at real time: it started (duration - duration/speed) in the past.
    assert summary.sim_start == pytest.approx(time.time() - 600 + 0.6, abs=30)


def test_second_run_continues_each_lamps_sequence_from_the_watermark(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=True)
    run(config(mqtt_url, sim_site, lamps=5, duration_s=300.0))
    run(config(mqtt_url, sim_site, lamps=5, duration_s=180.0))
    for seqs in ingest.readings.values():
        assert [r[0] for r in seqs] == list(range(1, 9))


def test_state_file_carries_the_journal_and_counters_to_the_next_run(
    mqtt_url, sim_site, fake_ingest, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    silent = fake_ingest(ack=False)
    first = run(config(mqtt_url, sim_site, lamps=5, duration_s=300.0, drain_s=0.0, state_path=state))
    assert first.stats.unacked == 25
    saved = load(state, sim_site)
    assert saved is not None
    assert all(len(s.unacked) == 5 and s.next_seq == 6 for s in saved.lamps.values())
    silent.close()
    # As if the first run had stopped an hour ago.
    for lamp in saved.lamps.values():
        lamp.last_ts -= 3600
        lamp.unacked = [[r[0], r[1] - 3600, *r[2:]] for r in lamp.unacked]
    save(state, saved)

    ingest = fake_ingest(ack=True)
    second = run(config(mqtt_url, sim_site, lamps=5, duration_s=180.0, state_path=state))
    assert second.stats.unacked == 0
    for lamp_id, readings in ingest.readings.items():
        assert sorted({r[0] for r in readings}) == list(range(1, 9)), lamp_id
        energy = [r[6] for r in sorted(readings)]
        assert energy == sorted(energy)  # the counter continued, it did not restart


def test_batch_option_sends_several_readings_per_message(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=True)
    summary = run(config(mqtt_url, sim_site, lamps=4, batch=5))
    assert summary.stats.messages == 8
    assert ingest.total() == 40


def test_stop_event_ends_an_open_ended_run(mqtt_url, sim_site, fake_ingest) -> None:
    fake_ingest(ack=True)
    stop = threading.Event()

    def stop_after_three(p: Progress) -> None:
        if p.stats.readings >= 3:
            stop.set()

    safety = threading.Timer(30.0, stop.set)
    safety.start()
    summary = run(config(mqtt_url, sim_site, lamps=3, duration_s=None, speed=600.0, backfill_s=3600.0),
                  stop=stop, on_progress=stop_after_three)
    stopped_by_safety = safety.finished.is_set()
    safety.cancel()
    assert not stopped_by_safety
    assert summary.interrupted
    assert summary.stats.readings >= 3
    assert summary.stats.unacked == 0


def test_bad_settings_are_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="interval"):
        SimulationConfig(mqtt_url="mqtt://x", interval_s=0)
    with pytest.raises(ValueError, match="speed"):
        SimulationConfig(mqtt_url="mqtt://x", speed=0)


def test_lamps_announce_themselves_online_and_leave_offline(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=True)
    states: list[dict[str, Any]] = []

    def watch(p: Progress) -> None:
        if not states and ingest.states:
            states.extend(ingest.states.values())

    summary = run(config(mqtt_url, sim_site, lamps=4, speed=600.0, duration_s=120.0), on_progress=watch)
    assert states
    assert states[0]["st"] == "online"
    assert states[0]["bearer"] in ("wifi", "lora", "4g")
    wait_for(lambda: all(s["st"] == "offline" for s in ingest.states.values()) and len(ingest.states) == 4,
             timeout=10, what="offline states")
    assert set(ingest.states) == set(summary.topology.lamps.ids)


def test_open_ended_run_picks_up_where_the_last_one_stopped(
    mqtt_url, sim_site, fake_ingest, tmp_path: Path
) -> None:
    fake_ingest(ack=True)
    state = tmp_path / "state.json"

    def until_readings(n: int) -> tuple[threading.Event, Any]:
        stop = threading.Event()

        def check(p: Progress) -> None:
            if p.stats.readings >= n:
                stop.set()

        return stop, check

    open_ended = config(mqtt_url, sim_site, lamps=3, duration_s=None, speed=600.0, backfill_s=7200.0,
                        state_path=state)
    stop, check = until_readings(3)
    first = run(open_ended, stop=stop, on_progress=check)
    stop, check = until_readings(3)
    second = run(open_ended, stop=stop, on_progress=check)
    assert second.sim_start == pytest.approx(first.sim_end)
