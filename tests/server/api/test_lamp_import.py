"""Bulk lamp import (GeoJSON, CSV) and GeoJSON export."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.factories import ensure_site, lamp_body, make_cabinet, unique

GEOJSON = {"content-type": "application/geo+json"}


def _feature(body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    lon, lat = body.pop("lon"), body.pop("lat")
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": body}


def _collection(*bodies: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [_feature(b) for b in bodies]}


def test_geojson_import_creates_then_updates(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    bodies = [lamp_body(site) for _ in range(3)]
    first = api.post("/api/v1/lamps/import", json=_collection(*bodies), headers=GEOJSON)
    assert first.json() == {"created": 3, "updated": 0}
    bodies[0]["rated_w"] = 150
    second = api.post("/api/v1/lamps/import", json=_collection(*bodies), headers=GEOJSON)
    assert second.json() == {"created": 0, "updated": 3}
    assert api.get(f"/api/v1/lamps/{bodies[0]['id']}").json()["rated_w"] == 150


def test_csv_import_creates_lamps(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    a, b = unique("L"), unique("L")
    csv = f"id,site_id,lat,lon,rated_w,radio\n{a},{site},-4.55,136.88,60,lora\n{b},{site},-4.56,136.89,120,wifi\n"
    r = api.post("/api/v1/lamps/import", content=csv, headers={"content-type": "text/csv"})
    assert r.json() == {"created": 2, "updated": 0}
    got = api.get(f"/api/v1/lamps/{a}")
    assert got.json()["radio"] == "lora", got.text


def test_import_with_bad_rows_imports_nothing_and_lists_every_bad_row(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    good = lamp_body(site)
    bad_watts = lamp_body(site, rated_w="lots")
    bad_radio = lamp_body(site, radio="pigeon")
    r = api.post("/api/v1/lamps/import", json=_collection(good, bad_watts, bad_radio), headers=GEOJSON)
    assert r.status_code == 422
    assert [(d["index"], d["field"]) for d in r.json()["detail"]] == [(1, "rated_w"), (2, "radio")]
    assert api.get(f"/api/v1/lamps/{good['id']}").status_code == 404


def test_import_naming_an_unknown_cabinet_is_refused(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    r = api.post("/api/v1/lamps/import", json=_collection(lamp_body(site, cabinet_id="nope")), headers=GEOJSON)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "cabinet_id"


def test_import_cannot_move_a_lamp_to_another_site(api: httpx.Client) -> None:
    a, b = ensure_site(api, unique("site"))["id"], ensure_site(api, unique("site"))["id"]
    body = lamp_body(a)
    api.post("/api/v1/lamps/import", json=_collection(body), headers=GEOJSON).raise_for_status()
    r = api.post("/api/v1/lamps/import", json=_collection({**body, "site_id": b}), headers=GEOJSON)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "site_id"


def test_feature_without_point_geometry_is_reported(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    feature = _feature(lamp_body(site))
    feature["geometry"] = None
    r = api.post("/api/v1/lamps/import", json={"type": "FeatureCollection", "features": [feature]},
                 headers=GEOJSON)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "geometry"


def test_body_that_is_not_a_feature_collection_is_refused(api: httpx.Client) -> None:
    r = api.post("/api/v1/lamps/import", json={"type": "Feature"}, headers=GEOJSON)
    assert r.status_code == 422
    assert "FeatureCollection" in r.json()["message"]


def test_unsupported_media_type_is_refused(api: httpx.Client) -> None:
    r = api.post("/api/v1/lamps/import", content=b"<lamps/>", headers={"content-type": "application/xml"})
    assert r.status_code == 415


def test_geojson_export_has_imported_lamps_at_their_coordinates(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    cabinet = make_cabinet(api, site)["id"]
    body = lamp_body(site, cabinet_id=cabinet, lat=-4.6, lon=136.95)
    api.post("/api/v1/lamps/import", json=_collection(body), headers=GEOJSON).raise_for_status()
    doc = api.get("/api/v1/lamps/geojson", params={"cabinet_id": cabinet}).json()
    assert doc["type"] == "FeatureCollection"
    assert [(f["properties"]["id"], f["geometry"]["coordinates"]) for f in doc["features"]] == [
        (body["id"], [136.95, -4.6])
    ]


def test_lamp_list_filters_by_radio(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    bodies = [lamp_body(site, radio="lora"), lamp_body(site, radio="wifi")]
    api.post("/api/v1/lamps/import", json=_collection(*bodies), headers=GEOJSON).raise_for_status()
    page = api.get("/api/v1/lamps", params={"site_id": site, "radio": "lora"}).json()
    assert [lamp["id"] for lamp in page["items"]] == [bodies[0]["id"]]
