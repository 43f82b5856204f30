"""A Mimika street-lighting network, generated deterministically from a seed.

Districts get lamps in proportion to their share; lamps hang on cabinets (feeders of 20-150
lamps, laid out as one or two branches of poles 30-45 m apart), each cabinet has a primary radio
(Wi-Fi in town, LoRa in the districts, a few cellular poles everywhere), and LoRa cabinets are
grouped under gateways. Lamps are columns of numpy arrays so the electrical model can work on the
whole fleet at once.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from simulator.districts import DISTRICTS, TIMEZONE, TIMIKA_LAT, TIMIKA_LON, District, Setting

Radio = Literal["wifi", "lora", "cellular"]
RADIOS: tuple[Radio, ...] = ("wifi", "lora", "cellular")
WIFI, LORA, CELLULAR = 0, 1, 2

CABINET_MIN_LAMPS = 20
CABINET_MAX_LAMPS = 150
CABINET_MEAN_LAMPS = 85
# A feeder longer than this is laid out as two branches leaving the cabinet in opposite directions.
SINGLE_BRANCH_MAX = 40
LORA_CABINETS_PER_GATEWAY = 4
# Share of poles that sit outside their cabinet's primary coverage and use 4G instead.
CELLULAR_SPILL = 0.08
METRES_PER_DEGREE = 111_320.0
ID_PREFIX_MAX = 12

# Road class of a feeder -> typical LED luminaire ratings (W) with their weights.
ROAD_WATTS: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "arterial": ((120, 150, 180, 200, 250), (0.2, 0.3, 0.2, 0.2, 0.1)),
    "collector": ((60, 80, 90, 100, 120), (0.15, 0.3, 0.2, 0.25, 0.1)),
    "residential": ((30, 40, 50, 60, 80), (0.2, 0.3, 0.25, 0.15, 0.1)),
}
ROADS = tuple(ROAD_WATTS)
ROAD_MIX: dict[Setting, tuple[float, float, float]] = {
    "town": (0.25, 0.35, 0.40),
    "periurban": (0.15, 0.35, 0.50),
    "rural": (0.05, 0.35, 0.60),
    "highland": (0.0, 0.30, 0.70),
}
# Primary radio of a cabinet by setting: (wifi, lora, cellular).
RADIO_MIX: dict[Setting, tuple[float, float, float]] = {
    "town": (0.90, 0.10, 0.0),
    "periurban": (0.40, 0.60, 0.0),
    "rural": (0.0, 0.90, 0.10),
    "highland": (0.0, 0.60, 0.40),
}
# How far cabinets scatter around a district's main settlement (m).
SPREAD_M: dict[Setting, float] = {"town": 3_500.0, "periurban": 2_500.0, "rural": 1_500.0, "highland": 1_200.0}


@dataclass(frozen=True)
class SiteSpec:
    id: str
    name: str
    timezone: str
    lat: float
    lon: float


@dataclass(frozen=True)
class DistrictSpec:
    id: str
    site_id: str
    code: str
    name: str
    setting: Setting
    lat: float
    lon: float


@dataclass(frozen=True)
class CabinetSpec:
    id: str
    site_id: str
    district_id: str
    name: str
    lat: float
    lon: float
    road: str
    radio: Radio


@dataclass(frozen=True)
class GatewaySpec:
    id: str
    site_id: str
    district_id: str | None
    name: str
    lat: float
    lon: float


@dataclass
class LampTable:
    """One row per lamp; index arrays point into the topology's district/cabinet/gateway lists."""

    ids: list[str]
    names: list[str]
    district: npt.NDArray[np.int32]
    cabinet: npt.NDArray[np.int32]
    gateway: npt.NDArray[np.int32]  # -1: talks to the broker directly
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    rated_w: npt.NDArray[np.float64]
    radio: npt.NDArray[np.int8]  # WIFI, LORA or CELLULAR
    # Distance along the feeder from the cabinet, 0 (at the cabinet) .. 1 (end of the longest branch).
    feeder_pos: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Topology:
    seed: int
    site: SiteSpec
    districts: list[DistrictSpec]
    cabinets: list[CabinetSpec]
    gateways: list[GatewaySpec]
    lamps: LampTable
    lamp_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lamp_index = {lamp_id: i for i, lamp_id in enumerate(self.lamps.ids)}

    def lamp_features(self, report_interval_s: int) -> dict[str, Any]:
        """The lamps as the GeoJSON FeatureCollection that ``POST /lamps/import`` takes."""
        lamps = self.lamps
        features = []
        for i, lamp_id in enumerate(lamps.ids):
            gw = int(lamps.gateway[i])
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [round(float(lamps.lon[i]), 6), round(float(lamps.lat[i]), 6)],
                    },
                    "properties": {
                        "id": lamp_id,
                        "site_id": self.site.id,
                        "district_id": self.districts[int(lamps.district[i])].id,
                        "cabinet_id": self.cabinets[int(lamps.cabinet[i])].id,
                        "gateway_id": self.gateways[gw].id if gw >= 0 else None,
                        "name": lamps.names[i],
                        "rated_w": int(lamps.rated_w[i]),
                        "radio": RADIOS[int(lamps.radio[i])],
                        "report_interval_s": int(report_interval_s),
                    },
                }
            )
        return {"type": "FeatureCollection", "features": features}


