from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from simulator.registry import RegistrationError, api_base, register
from simulator.topology import generate


class FakeApi:
    """The registry contract of the server: 201 on create, 409 when the id exists, GeoJSON upserts."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self.lamps: dict[str, dict[str, Any]] = {}
        self.content_types: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        assert path.startswith("/api/v1/")
        kind = path.removeprefix("/api/v1/")
        self.content_types.append(request.headers["content-type"])
        body = json.loads(request.content)
        if kind == "lamps/import":
            created = sum(1 for f in body["features"] if f["properties"]["id"] not in self.lamps)
            for f in body["features"]:
                self.lamps[f["properties"]["id"]] = f
            return httpx.Response(200, json={"created": created, "updated": len(body["features"]) - created})
        table = self.rows.setdefault(kind, {})
        if body["id"] in table:
            return httpx.Response(409, json={"detail": "exists"})
        table[body["id"]] = body
        return httpx.Response(201, json=body)


def test_api_base_accepts_server_or_api_url() -> None:
    assert api_base("http://h:8000") == "http://h:8000/api/v1"
    assert api_base("http://h:8000/api/v1/") == "http://h:8000/api/v1"


def test_whole_topology_is_registered() -> None:
    topo = generate(300, seed=2, site_id="regtest")
    api = FakeApi()
    result = register(topo, "http://api", 300, transport=httpx.MockTransport(api))
    assert result.created == {"sites": 1, "districts": 18, "cabinets": len(topo.cabinets),
                              "gateways": len(topo.gateways)}
    assert result.lamps_created == 300
    assert api.rows["sites"]["regtest"]["timezone"] == "Asia/Jayapura"
    assert set(api.lamps) == set(topo.lamps.ids)


def test_second_registration_reuses_what_exists() -> None:
    topo = generate(300, seed=2, site_id="regtest")
    api = FakeApi()
    register(topo, "http://api", 300, transport=httpx.MockTransport(api))
    again = register(topo, "http://api", 300, transport=httpx.MockTransport(api))
    assert again.created == {}
    assert again.existing["districts"] == 18
    assert (again.lamps_created, again.lamps_updated) == (0, 300)


def test_lamps_are_sent_as_geojson() -> None:
    api = FakeApi()
    register(generate(30, seed=2), "http://api", 60, transport=httpx.MockTransport(api))
    assert api.content_types[-1] == "application/geo+json"
    assert api.content_types[0] == "application/json"


def test_refused_import_reports_the_servers_reason() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/lamps/import"):
            return httpx.Response(422, json={"detail": [{"index": 0, "id": "x", "field": "rated_w", "message": "bad"}]})
        return httpx.Response(201, json={})

    with pytest.raises(RegistrationError, match="rated_w"):
        register(generate(30, seed=2), "http://api", 60, transport=httpx.MockTransport(refuse))


def test_unreachable_api_is_a_registration_error() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(RegistrationError, match="cannot reach"):
        register(generate(30, seed=2), "http://api", 60, transport=httpx.MockTransport(down))
