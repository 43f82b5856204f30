"""Test data made through the real API, so tests exercise the same path operators use."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter):05d}"


def ensure_site(api: httpx.Client, site_id: str, **fields: Any) -> dict[str, Any]:
    body = {"id": site_id, "name": f"Test site {site_id}", "lat": -4.55, "lon": 136.88, **fields}
    r = api.post("/api/v1/sites", json=body)
    if r.status_code == 409:
        return dict(api.get(f"/api/v1/sites/{site_id}").json())
    r.raise_for_status()
    return dict(r.json())


def make_district(api: httpx.Client, site_id: str, **fields: Any) -> dict[str, Any]:
    body = {"id": unique("d"), "site_id": site_id, "name": "Mimika Baru", **fields}
    r = api.post("/api/v1/districts", json=body)
    r.raise_for_status()
    return dict(r.json())


def make_cabinet(api: httpx.Client, site_id: str, district_id: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"id": unique("c"), "site_id": site_id, "district_id": district_id, "name": "Panel", "lat": -4.55,
            "lon": 136.88, **fields}
    r = api.post("/api/v1/cabinets", json=body)
    r.raise_for_status()
    return dict(r.json())


def lamp_body(site_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": unique("L"), "site_id": site_id, "lat": -4.546, "lon": 136.884, "rated_w": 90.0,
            "radio": "wifi", **fields}


def make_lamp(api: httpx.Client, site_id: str, **fields: Any) -> dict[str, Any]:
    r = api.post("/api/v1/lamps", json=lamp_body(site_id, **fields))
    r.raise_for_status()
    return dict(r.json())


def make_lamps(api: httpx.Client, site_id: str, n: int, **fields: Any) -> list[str]:
    """Registers ``n`` lamps through the GeoJSON import; returns their ids."""
    features = []
    ids = []
    for _ in range(n):
        body = lamp_body(site_id, **fields)
        ids.append(body["id"])
        lon, lat = body.pop("lon"), body.pop("lat")
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                         "properties": body})
    r = api.post("/api/v1/lamps/import", json={"type": "FeatureCollection", "features": features},
                 headers={"content-type": "application/geo+json"})
    r.raise_for_status()
    return ids
