"""Which calendar and overrides a lamp gets: the most specific assignment wins."""

from __future__ import annotations

import datetime as dt

import pytest

from server.schedules.compile import CalendarSpec, ProfileSpec, Window, digest
from server.schedules.site_model import Assignment, LampRow, OverrideRow, SiteModel, compile_for, compile_site

LAMP = LampRow(1, "L1", "s", "d1", "c1", -4.5, 136.9, 90.0, 300)
OTHER = LampRow(2, "L2", "s", "d2", "c2", -4.6, 136.8, 90.0, 300)
WINDOW = Window(dt.date(2026, 11, 1), dt.date(2027, 12, 1))


def model(*assignments: Assignment, groups: dict[str, list[str]] | None = None,
          overrides: list[OverrideRow] | None = None) -> SiteModel:
    profiles = {1: ProfileSpec(1, "p", ((1, 0, 100, 0), (2, 0, 0, 0)))}
    calendars = {k: CalendarSpec(k, f"cal{k}", 1) for k in range(1, 7)}
    return SiteModel("s", "Asia/Jayapura", profiles, calendars, list(assignments), groups or {}, [LAMP, OTHER],
                     overrides or [])


@pytest.mark.parametrize(("assignments", "groups", "expected"), [
    ([], {}, None),
    ([Assignment(1, 1, "site", "s")], {}, 1),
    ([Assignment(1, 1, "site", "s"), Assignment(2, 2, "district", "d1")], {}, 2),
    ([Assignment(2, 2, "district", "d1"), Assignment(3, 3, "cabinet", "c1")], {}, 3),
    ([Assignment(3, 3, "cabinet", "c1"), Assignment(4, 4, "group", "g1")], {"L1": ["g1"]}, 4),
    ([Assignment(4, 4, "group", "g1"), Assignment(5, 5, "lamp", "L1")], {"L1": ["g1"]}, 5),
    ([Assignment(4, 4, "group", "g1", priority=1), Assignment(6, 6, "group", "g2", priority=5)],
     {"L1": ["g1", "g2"]}, 6),
    ([Assignment(4, 4, "group", "g1"), Assignment(6, 6, "group", "g2")], {"L1": ["g2", "g1"]}, 4),
    ([Assignment(2, 2, "district", "d2")], {}, None),
])
def test_most_specific_assignment_wins(assignments: list[Assignment], groups: dict[str, list[str]],
                                       expected: int | None) -> None:
    found = model(*assignments, groups=groups).assignment_for(LAMP)
    assert (found.calendar_id if found else None) == expected


def test_overrides_reach_the_lamps_they_target() -> None:
    m = model(groups={"L1": ["g1"]}, overrides=[
        OverrideRow(1, "site", "s", 100, 0, 10), OverrideRow(2, "group", "g1", 50, 0, 10),
        OverrideRow(3, "district", "d2", 30, 0, 10), OverrideRow(4, "lamp", "L2", 20, 0, 10)])
    assert [o.id for o in m.overrides_for(LAMP)] == [1, 2]
    assert [o.id for o in m.overrides_for(OTHER)] == [1, 3, 4]


def test_compiling_a_site_gives_each_lamp_what_compiling_it_alone_gives() -> None:
    m = model(Assignment(1, 1, "site", "s"), Assignment(2, 2, "lamp", "L2"),
              overrides=[OverrideRow(1, "lamp", "L1", 40, 1_795_000_000, 1_795_003_600)])
    kwargs = {"now": 1_795_000_000, "tz": 540, "window": WINDOW, "fallback_s": 86_400}
    for lamp, compiled in compile_site(m, **kwargs):  # type: ignore[arg-type]
        assert not isinstance(compiled, ValueError)
        alone = compile_for(m, lamp, **kwargs)  # type: ignore[arg-type]
        assert compiled.config == alone.config
        assert digest(compiled.config) == digest(alone.config)
