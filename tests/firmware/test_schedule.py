"""The compiled schedule, evaluated on the lamp's own clock and sun (table on MicroPython), and the
lighting policy: overrides, no-contact fallback, no-time photocell."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from firmware.device import codec
from tests.firmware.conftest import mpy_json

WIT = ZoneInfo("Asia/Jayapura")
SUNSET, SUNRISE, CLOCK = codec.ANCHOR_SUNSET, codec.ANCHOR_SUNRISE, codec.ANCHOR_CLOCK
WEEKEND = 1 << 5 | 1 << 6  # bit 0 = Monday

CFG = codec.decode_config(codec.encode_config({
    "cv": 7, "loc": [-4.55, 136.88], "tz": 540,
    "prof": [
        [[SUNSET, 0, 100, 0], [CLOCK, 23 * 60, 50, 30], [SUNRISE, 0, 0, 0]],  # 0: weekdays
        [[SUNSET, 0, 100, 0], [SUNRISE, -30, 0, 0]],  # 1: weekends, full until just before sunrise
        [[SUNSET, -30, 80, 0], [SUNSET, 420, 30, 0], [SUNRISE, 0, 0, 0]],  # 2: a holiday
    ],
    "cal": [[2, 127, 20250817, 20250817], [1, WEEKEND, 0, 0]],
    "def": 100, "fb": 3600,
    "ovr": [[20, 1755000000, 1755003600]],
}))


def at(y: int, mo: int, d: int, h: int, mi: int) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=WIT).timestamp())


# name, local time (2025), expected level
TABLE = [
    ("weekday evening after sunset", at(2025, 8, 13, 20, 0), 100),  # Wednesday
    ("weekday after the 23:00 step", at(2025, 8, 13, 23, 30), 50),
    ("small hours keep yesterday's last step", at(2025, 8, 14, 3, 0), 50),
    ("weekday noon", at(2025, 8, 13, 12, 0), 0),
    ("weekend night skips the 23:00 step", at(2025, 8, 16, 23, 30), 100),  # Saturday
    ("Saturday night's profile ends 30 min before Sunday's sunrise", at(2025, 8, 17, 5, 45), 0),
    ("the night's profile is chosen by the date it begins", at(2025, 8, 17, 4, 0), 100),
    ("holiday dims at sunset + 7 h, after midnight", at(2025, 8, 18, 1, 30), 30),
    ("holiday lights 30 min before sunset", at(2025, 8, 17, 17, 50), 80),
]


def test_schedule_table_on_micropython() -> None:
    times = [t for _n, t, _l in TABLE]
    out = mpy_json(f"import json, schedule\ncfg = json.loads({json.dumps(json.dumps(CFG))})\n"
                   f"print(json.dumps([schedule.level_at(cfg, t) for t in {times}]))")
    assert dict(zip([n for n, _t, _l in TABLE], out, strict=True)) == {n: lvl for n, _t, lvl in TABLE}


def sched(expr: str) -> object:
    return mpy_json(f"import json, schedule\ncfg = json.loads({json.dumps(json.dumps(CFG))})\n"
                    f"print(json.dumps({expr}))")


def test_clock_steps_before_noon_fall_on_the_nights_second_day() -> None:
    cfg = dict(CFG, cal=[], prof=[[[CLOCK, 22 * 60, 100, 0], [CLOCK, 5 * 60, 0, 0]]])
    times = [at(2025, 8, 14, 4, 0), at(2025, 8, 14, 5, 30), at(2025, 8, 14, 21, 0), at(2025, 8, 14, 22, 30)]
    out = mpy_json(f"import json, schedule\ncfg = json.loads({json.dumps(json.dumps(cfg))})\n"
                   f"print(json.dumps([schedule.level_at(cfg, t) for t in {times}]))")
    assert out == [100, 0, 0, 100]


def test_a_step_fade_ramps_from_the_previous_level() -> None:
    # Weekday profile: 100 from sunset, then 23:00 -> 50 over 30 s; rounded half up, as the server.
    t = at(2025, 8, 13, 23, 0)
    assert sched(f"[schedule.level_at(cfg, {t} + s) for s in (-1, 0, 3, 15, 29, 30)]") == [100, 100, 95, 75, 52, 50]


def test_a_fade_cut_short_hands_its_level_to_the_next_step() -> None:
    # 100 at 22:00 fading to 0 over an hour, interrupted at 22:30 (level 50) by a 10-minute fade to 100.
    cfg = dict(CFG, cal=[], prof=[[[CLOCK, 21 * 60, 100, 0], [CLOCK, 22 * 60, 0, 3600], [CLOCK, 22 * 60 + 30, 100, 600],
                                   [CLOCK, 6 * 60, 0, 0]]])
    t = at(2025, 8, 13, 22, 30)
    out = mpy_json(f"import json, schedule\ncfg = json.loads({json.dumps(json.dumps(cfg))})\n"
                   f"print(json.dumps([schedule.level_at(cfg, {t} + s) for s in (-60, 0, 300, 600)]))")
    assert out == [52, 50, 75, 100]


def test_steps_at_one_instant_take_effect_in_the_profiles_order() -> None:
    # Two clock steps at 23:00: the later listed holds, whatever the levels.
    cfg = dict(CFG, cal=[], prof=[[[CLOCK, 20 * 60, 100, 0], [CLOCK, 23 * 60, 70, 0], [CLOCK, 23 * 60, 20, 0],
                                   [CLOCK, 6 * 60, 0, 0]]])
    out = mpy_json(f"import json, schedule\ncfg = json.loads({json.dumps(json.dumps(cfg))})\n"
                   f"print(json.dumps(schedule.level_at(cfg, {at(2025, 8, 13, 23, 30)})))")
    assert out == 20


def test_config_override_holds_only_inside_its_window() -> None:
    assert sched("[schedule.override_at(cfg, t)[0] for t in (1754999999, 1755000000, 1755003599, 1755003600)]") == [
        -1, 20, 20, -1]


POLICY = '''
import json, codec, policy
cfg = json.loads(CFG)
p = policy.Policy()
def decide(now, lux=-1, override=(), silent=0, cfg=cfg, n=1):
    # override: [level, until, start] of an operator's level command
    for _ in range(n):
        p.decide(cfg, now, lux, list(override), silent, -4.55, 136.88, 540, 100)
    return [p.level, codec.flag_names(p.flags), p.why]
'''


def policy(expr: str) -> Any:
    return mpy_json(f"CFG = {json.dumps(json.dumps(CFG))}\n" + POLICY + f"print(json.dumps({expr}))")


def test_policy_follows_the_schedule_while_the_server_is_in_contact() -> None:
    assert policy(f"decide({at(2025, 8, 13, 23, 30)})") == [50, [], "schedule"]


def test_policy_operator_override_wins_until_it_expires() -> None:
    t = at(2025, 8, 13, 23, 30)
    assert policy(f"[decide({t}, override=[70, {t + 60}, {t}]), decide({t + 60}, override=[70, {t + 60}, {t}])]") == [
        [70, ["override"], "override"], [50, [], "schedule"]]


def test_policy_later_override_wins() -> None:
    # The config's override window opens at 1755000000; a command given before it yields to it.
    t = 1755000000 + 60
    early, late = f"[70, {t + 9000}, {t - 120}]", f"[70, {t + 9000}, {t - 30}]"
    out = policy(f"[decide({t}, override={early}), decide({t}, override={late})]")
    assert out == [[20, ["override"], "override"], [70, ["override"], "override"]]


def test_policy_falls_back_to_default_level_at_night_after_no_contact() -> None:
    night, noon = at(2025, 8, 13, 23, 30), at(2025, 8, 13, 12, 0)
    assert policy(f"[decide({night}, silent=3601), decide({noon}, silent=3601)]") == [
        [100, ["fallback"], "fallback"], [0, ["fallback"], "fallback"]]


def test_policy_without_valid_time_follows_the_photocell() -> None:
    out = policy("[decide(-1, lux=2, n=5), decide(-1, lux=20000, n=5), decide(-1, lux=30, n=5)]")
    assert out == [[100, ["no_time", "photocell"], "photocell"], [0, ["no_time", "photocell"], "photocell"],
                   [0, ["no_time", "photocell"], "photocell"]]  # 30 lux: inside the hysteresis band


def test_policy_without_valid_time_or_photocell_is_full_on() -> None:
    assert policy("decide(-1)") == [100, ["no_time"], "no_time"]


def test_photocell_ignores_a_passing_headlight() -> None:
    assert policy("[decide(-1, lux=2, n=5), decide(-1, lux=5000, n=2), decide(-1, lux=2)]")[-1][0] == 100


def test_policy_without_any_config_lights_dusk_to_dawn() -> None:
    assert policy(f"decide({at(2025, 8, 13, 21, 0)}, cfg=None)") == [100, ["fallback"], "fallback"]


def test_weekday_bit_zero_is_monday() -> None:
    monday = (dt.date(2025, 8, 11) - dt.date(1970, 1, 1)).days
    picks = sched(f"[[schedule.profile_for(dict(cfg, cal=[[1, 1 << b, 0, 0]]), {monday} + d) == cfg['prof'][1]"
                  " for d in range(7)] for b in range(7)]")
    assert picks == [[d == b for d in range(7)] for b in range(7)]


def test_of_overlapping_config_overrides_the_later_starting_wins() -> None:
    cfg = dict(CFG, ovr=[[20, 1000, 5000], [70, 2000, 3000], [40, 2000, 2500]])
    out = mpy_json(f"import json, schedule\ncfg = json.loads({json.dumps(json.dumps(cfg))})\n"
                   "print(json.dumps([schedule.override_at(cfg, t)[0] for t in (1500, 2200, 2700, 4000)]))")
    assert out == [20, 40, 70, 20]


def test_polar_nights_are_placed_as_the_server_places_them() -> None:
    from server.schedules.sun import night_sun

    lat, lon, tz = 78.2, 15.6, 60  # Longyearbyen: polar night in December, midnight sun in June
    nights = [dt.date(2025, 12, 21), dt.date(2025, 6, 21)]
    days = [(d - dt.date(1970, 1, 1)).days for d in nights]
    cfg = dict(CFG, loc=[lat, lon], tz=tz, cal=[], ovr=[], prof=[[[SUNSET, 0, 100, 0], [SUNRISE, 0, 0, 0]]])
    out = mpy_json(f"import json, schedule\ncfg = json.loads({json.dumps(json.dumps(cfg))})\n"
                   f"print(json.dumps([[s[0] for s in schedule.night_steps(cfg, d)] for d in {days}]))")
    assert out == [sorted(night_sun(lat, lon, night, tz)) for night in nights]
