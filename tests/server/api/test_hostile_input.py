"""Hostile input against the whole API: schemathesis generates requests from the OpenAPI document
(valid and invalid) and every response must be below 500 and match the documented schema.

It runs against a server of its own, on a database of its own, as an administrator whose token is
replaced whenever the fuzzer manages to revoke it: the fuzzer deletes whatever it happens to hit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from psycopg import conninfo, sql
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from server.runtime import Running
from server.settings import Settings
from tests.support.auth import bearer, create_token, create_user
from tests.support.background_server import BackgroundServer

FUZZ_ADMIN = "fuzz-admin"


@pytest.fixture(scope="module")
def fuzz_server(postgres_server_url: str, mqtt_url: str, run_tag: str, tmp_path_factory: Any) -> Iterator[Running]:
    name = f"terang_test_{run_tag}_fuzz"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = conninfo.make_conninfo(postgres_server_url, dbname=name)
    settings_ = Settings(environment="test", data_dir=Path(tmp_path_factory.mktemp("fuzz")), database_url=url,
                         mqtt_url=mqtt_url, http_port=0, ingest_enabled=False,
                         login_max_failures_per_client=100_000)
    background = BackgroundServer(settings_)
    running = background.start()
    create_user(url, FUZZ_ADMIN, ["admin"])
    yield running
    background.stop()
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _openapi_document() -> dict[str, Any]:
    """The document the server serves, built from the same app factory without starting it."""
    from server.api.main import create_app

    app = create_app(Settings(environment="test", database_url="unused", mqtt_url="mqtt://unused"),
                     database_url="unused")
    return app.openapi()


# The alert stream (SSE) never ends its body, and the fuzzer reads whole bodies; its parameters are
# tested in tests/server/alerts/test_alert_stream.py.
schema = schemathesis.openapi.from_dict(_openapi_document()).exclude(path="/api/v1/alerts/stream")


_token: dict[str, str] = {}


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_5xx_or_breaks_the_documented_schema(case: Any, fuzz_server: Running) -> None:
    if "admin" not in _token:
        _token["admin"] = create_token(fuzz_server.database_url, FUZZ_ADMIN, name="fuzz")
    response = case.call_and_validate(base_url=fuzz_server.api_url, headers=bearer(_token["admin"]),
                                      checks=[not_a_server_error, response_schema_conformance])
    if response.status_code == 401:  # the fuzzer revoked the token it was using: a new one
        _token.pop("admin")
