"""Compiling the operators' model into a lamp's config."""

from __future__ import annotations

import datetime as dt

import pytest

from firmware.device import codec
from server.schedules.compile import (
    CalendarSpec,
    LampSpec,
    OverrideSpec,
    ProfileSpec,
    RuleSpec,
    Window,
    compile_lamp,
    default_calendar,
    digest,
    expand_rules,
    window_for,
    with_version,
)
from server.schedules.holidays import dates_between

WINDOW = Window(dt.date(2026, 11, 1), dt.date(2027, 12, 5))
NOW = 1_795_000_000  # 2026-11-18
LAMP = LampSpec(-4.546781, 136.887123, 600)
PROFILES = {
    10: ProfileSpec(10, "all night", ((1, 0, 100, 0), (2, 0, 0, 0))),
    11: ProfileSpec(11, "hemat", ((1, 0, 80, 0), (0, 1380, 40, 0), (2, -30, 0, 0))),
    12: ProfileSpec(12, "festival", ((1, -15, 100, 0), (2, 15, 0, 0))),
}


def no_holidays(name: str, first: dt.date, last: dt.date) -> list[dt.date]:
    return []


def compile_(calendar: CalendarSpec, overrides: tuple[OverrideSpec, ...] = (), holidays=no_holidays):
    return compile_lamp(lamp=LAMP, calendar=calendar, profiles=PROFILES, overrides=overrides, tz_minutes=540,
                        window=WINDOW, now=NOW, fallback_s=86_400, holiday_dates=holidays)


def test_built_in_default_is_the_protocols_new_site_config() -> None:
    cal, profiles = default_calendar()
    out = compile_lamp(lamp=LampSpec(-4.54678, 136.88712), calendar=cal, profiles=profiles, overrides=(),
                       tz_minutes=540, window=WINDOW, now=NOW, fallback_s=86_400, holiday_dates=no_holidays)
    expected = (b'{"cv":1,"loc":[-4.54678,136.88712],"tz":540,"prof":[[[1,0,100,0],[2,0,0,0]]],"cal":[],"ovr":[],'
                b'"def":100,"fb":86400,"curve":"lin","min":0,"max":100,"ri":300,"k":[1,1,1]}')
    assert codec.encode_config(with_version(out.config, 1)) == expected


def test_default_profile_is_profile_zero_and_others_follow_first_use() -> None:
    cal = CalendarSpec(1, "c", 11, rules=(RuleSpec(12, weekdays=1 << 5), RuleSpec(10, weekdays=1 << 6)))
    out = compile_(cal)
    assert out.profile_ids == [11, 12, 10]
    assert out.config["cal"] == [[1, 1 << 5, 0, 0], [2, 1 << 6, 0, 0]]


def test_higher_priority_rules_come_first() -> None:
    cal = CalendarSpec(1, "c", 10, rules=(RuleSpec(11, priority=0, weekdays=31), RuleSpec(12, priority=5)))
    out = compile_(cal)
    assert [out.profile_ids[r[0]] for r in out.config["cal"]] == [12, 11]


def test_equal_priorities_keep_their_listed_order() -> None:
    cal = CalendarSpec(1, "c", 10, rules=(RuleSpec(11, weekdays=31), RuleSpec(12, weekdays=96)))
    assert [r[0] for r in compile_(cal).config["cal"]] == [1, 2]


def test_special_days_become_one_rule_per_run_of_consecutive_dates() -> None:
    days = (dt.date(2027, 3, 10), dt.date(2027, 3, 11), dt.date(2026, 12, 25))
    cal = CalendarSpec(1, "c", 11, rules=(RuleSpec(12, dates=days),))
    assert compile_(cal).config["cal"] == [[1, 127, 20261225, 20261225], [1, 127, 20270310, 20270311]]


def test_special_days_outside_the_window_are_left_out() -> None:
    cal = CalendarSpec(1, "c", 11, rules=(RuleSpec(12, dates=(dt.date(2026, 10, 1), dt.date(2028, 1, 1))),))
    assert compile_(cal).config["cal"] == []


def test_holiday_set_expands_from_the_shipped_data() -> None:
    cal = CalendarSpec(1, "c", 11, rules=(RuleSpec(12, holidays="id-national"),))
    rules = compile_(cal, holidays=dates_between).config["cal"]
    assert [1, 127, 20261225, 20261225] in rules
    assert [1, 127, 20270817, 20270817] in rules
    assert all(20261101 <= r[2] <= r[3] <= 20271205 for r in rules)


def test_a_date_range_that_ended_before_the_window_is_dropped() -> None:
    cal = CalendarSpec(1, "c", 10, rules=(RuleSpec(11, from_date=dt.date(2026, 1, 1), to_date=dt.date(2026, 2, 1)),
                                          RuleSpec(12, from_date=dt.date(2026, 12, 1))))
    out = compile_(cal)
    assert out.config["cal"] == [[1, 127, 20261201, 0]]
    assert out.profile_ids == [10, 12]


