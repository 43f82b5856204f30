"""Profile steps are checked on every night of a year at the site."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial

import pytest

from server.schedules.steps import StepProblem, check_steps
from server.schedules.sun import night_sun

TIMIKA = partial(night_sun, -4.55, 136.88, tz_minutes=540)
OSLO = partial(night_sun, 59.91, 10.75, tz_minutes=60)


def timika(day: dt.date) -> tuple[int, int]:
    return TIMIKA(day)


def oslo(day: dt.date) -> tuple[int, int]:
    return OSLO(day)


SunFn = Callable[[dt.date], tuple[int, int]]


def check(steps: list[list[int]], sun: SunFn = timika, tz: int = 540) -> StepProblem | None:
    return check_steps(steps, tz_minutes=tz, sun_fn=sun, first_night=dt.date(2026, 1, 1))


@pytest.mark.parametrize("steps", [
    [[1, 0, 100, 0], [2, 0, 0, 0]],
    [[1, 30, 80, 300], [0, 23 * 60, 40, 0], [0, 60, 20, 0], [2, -30, 0, 0]],
    [[0, 12 * 60, 0, 0], [1, 0, 100, 0], [2, 0, 0, 0]],
])
def test_ordered_steps_pass(steps) -> None:
    assert check(steps) is None


@pytest.mark.parametrize(("steps", "index", "words"), [
    ([[0, 23 * 60, 40, 0], [1, 0, 100, 0]], 1, "comes before"),
    ([[1, 0, 100, 0], [1, 0, 50, 0]], 1, "same time"),
    ([[1, 0, 100, 3600], [1, 30, 50, 0]], 0, "runs into"),
    ([[1, -420, 100, 0], [2, 0, 0, 0]], 0, "outside the night"),
    ([[1, 0, 100, 0], [0, 11 * 60 + 59, 0, 120]], 1, "past noon"),
])
def test_bad_steps_name_the_step(steps, index, words) -> None:
    problem = check(steps)
    assert problem is not None
    assert problem.index == index
    assert words in problem.message


def test_order_depends_on_latitude() -> None:
    steps = [[1, 30, 80, 0], [0, 21 * 60, 40, 0], [2, 0, 0, 0]]
    assert check(steps) is None  # Timika: sunset is near 18:00 all year
    problem = check(steps, sun=oslo, tz=60)  # Oslo: in summer the sun sets after 22:00
    assert problem is not None and problem.index == 1
