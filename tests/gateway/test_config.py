"""gateway.toml: the template is valid, and every bad file is refused with the field named."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway.config import ConfigError, example_config, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]
MINIMAL: dict[str, dict[str, object]] = {
    "gateway": {"id": "gw-1", "site": "mimika"}, "central": {"url": "mqtt://broker:1883"}, "local": {"enabled": True},
}


def with_(section: str, **values: object) -> dict[str, object]:
    data = {k: dict(v) for k, v in MINIMAL.items()}
    data[section] = data.get(section, {}) | values
    return dict(data)


def test_example_config_is_valid():
    cfg = parse_config(tomllib.loads(example_config()))
    assert cfg.radio.devices == {"26011F01": "KK-0001"}
    assert cfg.central.username == "gw.mimika.gw-kuala-kencana-01"


def test_relative_data_dir_is_relative_to_the_config_file(tmp_path):
    path = tmp_path / "etc" / "gateway.toml"
    path.parent.mkdir()
    path.write_text(example_config())
    assert load_config(path).database_path == tmp_path / "etc" / "gateway-data" / "queue.sqlite3"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (with_("gateway", id="has space"), "gateway.id"),
        (with_("gateway", site=""), "gateway.site"),
        (with_("central", url="http://broker"), "central.url"),
        (with_("central", url="mqtt://broker:99999"), "central.url"),
        (with_("central", batch_max=501), "central.batch_max"),
        (with_("central", inflight_max=0), "central.inflight_max"),
        (with_("central", typo=1), "central.typo"),
        (with_("radio", kind="spi"), "radio.kind"),
        (with_("radio", medium="localhost"), "radio.medium"),
        (with_("radio", devices={"XYZ": "lamp-1"}), "radio.devices"),
        (with_("radio", devices={"26011F01": "bad id!"}), "radio.devices"),
        (with_("radio", duty_cycle=2), "radio.duty_cycle"),
        (with_("queue", max_items=1), "queue.max_items"),
        (with_("queue", sync="sometimes"), "queue.sync"),
        ({"central": {"url": "mqtt://b"}}, "gateway"),
    ],
)
def test_bad_config_names_the_field(data, field):
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert str(exc.value).startswith(field) or f"; {field}" in str(exc.value)


def test_config_without_any_uplink_source_is_refused():
    data = with_("local", enabled=False)
    with pytest.raises(ConfigError, match="no uplink source"):
        parse_config(data)


def test_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text("[gateway\nid = 1\n")
    with pytest.raises(ConfigError, match=r"gateway\.toml: not valid TOML"):
        load_config(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_config(tmp_path / "nope.toml")


def test_gateway_command_exits_2_with_the_field_named(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text('[gateway]\nid = "gw-1"\nsite = "s"\n[central]\nurl = "ftp://x"\n[local]\nenabled = true\n')
    proc = subprocess.run([sys.executable, "-m", "server.cli", "gateway", "--config", str(path)],
                          capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert proc.returncode == 2
    assert "central.url" in proc.stderr


def test_relative_ca_file_is_relative_to_the_config_file(tmp_path):
    path = tmp_path / "etc" / "gateway.toml"
    path.parent.mkdir()
    path.write_text(example_config().replace('# ca_file = "ca.crt"', 'ca_file = "ca.crt"'))
    assert load_config(path).central.ca_file == path.parent / "ca.crt"
