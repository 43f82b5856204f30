"""Special-day sets that calendar rules can name; shipped as data files, read once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from importlib import resources

import orjson

# Set name -> data file under server/schedules/data.
SETS = {"id-national": "holidays_id.json"}


@dataclass(frozen=True)
class Holiday:
    date: dt.date
    name_id: str
    name_en: str
    estimated: bool


@cache
def holidays(set_name: str) -> tuple[Holiday, ...]:
    """Every day of the set, ascending; KeyError for an unknown set."""
    raw = orjson.loads(resources.files("server.schedules.data").joinpath(SETS[set_name]).read_bytes())
    return tuple(
        Holiday(dt.date.fromisoformat(h["date"]), h["name_id"], h["name_en"], bool(h["estimated"]))
        for h in raw["holidays"]
    )


def dates_between(set_name: str, first: dt.date, last: dt.date) -> list[dt.date]:
    """The set's distinct dates in [first, last]."""
    return sorted({h.date for h in holidays(set_name) if first <= h.date <= last})


def covered_years(set_name: str) -> tuple[int, int]:
    days = holidays(set_name)
    return days[0].date.year, days[-1].date.year
