"""The 18 districts (distrik) of Kabupaten Mimika, Papua Tengah, as the simulator places them.

The list is the 18 distrik named in the Mimika regional profile (BAB II "Gambaran Umum",
id.scribd.com/document/331672530): Mimika Baru, Kwamki Narama, Wania, Iwaka, Kuala Kencana,
Mimika Timur, Mimika Timur Jauh, Mimika Tengah, Mimika Barat, Amar, Mimika Barat Tengah,
Mimika Barat Jauh, Jita, Agimuga, Jila, Alama, Hoya and Tembagapura. Kompas (12 April 2022,
"Mengenal Lebih Dekat Kabupaten Mimika") names the same districts except Tembagapura (it spells
Iwaka "Awaka"); Papua Global News (29 October 2025) confirms there are still 18. "Mimika Timur
Tengah", found in older 12-district lists, is the former name of Mimika Tengah; Mimika Gunung and
Mimika Utara are proposed splits (2025), not yet districts.

Coordinates are the approximate positions of each district's main settlement, hand-placed from
public maps to within about 10-20 km: good enough for a simulated map, not survey data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How dense and how connected a district is; drives cabinet spread, road classes and radio mix.
Setting = Literal["town", "periurban", "rural", "highland"]

TIMIKA_LAT = -4.5468
TIMIKA_LON = 136.8880
TIMEZONE = "Asia/Jayapura"


@dataclass(frozen=True)
class District:
    code: str  # three letters; part of every generated id in the district
    name: str
    lat: float
    lon: float
    setting: Setting
    # Relative share of the regency's street lights, roughly following where people live.
    share: float


DISTRICTS: tuple[District, ...] = (
    District("MBR", "Mimika Baru", -4.5468, 136.8880, "town", 40.0),
    District("KNR", "Kwamki Narama", -4.5050, 136.9250, "town", 8.0),
    District("WAN", "Wania", -4.5780, 136.8600, "town", 10.0),
    District("KKN", "Kuala Kencana", -4.4050, 136.8350, "town", 9.0),
    District("IWK", "Iwaka", -4.6100, 136.7400, "periurban", 4.0),
    District("MTM", "Mimika Timur", -4.7300, 136.9600, "periurban", 5.0),
    District("TBG", "Tembagapura", -4.1430, 137.0910, "periurban", 7.0),
    District("MTJ", "Mimika Timur Jauh", -4.8800, 137.3000, "rural", 2.0),
    District("MTG", "Mimika Tengah", -4.7600, 136.5800, "rural", 2.0),
    District("MBT", "Mimika Barat", -4.7100, 136.4300, "rural", 2.0),
    District("AMR", "Amar", -4.6400, 136.1900, "rural", 1.0),
    District("MBG", "Mimika Barat Tengah", -4.3800, 135.9300, "rural", 1.0),
    District("MBJ", "Mimika Barat Jauh", -4.2500, 135.3500, "rural", 1.0),
    District("JIT", "Jita", -5.0200, 137.5500, "rural", 1.5),
    District("AGM", "Agimuga", -4.8500, 137.7000, "rural", 1.5),
    District("JIL", "Jila", -4.2700, 137.4200, "highland", 1.5),
    District("ALM", "Alama", -4.2000, 137.7200, "highland", 1.0),
    District("HOY", "Hoya", -4.1600, 137.2800, "highland", 1.0),
)
