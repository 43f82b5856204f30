"""``terang bench schedules``: what compiling and evaluating schedules costs, and how big configs and
LoRa deltas are. Pure (no database, no broker): the numbers are the server's CPU per lamp and the
bytes a lamp receives.

- compile: a site of N lamps (every lamp its own coordinates) with a calendar that has weekday,
  date-range and national-holiday rules, plus a district override; configs and digests per second.
- evaluate: ``level_at`` calls per second (what the simulator does per reading) and whole-night plans
  per second (what the plan, preview and energy endpoints do per lamp and night).
- sizes: the JSON config, and the LoRa downlink for the common changes (<= 51 bytes per fragment).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware.device import codec
from server.schedules.compile import (
    CalendarSpec,
    Compiled,
    ProfileSpec,
    RuleSpec,
    digest,
    window_for,
    with_version,
)
from server.schedules.evaluate import level_at, night_plan
from server.schedules.site_model import (
    Assignment,
    LampRow,
    OverrideRow,
    SiteModel,
    compile_for,
    compile_site,
    sun_for,
)

NOW = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
TZ = 540
PROFILES = {
    1: ProfileSpec(1, "malam penuh", ((1, 0, 100, 0), (2, 0, 0, 0))),
    2: ProfileSpec(2, "hemat", ((1, 0, 90, 300), (0, 1320, 50, 600), (0, 180, 70, 300), (2, -15, 0, 0))),
    3: ProfileSpec(3, "akhir pekan", ((1, -10, 100, 0), (0, 60, 60, 600), (2, 0, 0, 0))),
}
CALENDAR = CalendarSpec(1, "kota", 2, 100, (
    RuleSpec(1, priority=10, holidays="id-national"),
    RuleSpec(3, weekdays=0b1100000),
    RuleSpec(1, from_date=dt.date(2026, 12, 20), to_date=dt.date(2027, 1, 2)),
))


@dataclass
class Row:
    name: str
    count: int
    seconds: float
    per_s: float
    us_each: float


@dataclass
class Report:
    machine: str
    lamps: int
    rows: list[Row] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)


def site(n: int, seed: int = 7) -> SiteModel:
    rng = np.random.default_rng(seed)
    lat = -4.55 + rng.uniform(-0.6, 0.6, n)
    lon = 136.88 + rng.uniform(-1.2, 1.2, n)
    lamps = [LampRow(k + 1, f"L{k:06d}", "mimika", f"d{k % 18:02d}", f"c{k // 100:04d}", float(lat[k]),
                     float(lon[k]), 90.0, 300) for k in range(n)]
    until = int(NOW.timestamp()) + 4 * 3600
    return SiteModel(
        site_id="mimika", timezone="Asia/Jayapura", profiles=dict(PROFILES), calendars={1: CALENDAR},
        assignments=[Assignment(1, 1, "site", "mimika")], lamps=lamps,
        overrides=[OverrideRow(1, "district", "d03", 30, int(NOW.timestamp()), until)],
    )


def _timed(name: str, count: int, fn: Callable[[], object]) -> Row:
    t0 = time.perf_counter()
    fn()
    s = time.perf_counter() - t0
    return Row(name, count, round(s, 3), round(count / s, 1), round(1e6 * s / count, 1))


def run(lamps: int = 10_000, out_dir: Path = Path("reports")) -> tuple[Report, Path]:
    model = site(lamps)
    report = Report(machine=f"{platform.node()} {platform.machine()} python {platform.python_version()}",
                    lamps=lamps)
    window = window_for(NOW.date(), 400)
    unix = int(NOW.timestamp())
    compiled: list[Compiled] = []

    def compile_each() -> None:
        for lamp in model.lamps[:1000]:
            digest(compile_for(model, lamp, now=unix, tz=TZ, window=window, fallback_s=86_400).config)

    def compile_all() -> None:
        for _lamp, c in compile_site(model, now=unix, tz=TZ, window=window, fallback_s=86_400):
            assert not isinstance(c, ValueError)
            digest(c.config)
            compiled.append(c)

    report.rows.append(_timed("compile one lamp alone + digest", min(lamps, 1000), compile_each))
    report.rows.append(_timed("compile a site + digest, per lamp", lamps, compile_all))
    configs = [with_version(c.config, 1) for c in compiled]
    encoded = [codec.encode_config(c) for c in configs[:1000]]
    report.rows.append(_timed("encode config JSON", len(encoded),
                              lambda: [codec.encode_config(c) for c in configs[:1000]]))

    sample = model.lamps[: min(lamps, 2000)]
    times = [unix + 600 * j for j in range(24)]

    def levels() -> None:
        for lamp, cfg in zip(sample, configs, strict=False):
            sun = sun_for(lamp, TZ)
            for t in times:
                level_at(cfg, t, sun)

    report.rows.append(_timed("level_at (cached sun)", len(sample) * len(times), levels))

    def plans() -> None:
        for lamp, cfg in zip(sample, configs, strict=False):
            night_plan(cfg, dt.date(2026, 11, 27), sun_for(lamp, TZ))

    report.rows.append(_timed("night plan", len(sample), plans))

    base = configs[0]
    dimmer = {**base, "cv": 2, "prof": [[[a, m, max(lvl - 10, 0), f] for a, m, lvl, f in p] for p in base["prof"]]}
    with_ovr = {**base, "cv": 2, "ovr": [*base["ovr"], [100, unix + 60, unix + 3660]]}
    report.sizes = {
        "config_json_bytes": len(encoded[0]),
        "calendar_rules": len(base["cal"]),
        "lora_full_config_fragments": len(codec.encode_config_delta(None, base)),
        "lora_full_config_bytes": sum(map(len, codec.encode_config_delta(None, base))),
        "lora_profile_change_fragments": len(codec.encode_config_delta(base, dimmer)),
        "lora_profile_change_bytes": max(map(len, codec.encode_config_delta(base, dimmer))),
        "lora_new_override_fragments": len(codec.encode_config_delta(base, with_ovr)),
        "lora_new_override_bytes": max(map(len, codec.encode_config_delta(base, with_ovr))),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-schedules-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(asdict(report), indent=2))
    return report, path


def as_table_rows(report: Report) -> list[list[Any]]:
    return [[r.name, f"{r.count:,}", f"{r.seconds:.2f}", f"{r.per_s:,.0f}", f"{r.us_each:.1f}"] for r in report.rows]
