"""Checks a profile's steps against every night of a year at a place. Pure.

Steps mix clock times and sun offsets, so whether they are in order depends on the date and the
latitude ("sunset + 30" is before "19:00" in Timika all year, not in Oslo in June). A profile is
accepted only if, on every night of the year at the site, its steps fall inside the night in the
order listed, no two at one instant, and each fade ends before the next step begins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from server.schedules.evaluate import ANCHOR_CLOCK, ANCHOR_SUNSET, step_instant
from server.schedules.sun import night_bounds

NIGHTS_CHECKED = 366


@dataclass(frozen=True)
class StepProblem:
    index: int
    message: str


def label(step: Sequence[int]) -> str:
    anchor, minutes = step[0], step[1]
    if anchor == ANCHOR_CLOCK:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    name = "sunset" if anchor == ANCHOR_SUNSET else "sunrise"
    return f"{name}{minutes:+d} min" if minutes else name


def check_steps(
    steps: Sequence[Sequence[int]],
    *,
    tz_minutes: int,
    sun_fn: Callable[[dt.date], tuple[int, int]],
    first_night: dt.date,
    nights: int = NIGHTS_CHECKED,
) -> StepProblem | None:
    """The first problem found, naming the step and the night, or None."""
    for k in range(nights):
        day = first_night + dt.timedelta(days=k)
        start, end = night_bounds(day, tz_minutes)
        sun = sun_fn(day)
        at = [step_instant(s, day, tz_minutes, sun) for s in steps]
        for j, t in enumerate(at):
            if not start <= t < end:
                return StepProblem(j, f"{label(steps[j])} falls outside the night (noon to noon) of {day}")
            if j and t == at[j - 1]:
                return StepProblem(j, f"{label(steps[j])} is at the same time as {label(steps[j - 1])} "
                                      f"on the night of {day}")
            if j and t < at[j - 1]:
                return StepProblem(j, f"{label(steps[j])} comes before {label(steps[j - 1])} on the night of "
                                      f"{day}; list steps in the order they happen")
            if j and at[j - 1] + steps[j - 1][3] > t:
                return StepProblem(j - 1, f"the fade of {label(steps[j - 1])} ({steps[j - 1][3]} s) runs into "
                                          f"{label(steps[j])} on the night of {day}")
        if at and at[-1] + steps[-1][3] > end:
            return StepProblem(len(steps) - 1, f"the fade of {label(steps[-1])} runs past noon on {day}")
    return None