def test_expired_overrides_are_left_out_and_the_rest_go_earliest_first() -> None:
    ovr = (OverrideSpec(1, 30, NOW - 7200, NOW - 1), OverrideSpec(2, 50, NOW + 600, NOW + 1200),
           OverrideSpec(3, 100, NOW - 60, NOW + 3600))
    assert compile_(CalendarSpec(1, "c", 10), ovr).config["ovr"] == [[100, NOW - 60, NOW + 3600],
                                                                      [50, NOW + 600, NOW + 1200]]


def test_an_override_ending_exactly_now_is_over() -> None:
    assert compile_(CalendarSpec(1, "c", 10), (OverrideSpec(1, 30, NOW - 60, NOW),)).config["ovr"] == []


def test_at_most_four_overrides_with_a_warning() -> None:
    ovr = tuple(OverrideSpec(j, 10 * j, NOW + 100 * j, NOW + 100 * j + 50) for j in range(6))
    out = compile_(CalendarSpec(1, "c", 10), ovr)
    assert len(out.config["ovr"]) == 4
    assert out.warnings


def test_more_than_sixteen_profiles_is_refused() -> None:
    profiles = {j: ProfileSpec(j, str(j), ((1, 0, j, 0),)) for j in range(20)}
    cal = CalendarSpec(1, "c", 0, rules=tuple(RuleSpec(j, dates=(dt.date(2026, 12, j),)) for j in range(1, 20)))
    with pytest.raises(ValueError, match="16"):
        compile_lamp(lamp=LAMP, calendar=cal, profiles=profiles, overrides=(), tz_minutes=540, window=WINDOW,
                     now=NOW, fallback_s=86_400, holiday_dates=no_holidays)


def test_compiled_config_is_valid_for_the_codec() -> None:
    cal = CalendarSpec(1, "c", 11, fallback_level=60, rules=(RuleSpec(12, holidays="id-national"),))
    out = compile_(cal, (OverrideSpec(1, 30, NOW, NOW + 60),), holidays=dates_between)
    decoded = codec.decode_config(codec.encode_config(with_version(out.config, 7)))
    assert decoded["def"] == 60
    assert decoded["ri"] == 600


def test_digest_ignores_the_version_but_not_the_content() -> None:
    a = compile_(CalendarSpec(1, "c", 10)).config
    assert digest(with_version(a, 3)) == digest(with_version(a, 9))
    assert digest(a) != digest(compile_(CalendarSpec(1, "c", 11)).config)


def test_window_starts_on_the_first_of_the_month() -> None:
    w = window_for(dt.date(2026, 11, 28), 400)
    assert w.first == dt.date(2026, 11, 1)
    assert w.last == dt.date(2027, 12, 6)


def test_expand_keeps_rule_identity() -> None:
    rule = RuleSpec(12, weekdays=3)
    assert expand_rules([rule], WINDOW, no_holidays) == [(rule, 3, 0, 0)]


def _lora_frames(old: dict[str, object], new: dict[str, object]) -> list[bytes]:
    return codec.encode_config_delta(with_version(old, 4), with_version(new, 5))


def test_changing_a_profiles_levels_is_one_lora_frame() -> None:
    cal = CalendarSpec(1, "c", 11, rules=(RuleSpec(12, holidays="id-national"),))
    old = compile_(cal, holidays=dates_between).config
    dimmer = {**PROFILES, 11: ProfileSpec(11, "hemat", ((1, 0, 70, 0), (0, 1380, 30, 0), (2, -30, 0, 0)))}
    new = compile_lamp(lamp=LAMP, calendar=cal, profiles=dimmer, overrides=(), tz_minutes=540, window=WINDOW,
                       now=NOW, fallback_s=86_400, holiday_dates=dates_between).config
    frames = _lora_frames(old, new)
    assert len(frames) == 1 and len(frames[0]) <= codec.LORA_DELTA_MAX


def test_a_new_override_is_one_lora_frame() -> None:
    cal = CalendarSpec(1, "c", 11, rules=(RuleSpec(12, holidays="id-national"),))
    old = compile_(cal, holidays=dates_between).config
    new = compile_(cal, (OverrideSpec(1, 100, NOW, NOW + 3600),), holidays=dates_between).config
    frames = _lora_frames(old, new)
    assert len(frames) == 1 and len(frames[0]) <= codec.LORA_DELTA_MAX
    applied = codec.apply_config_delta(with_version(old, 4), frames)
    assert applied["ovr"] == [[100, NOW, NOW + 3600]]
