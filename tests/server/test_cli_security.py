"""`terang user create` / `terang token create` make the first administrator; `terang broker config`
writes the broker's files; `terang user roles` shows the access rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from server.cli import app
from tests.support.auth import bearer
from tests.support.factories import make_lamp, unique


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TERANG_DATABASE_URL", database_url)
    monkeypatch.setenv("TERANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TERANG_DEVICE_MQTT_URL", "mqtts://mqtt.example.org:8883")
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return run


def test_first_admin_from_the_command_line_can_use_the_api(cli: Any, server: Any, run_tag: str) -> None:
    name = f"first{unique('a').lower()}-{run_tag}"
    created = cli("user", "create", name, "--role", "admin", env={"TERANG_NEW_PASSWORD": "a-long-password-1"})
    assert created.exit_code == 0, created.output
    issued = cli("token", "create", name, "--name", "bootstrap", "--days", "1")
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip().splitlines()[0]
    r = httpx.get(server.api_url + "/api/v1/users", headers=bearer(token))
    assert r.status_code == 200
    login = httpx.post(server.api_url + "/api/v1/auth/login",
                       json={"username": name, "password": "a-long-password-1"})
    assert login.status_code == 200


def test_user_create_refuses_an_unknown_role(cli: Any) -> None:
    result = cli("user", "create", "nobody-x", "--role", "superuser",
                 env={"TERANG_NEW_PASSWORD": "a-long-password-1"})
    assert result.exit_code == 2
    assert "superuser is not one of" in result.output


def test_device_credentials_are_printed_once_as_json(cli: Any, api: httpx.Client, site_id: str) -> None:
    lamp = make_lamp(api, site_id)["id"]
    result = cli("device", "credentials", "lamp", lamp, "--json")
    assert result.exit_code == 0, result.output
    creds = json.loads(result.stdout)
    assert creds["username"] == f"lamp.{site_id}.{lamp}"
    assert creds["mqtt_url"] == f"mqtts://{creds['username']}:{creds['password']}@mqtt.example.org:8883"


def test_broker_config_writes_passwords_acl_conf_and_the_server_account(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "broker"
    result = cli("broker", "config", "--dir", str(out), "--port", "18883")
    assert result.exit_code == 0, result.output
    conf = (out / "mosquitto.conf").read_text()
    for line in ("allow_anonymous false", "persistence true", "max_queued_messages 1000000",
                 f"password_file {out.resolve() / 'passwd'}", "listener 18883 0.0.0.0"):
        assert line in conf
    assert "user terang-server" in (out / "acl").read_text()
    assert (out / "passwd").stat().st_mode & 0o077 == 0
    assert (out / "server.env").read_text().startswith("TERANG_MQTT_URL=mqtt://terang-server:")


def test_role_table_lists_every_route(cli: Any) -> None:
    result = cli("user", "roles")
    assert result.exit_code == 0
    assert "/api/v1/audit" in result.output and "public" in result.output
