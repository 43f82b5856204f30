"""Registers a simulator topology through a test's own (authenticated) API client."""

from __future__ import annotations

from typing import Any

from simulator.topology import Topology


def register_topology(api: Any, topology: Topology, report_interval_s: int) -> None:
    site = topology.site
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("sites", {"id": site.id, "name": site.name, "timezone": site.timezone, "lat": site.lat, "lon": site.lon})]
    bodies += [("districts", {"id": d.id, "site_id": d.site_id, "name": d.name}) for d in topology.districts]
    bodies += [("cabinets", {"id": c.id, "site_id": c.site_id, "district_id": c.district_id, "name": c.name,
                             "lat": round(c.lat, 6), "lon": round(c.lon, 6)}) for c in topology.cabinets]
    bodies += [("gateways", {"id": g.id, "site_id": g.site_id, "district_id": g.district_id, "name": g.name,
                             "lat": round(g.lat, 6), "lon": round(g.lon, 6)}) for g in topology.gateways]
    for kind, body in bodies:
        reply = api.post(f"/api/v1/{kind}", json=body)
        assert reply.status_code in (201, 409), reply.text
    reply = api.post("/api/v1/lamps/import", json=topology.lamp_features(report_interval_s),
                     headers={"content-type": "application/geo+json"})
    assert reply.status_code == 200, reply.text


def bearer(api: Any) -> str | None:
    """The token an authenticated test client sends, if any."""
    value = str(api.headers.get("Authorization", ""))
    return value.removeprefix("Bearer ") or None
