from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest

from simulator.districts import DISTRICTS
from simulator.topology import CELLULAR, LORA, RADIOS, WIFI, allocate, cabinet_sizes, generate, id_prefix

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@pytest.fixture(scope="module")
def fleet_2000():
    return generate(2000, seed=7, site_id="mimika")


def test_same_seed_gives_the_same_network() -> None:
    a, b = generate(500, seed=3), generate(500, seed=3)
    assert a.lamps.ids == b.lamps.ids
    assert [c.id for c in a.cabinets] == [c.id for c in b.cabinets]
    np.testing.assert_array_equal(a.lamps.lat, b.lamps.lat)
    np.testing.assert_array_equal(a.lamps.rated_w, b.lamps.rated_w)
    np.testing.assert_array_equal(a.lamps.radio, b.lamps.radio)


def test_another_seed_gives_another_network() -> None:
    a, b = generate(500, seed=3), generate(500, seed=4)
    assert not np.array_equal(a.lamps.lat, b.lamps.lat)


def test_network_has_exactly_the_requested_lamps(fleet_2000) -> None:
    assert len(fleet_2000.lamps) == 2000
    assert len(fleet_2000.lamps.ids) == len(set(fleet_2000.lamps.ids))


def test_every_district_is_present_even_without_lamps() -> None:
    topo = generate(5, seed=1)
    assert len(topo.districts) == 18
    assert len(topo.lamps) == 5


def test_generated_ids_are_valid_protocol_ids(fleet_2000) -> None:
    ids = (
        fleet_2000.lamps.ids
        + [c.id for c in fleet_2000.cabinets]
        + [g.id for g in fleet_2000.gateways]
        + [d.id for d in fleet_2000.districts]
    )
    assert all(ID_RE.match(i) for i in ids)


def test_long_site_ids_still_give_valid_lamp_ids() -> None:
    site = "a-very-long-site-identifier-32ch"
    topo = generate(300, seed=1, site_id=site)
    assert len(id_prefix(site)) <= 12
    assert all(ID_RE.match(i) for i in topo.lamps.ids)
    assert id_prefix(site) != id_prefix(site[:-1] + "x")


def test_cabinets_feed_20_to_150_lamps(fleet_2000) -> None:
    sizes = Counter(fleet_2000.lamps.cabinet.tolist())
    assert len(sizes) == len(fleet_2000.cabinets)
    assert all(20 <= s <= 150 for s in sizes.values())


def test_cabinet_sizes_split_a_district_exactly() -> None:
    rng = np.random.default_rng(0)
    for n in (0, 7, 20, 151, 300, 812, 5000):
        sizes = cabinet_sizes(n, rng)
        assert sum(sizes) == n
        if n >= 20:
            assert all(20 <= s <= 150 for s in sizes)


def test_lamps_are_shared_out_by_district_weight() -> None:
    counts = allocate(2000, [d.share for d in DISTRICTS])
    assert sum(counts) == 2000
    assert counts[0] == max(counts)  # Mimika Baru


def test_rated_power_is_within_30_to_250_watts(fleet_2000) -> None:
    assert fleet_2000.lamps.rated_w.min() >= 30
    assert fleet_2000.lamps.rated_w.max() <= 250


def test_town_centre_is_mostly_wifi_and_districts_mostly_lora(fleet_2000) -> None:
    lamps = fleet_2000.lamps
    town = lamps.district == 0  # Mimika Baru
    rural = np.isin(lamps.district, [k for k, d in enumerate(DISTRICTS) if d.setting in ("rural", "highland")])
    assert np.mean(lamps.radio[town] == WIFI) > 0.6
    assert np.mean(lamps.radio[rural] == LORA) > 0.5
    assert np.any(lamps.radio == CELLULAR)


def test_every_lora_lamp_has_a_gateway_in_its_own_district(fleet_2000) -> None:
    lamps = fleet_2000.lamps
    for k in np.flatnonzero(lamps.radio == LORA):
        gw = fleet_2000.gateways[int(lamps.gateway[k])]
        assert lamps.gateway[k] >= 0
        assert gw.district_id == fleet_2000.districts[int(lamps.district[k])].id


def test_only_lora_lamps_have_gateways(fleet_2000) -> None:
    lamps = fleet_2000.lamps
    assert np.all(lamps.gateway[lamps.radio != LORA] == -1)


def test_lamps_stand_near_their_district(fleet_2000) -> None:
    lamps = fleet_2000.lamps
    for k in range(0, len(lamps), 37):
        d = DISTRICTS[int(lamps.district[k])]
        km = math.hypot((lamps.lat[k] - d.lat) * 111.3, (lamps.lon[k] - d.lon) * 111.3)
        assert km < 12, (lamps.ids[k], km)


def test_neighbouring_poles_stand_30_to_45_metres_apart(fleet_2000) -> None:
    lamps = fleet_2000.lamps
    first = np.flatnonzero(lamps.cabinet == 0)[:10]
    dy = np.diff(lamps.lat[first]) * 111_320
    dx = np.diff(lamps.lon[first]) * 111_320 * math.cos(math.radians(lamps.lat[first][0]))
    spacing = np.hypot(dx, dy)
    assert np.all((spacing > 29) & (spacing < 46))


def test_geojson_feature_carries_the_import_contract(fleet_2000) -> None:
    doc = fleet_2000.lamp_features(report_interval_s=300)
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == 2000
    feature = doc["features"][0]
    lon, lat = feature["geometry"]["coordinates"]
    assert feature["geometry"]["type"] == "Point"
    assert 136 < lon < 138
    assert -5 < lat < -4
    props = feature["properties"]
    assert set(props) == {"id", "site_id", "district_id", "cabinet_id", "gateway_id", "name", "rated_w", "radio",
                          "report_interval_s"}
    assert props["radio"] in RADIOS
    assert props["report_interval_s"] == 300
    assert props["site_id"] == "mimika"