def id_prefix(site_id: str) -> str:
    """A short, stable prefix for generated ids; lamp ids are global, so they carry their site."""
    if len(site_id) <= ID_PREFIX_MAX:
        return site_id
    digest = hashlib.blake2s(site_id.encode(), digest_size=2).hexdigest()
    return site_id[: ID_PREFIX_MAX - 5] + "-" + digest


def allocate(total: int, shares: list[float]) -> list[int]:
    """Splits ``total`` in proportion to ``shares`` by largest remainder (ties to the earlier)."""
    weight = sum(shares)
    exact = [total * s / weight for s in shares]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda k: (-(exact[k] - counts[k]), k))
    for k in order[: total - sum(counts)]:
        counts[k] += 1
    return counts


def cabinet_sizes(n: int, rng: np.random.Generator) -> list[int]:
    """Feeder sizes for ``n`` lamps: each 20-150, about 85 on average; one small feeder if n < 20."""
    if n <= 0:
        return []
    if n < CABINET_MIN_LAMPS:
        return [n]
    k = max(round(n / CABINET_MEAN_LAMPS), math.ceil(n / CABINET_MAX_LAMPS), 1)
    k = min(k, n // CABINET_MIN_LAMPS)
    sizes = np.full(k, CABINET_MIN_LAMPS, dtype=np.int64)
    extra = n - CABINET_MIN_LAMPS * k
    weights = rng.dirichlet(np.full(k, 3.0))
    while extra > 0:
        room = CABINET_MAX_LAMPS - sizes
        w = np.where(room > 0, weights, 0.0)
        add = np.minimum(rng.multinomial(extra, w / w.sum()), room)
        sizes += add
        extra -= int(add.sum())
    return [int(s) for s in sizes]


def _offset(lat: float, lon: float, dx_m: float, dy_m: float) -> tuple[float, float]:
    return (
        lat + dy_m / METRES_PER_DEGREE,
        lon + dx_m / (METRES_PER_DEGREE * math.cos(math.radians(lat))),
    )


def _feeder_layout(
    n: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Pole offsets (x, y in metres from the cabinet) and feeder position along one or two branches."""
    spacing = rng.uniform(30.0, 45.0)
    branches = [n] if n <= SINGLE_BRANCH_MAX else [n - n // 2, n // 2]
    heading = rng.uniform(0.0, 2 * math.pi)
    xs, ys, dist = [], [], []
    for b, count in enumerate(branches):
        start = heading + b * math.pi + rng.normal(0.0, 0.3)
        # Roads bend a little at every pole.
        bearings = start + np.cumsum(rng.normal(0.0, math.radians(4.0), count))
        xs.append(np.cumsum(spacing * np.cos(bearings)))
        ys.append(np.cumsum(spacing * np.sin(bearings)))
        dist.append(spacing * np.arange(1, count + 1, dtype=np.float64))
    d = np.concatenate(dist)
    return np.concatenate(xs), np.concatenate(ys), d / d.max()


def generate(lamps: int, seed: int = 1, site_id: str = "mimika") -> Topology:
    """The whole Mimika network with exactly ``lamps`` lamps; the same arguments give the same network."""
    if lamps < 0:
        raise ValueError("lamps must be >= 0")
    rng = np.random.default_rng(seed)
    prefix = id_prefix(site_id)
    site = SiteSpec(site_id, "Kabupaten Mimika", TIMEZONE, TIMIKA_LAT, TIMIKA_LON)
    districts = [
        DistrictSpec(f"{prefix}-{d.code}", site_id, d.code, d.name, d.setting, d.lat, d.lon)
        for d in DISTRICTS
    ]
    counts = allocate(lamps, [d.share for d in DISTRICTS])

    cabinets: list[CabinetSpec] = []
    gateways: list[GatewaySpec] = []
    ids: list[str] = []
    names: list[str] = []
    cols: dict[str, list[npt.NDArray[Any]]] = {
        k: [] for k in ("district", "cabinet", "gateway", "lat", "lon", "rated_w", "radio", "feeder_pos")
    }

    for d_idx, (district, spec, n) in enumerate(zip(DISTRICTS, districts, counts, strict=True)):
        lora_cabinets: list[tuple[float, int]] = []  # (angle around the district centre, cabinet index)
        cabinet_lamps: list[tuple[int, npt.NDArray[np.bool_]]] = []  # per cabinet: its LoRa lamps
        for c_no, size in enumerate(cabinet_sizes(n, rng), start=1):
            c_idx = len(cabinets)
            cab_lat, cab_lon, angle = _cabinet_position(district, c_no, rng)
            road = ROADS[int(rng.choice(3, p=ROAD_MIX[district.setting]))]
            radio = RADIOS[int(rng.choice(3, p=RADIO_MIX[district.setting]))]
            cab_id = f"{spec.id}-C{c_no}"
            cabinets.append(
                CabinetSpec(cab_id, site_id, spec.id, f"Panel PJU {district.name} {c_no:02d}",
                            cab_lat, cab_lon, road, radio)
            )
            xs, ys, pos = _feeder_layout(size, rng)
            lat = cab_lat + ys / METRES_PER_DEGREE
            lon = cab_lon + xs / (METRES_PER_DEGREE * math.cos(math.radians(cab_lat)))
            watts, weights = ROAD_WATTS[road]
            rated = rng.choice(np.array(watts, dtype=np.float64), size=size, p=weights)
            lamp_radio = np.full(size, RADIOS.index(radio), dtype=np.int8)
            lamp_radio[rng.random(size) < CELLULAR_SPILL] = CELLULAR
            for l_no in range(1, size + 1):
                ids.append(f"{cab_id}-{l_no:03d}")
                names.append(f"PJU {district.name} {c_no:02d}-{l_no:03d}")
            cols["district"].append(np.full(size, d_idx, dtype=np.int32))
            cols["cabinet"].append(np.full(size, c_idx, dtype=np.int32))
            cols["lat"].append(lat)
            cols["lon"].append(lon)
            cols["rated_w"].append(rated)
            cols["radio"].append(lamp_radio)
            cols["feeder_pos"].append(pos)
            is_lora = lamp_radio == LORA
            cabinet_lamps.append((c_idx, is_lora))
            if is_lora.any():
                lora_cabinets.append((angle, c_idx))

        # LoRa cabinets that sit next to each other (by bearing from the centre) share a gateway.
        gateway_of: dict[int, int] = {}
        lora_cabinets.sort()
        for g_no, start in enumerate(range(0, len(lora_cabinets), LORA_CABINETS_PER_GATEWAY), start=1):
            group = [c for _, c in lora_cabinets[start : start + LORA_CABINETS_PER_GATEWAY]]
            host = cabinets[group[0]]
            g_lat, g_lon = _offset(host.lat, host.lon, 25.0, 25.0)
            for c in group:
                gateway_of[c] = len(gateways)
            gateways.append(
                GatewaySpec(f"{spec.id}-G{g_no}", site_id, spec.id, f"Gateway LoRa {district.name} {g_no}",
                            g_lat, g_lon)
            )
        for c_idx, is_lora in cabinet_lamps:
            gw = np.full(is_lora.size, -1, dtype=np.int32)
            gw[is_lora] = gateway_of.get(c_idx, -1)
            cols["gateway"].append(gw)

    def column(name: str, dtype: type[Any]) -> npt.NDArray[Any]:
        parts = cols[name]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    table = LampTable(
        ids=ids,
        names=names,
        district=column("district", np.int32),
        cabinet=column("cabinet", np.int32),
        gateway=column("gateway", np.int32),
        lat=column("lat", np.float64),
        lon=column("lon", np.float64),
        rated_w=column("rated_w", np.float64),
        radio=column("radio", np.int8),
        feeder_pos=column("feeder_pos", np.float64),
    )
    return Topology(seed, site, districts, cabinets, gateways, table)


def _cabinet_position(district: District, c_no: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """The first cabinet stands in the district's main settlement, the others scatter around it."""
    if c_no == 1:
        radius, angle = rng.uniform(0.0, 300.0), rng.uniform(0.0, 2 * math.pi)
    else:
        # sqrt keeps the scatter uniform over the disc rather than bunched at the centre.
        radius = SPREAD_M[district.setting] * math.sqrt(rng.uniform(0.05, 1.0))
        angle = rng.uniform(0.0, 2 * math.pi)
    lat, lon = _offset(district.lat, district.lon, radius * math.cos(angle), radius * math.sin(angle))
    return lat, lon, angle
