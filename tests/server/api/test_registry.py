"""Sites, districts, cabinets and gateways through the real API."""

from __future__ import annotations

import httpx

from tests.support.factories import ensure_site, make_cabinet, make_district, make_lamp, unique


def test_site_is_created_and_read_back(api: httpx.Client) -> None:
    site = unique("site")
    r = api.post("/api/v1/sites", json={"id": site, "name": "Mimika", "lat": -4.55, "lon": 136.88})
    assert r.status_code == 201
    got = api.get(f"/api/v1/sites/{site}").json()
    assert (got["name"], got["timezone"]) == ("Mimika", "Asia/Jayapura")


def test_duplicate_site_is_a_conflict(api: httpx.Client) -> None:
    site = unique("site")
    ensure_site(api, site)
    r = api.post("/api/v1/sites", json={"id": site, "name": "again"})
    assert r.status_code == 409
    assert site in r.json()["message"]


def test_bad_site_id_names_the_field(api: httpx.Client) -> None:
    r = api.post("/api/v1/sites", json={"id": "has space", "name": "x"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "id"


def test_unknown_time_zone_is_refused(api: httpx.Client) -> None:
    r = api.post("/api/v1/sites", json={"id": unique("site"), "name": "x", "timezone": "Mars/Olympus"})
    assert r.status_code == 422
    assert "timezone" in r.json()["message"]


def test_unknown_field_is_refused(api: httpx.Client) -> None:
    r = api.post("/api/v1/sites", json={"id": unique("site"), "name": "x", "colour": "red"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "colour"


def test_district_of_unknown_site_names_site_id(api: httpx.Client) -> None:
    r = api.post("/api/v1/districts", json={"id": unique("d"), "site_id": "nosuchsite", "name": "Wania"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "site_id"


def test_cabinet_cannot_point_at_a_district_of_another_site(api: httpx.Client) -> None:
    a, b = ensure_site(api, unique("site"))["id"], ensure_site(api, unique("site"))["id"]
    district = make_district(api, a)["id"]
    r = api.post("/api/v1/cabinets", json={"id": unique("c"), "site_id": b, "district_id": district, "name": "P"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "district_id"


def test_site_with_districts_cannot_be_deleted(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    make_district(api, site)
    r = api.delete(f"/api/v1/sites/{site}")
    assert r.status_code == 409


def test_empty_site_is_deleted(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    assert api.delete(f"/api/v1/sites/{site}").status_code == 204
    assert api.get(f"/api/v1/sites/{site}").status_code == 404


def test_patch_changes_only_given_fields(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))
    district = make_district(api, site["id"])
    cabinet = make_cabinet(api, site["id"], district["id"], name="Panel A")
    r = api.patch(f"/api/v1/cabinets/{cabinet['id']}", json={"name": "Panel B"})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["district_id"]) == ("Panel B", district["id"])


def test_list_filters_by_site(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    ids = {make_district(api, site)["id"] for _ in range(3)}
    page = api.get("/api/v1/districts", params={"site_id": site}).json()
    assert {d["id"] for d in page["items"]} == ids
    assert page["total"] == 3


def test_page_size_is_capped(api: httpx.Client) -> None:
    page = api.get("/api/v1/sites", params={"limit": 1_000_000}).json()
    assert page["limit"] == 1000


def test_gateway_shows_no_health_until_it_reports(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    gw = api.post("/api/v1/gateways", json={"id": unique("gw"), "site_id": site, "name": "Kuala Kencana GW"})
    assert gw.status_code == 201
    assert gw.json()["health"] is None


def test_lamp_with_rated_watts_out_of_range_names_the_field(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    r = api.post("/api/v1/lamps", json={"id": unique("L"), "site_id": site, "lat": -4.5, "lon": 136.9,
                                        "rated_w": -5, "radio": "wifi"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "rated_w"


def test_lamp_is_created_with_defaults(api: httpx.Client) -> None:
    site = ensure_site(api, unique("site"))["id"]
    lamp = make_lamp(api, site)
    assert (lamp["report_interval_s"], lamp["lamp_type"]) == (300, "led")


def test_oversized_body_is_refused_before_it_is_read(api: httpx.Client) -> None:
    r = api.post("/api/v1/lamps/import", content=b"x" * (11 * 1024 * 1024),
                 headers={"content-type": "text/csv"})
    assert r.status_code == 413
