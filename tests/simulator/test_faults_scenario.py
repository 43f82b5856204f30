"""Scenario files: the shipped ones load, a bad one is refused with the field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.fault_kinds import FAULT_TYPES
from simulator.incidents import plan
from simulator.scenario import ScenarioError, load, parse
from simulator.topology import generate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def base(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "t", "fleet": {"lamps": 200}, "time": {"duration_h": 30}}
    data.update(changes)
    return data


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        parse(data)
    return str(info.value)


def placed(data: dict[str, Any]) -> str:
    s = parse(data)
    with pytest.raises(ScenarioError) as info:
        plan(generate(s.fleet.lamps, s.seed, s.fleet.site), s)
    return str(info.value)


@pytest.mark.parametrize("name", ["smoke", "mixed", "cabinet_outage_100"])
def test_shipped_scenario_loads(name: str) -> None:
    assert load(SCENARIOS / f"{name}.toml").name == name


def test_mixed_scenario_asks_for_twenty_incidents_of_every_type() -> None:
    s = load(SCENARIOS / "mixed.toml")
    assert {k: v.count >= 20 for k, v in s.generate.items()} == dict.fromkeys(FAULT_TYPES, True)


def test_cabinet_outage_scenario_names_a_cabinet_of_exactly_100_lamps() -> None:
    s = load(SCENARIOS / "cabinet_outage_100.toml")
    topo = generate(s.fleet.lamps, s.seed, s.fleet.site)
    (outage,) = plan(topo, s).incidents
    assert outage.type == "cabinet_outage" and outage.lamps.size == 100


def test_negative_count_names_the_generate_field() -> None:
    assert "generate.cycling.count" in refused(base(generate={"cycling": -1}))


def test_unknown_fault_type_names_the_key() -> None:
    assert "generate.lamp_fire" in refused(base(generate={"lamp_fire": 3}))


def test_unknown_key_is_refused_with_its_name() -> None:
    assert "fleet.lamp" in refused(base(fleet={"lamps": 10, "lamp": 3}))


def test_missing_section_is_named() -> None:
    assert "time" in refused({"name": "t", "fleet": {"lamps": 10}})


def test_start_without_utc_offset_is_refused() -> None:
    assert "time.start" in refused(base(time={"duration_h": 30, "start": "2025-07-01T12:00:00"}))


def test_report_interval_shorter_than_the_tick_names_the_intervals() -> None:
    message = refused(base(fleet={"lamps": 10, "intervals_s": {"wifi": 30}}))
    assert "fleet.intervals_s" in message


def test_explicit_incident_on_an_unknown_subject_names_it() -> None:
    message = placed(base(incidents=[{"type": "lamp_failure", "subject": "nope", "start_h": 8}]))
    assert "incidents.0.subject" in message and "nope" in message


def test_more_incidents_than_the_fleet_has_room_for_names_the_count() -> None:
    message = placed(base(generate={"gateway_down": {"count": 200}}))
    assert "generate.gateway_down.count" in message


def test_file_that_is_not_toml_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ScenarioError, match=r"bad\.toml: not valid TOML"):
        load(bad)
