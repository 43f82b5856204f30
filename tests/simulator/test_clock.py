from __future__ import annotations

import pytest

from simulator.clock import SimClock, start_time


class FakeTime:
    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.mono = 0.0

    def advance(self, s: float) -> None:
        self.wall += s
        self.mono += s


def test_accelerated_run_ends_exactly_at_real_time() -> None:
    now, speed, duration = 1_750_000_000.0, 60.0, 6 * 3600.0
    start = start_time(now, speed, duration)
    assert start + duration == pytest.approx(now + duration / speed)


def test_real_time_run_starts_now() -> None:
    assert start_time(1000.0, 1.0, 600.0) == 1000.0


def test_open_ended_run_starts_its_backfill_in_the_past() -> None:
    assert start_time(1000.0, 10.0, None, backfill_s=400.0) == 600.0


def test_simulated_time_runs_at_speed() -> None:
    t = FakeTime(10_000.0)
    clock = SimClock(5_000.0, 10.0, wall=lambda: t.wall, monotonic=lambda: t.mono)
    t.advance(100.0)
    assert clock.now() == pytest.approx(6_000.0)


def test_simulated_time_never_passes_real_time() -> None:
    t = FakeTime(10_000.0)
    clock = SimClock(9_000.0, 100.0, wall=lambda: t.wall, monotonic=lambda: t.mono)
    t.advance(50.0)  # scaled: 14_000, real: 10_050
    assert clock.now() == pytest.approx(10_050.0)
    assert clock.caught_up()


def test_wait_until_accounts_for_speed() -> None:
    t = FakeTime(10_000.0)
    clock = SimClock(5_000.0, 10.0, wall=lambda: t.wall, monotonic=lambda: t.mono)
    assert clock.wall_seconds_until(5_100.0) == pytest.approx(10.0)
    assert clock.wall_seconds_until(4_000.0) == 0.0


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        SimClock(0.0, 0.0)
