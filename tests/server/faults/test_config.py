"""The fault configuration file: defaults, per-type thresholds, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.faults.config import FaultConfigError, load


def test_without_a_file_the_defaults_apply() -> None:
    config = load(None)
    assert config.thresholds("led").fail_fraction == 0.2
    assert config.bearer("lora").factor == 2.5


def test_a_lamp_type_the_file_names_gets_its_own_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "faults.toml"
    path.write_text("[lamp_types.son]\npf_min = 0.6\n[default_type]\nfail_abs_w = 5\n")
    config = load(path)
    assert config.thresholds("son").pf_min == 0.6
    assert config.thresholds("induction").fail_abs_w == 5


@pytest.mark.parametrize(("text", "field"), [
    ("[lamp_types.son]\npf_min = 1.5\n", "lamp_types.son.pf_min"),
    ("[lamp_types.led]\nunder_voltage_v = 260\n", "lamp_types.led"),
    ("[correlation]\noutage_fraction = 'most'\n", "correlation.outage_fraction"),
    ("[lifecycle]\nescalate_after_s = { critical = 60 }\n", "lifecycle"),
    ("[bearers.lora]\nfactr = 2\n", "bearers.lora.factr"),
])
def test_a_bad_value_is_refused_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "faults.toml"
    path.write_text(text)
    with pytest.raises(FaultConfigError, match=field.replace(".", r"\.")):
        load(path)


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "faults.toml"
    path.write_text("[lamp_types\n")
    with pytest.raises(FaultConfigError, match="not valid TOML"):
        load(path)
