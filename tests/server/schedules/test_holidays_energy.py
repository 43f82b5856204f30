"""The shipped Indonesian holiday data, and energy of a plan."""

from __future__ import annotations

import datetime as dt

import pytest

from server.schedules.energy import full_power_wh, plan_wh, saving_pct
from server.schedules.holidays import covered_years, dates_between, holidays


def test_holiday_data_covers_the_coming_years() -> None:
    first, last = covered_years("id-national")
    assert first <= 2026 and last >= 2028


@pytest.mark.parametrize("day", ["2026-08-17", "2026-12-25", "2026-01-01", "2026-06-01", "2026-03-21"])
def test_known_national_holidays_are_present(day: str) -> None:
    assert dt.date.fromisoformat(day) in dates_between("id-national", dt.date(2026, 1, 1), dt.date(2026, 12, 31))


def test_every_holiday_has_both_names() -> None:
    assert all(h.name_id and h.name_en for h in holidays("id-national"))


def test_about_seventeen_holidays_a_year() -> None:
    for year in range(2025, 2029):
        n = len(dates_between("id-national", dt.date(year, 1, 1), dt.date(year, 12, 31)))
        assert 14 <= n <= 20, year


def test_unknown_set_is_refused() -> None:
    with pytest.raises(KeyError):
        holidays("xx-none")


def test_energy_of_a_plan() -> None:
    # 100 W: 6 h at 100 %, then 6 h at 50 %: 600 + 300 Wh.
    points = [(0, 100.0), (6 * 3600, 100.0), (6 * 3600, 50.0), (12 * 3600, 50.0)]
    assert plan_wh(points, 100.0) == pytest.approx(900.0)
    assert full_power_wh(0, 12 * 3600, 100.0) == pytest.approx(1200.0)
    assert saving_pct(900.0, 1200.0) == 25.0


def test_energy_of_a_fade_is_its_average() -> None:
    assert plan_wh([(0, 0.0), (3600, 100.0)], 60.0) == pytest.approx(30.0)
