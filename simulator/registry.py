"""Registers a generated topology through the server's API.

Everything is created with the ids the generator chose; a 409 means a previous run already
created it, so a second run reuses the same network. Lamps go in as GeoJSON, which the server
upserts all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.topology import Topology

API_PREFIX = "/api/v1"
IMPORT_CHUNK = 1_000
TIMEOUT_S = 60.0


class RegistrationError(Exception):
    pass


@dataclass
class RegistrationResult:
    created: dict[str, int] = field(default_factory=dict)
    existing: dict[str, int] = field(default_factory=dict)
    lamps_created: int = 0
    lamps_updated: int = 0

    def count(self, kind: str, created: bool) -> None:
        bucket = self.created if created else self.existing
        bucket[kind] = bucket.get(kind, 0) + 1


def api_base(url: str) -> str:
    """``http://host:port`` or ``http://host:port/api/v1`` -> the latter."""
    url = url.rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def register(
    topology: Topology,
    api_url: str,
    report_interval_s: int,
    *,
    transport: httpx.BaseTransport | None = None,
    on_step: Callable[[str], None] | None = None,
    token: str | None = None,
) -> RegistrationResult:
    result = RegistrationResult()
    note = on_step or (lambda _msg: None)
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with httpx.Client(base_url=api_base(api_url), timeout=TIMEOUT_S, transport=transport, headers=headers) as http:
        site = topology.site
        note("site")
        _create(http, result, "sites", {"id": site.id, "name": site.name, "timezone": site.timezone,
                                         "lat": site.lat, "lon": site.lon})
        note(f"{len(topology.districts)} districts")
        for d in topology.districts:
            _create(http, result, "districts", {"id": d.id, "site_id": d.site_id, "name": d.name})
        note(f"{len(topology.cabinets)} cabinets")
        for c in topology.cabinets:
            _create(http, result, "cabinets", {"id": c.id, "site_id": c.site_id, "district_id": c.district_id,
                                                "name": c.name, "lat": round(c.lat, 6), "lon": round(c.lon, 6)})
        note(f"{len(topology.gateways)} gateways")
        for g in topology.gateways:
            _create(http, result, "gateways", {"id": g.id, "site_id": g.site_id, "district_id": g.district_id,
                                                "name": g.name, "lat": round(g.lat, 6), "lon": round(g.lon, 6)})
        features = topology.lamp_features(report_interval_s)["features"]
        note(f"{len(features)} lamps")
        for start in range(0, len(features), IMPORT_CHUNK):
            chunk = {"type": "FeatureCollection", "features": features[start : start + IMPORT_CHUNK]}
            reply = _send(http, "lamps/import", chunk, content_type="application/geo+json")
            if reply.status_code != 200:
                raise RegistrationError(_explain("lamps/import", reply))
            body = reply.json()
            result.lamps_created += int(body.get("created", 0))
            result.lamps_updated += int(body.get("updated", 0))
    return result


def _create(http: httpx.Client, result: RegistrationResult, kind: str, body: dict[str, Any]) -> None:
    reply = _send(http, kind, body)
    if reply.status_code == 201:
        result.count(kind, created=True)
    elif reply.status_code == 409:
        result.count(kind, created=False)
    else:
        raise RegistrationError(_explain(f"{kind} {body.get('id')}", reply))


def _send(
    http: httpx.Client, path: str, body: dict[str, Any], content_type: str = "application/json"
) -> httpx.Response:
    import orjson

    try:
        return http.post(path, content=orjson.dumps(body), headers={"Content-Type": content_type})
    except httpx.HTTPError as exc:
        raise RegistrationError(f"cannot reach the API at {http.base_url}: {exc}") from exc


def _explain(what: str, reply: httpx.Response) -> str:
    text = reply.text
    return f"registering {what} failed: HTTP {reply.status_code}: {text[:2000]}"
