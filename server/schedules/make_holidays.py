"""Writes server/schedules/data/holidays_id.json, the Indonesian national holidays the server ships.

Run by a developer when a new year's decree is out (``python -m server.schedules.make_holidays``);
the server itself never touches the network. The dates come from the ``holidays`` package (a dev
dependency), whose Indonesia calendar follows the joint ministerial decrees (SKB 3 Menteri) on
national holidays; dates it only estimates (Islamic and Chinese lunar holidays of years without a
decree yet) are marked ``estimated``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson

OUT = Path(__file__).parent / "data" / "holidays_id.json"
SOURCE = (
    "Hari libur nasional, Surat Keputusan Bersama (SKB) 3 Menteri (Menteri Agama, Menteri Ketenagakerjaan, "
    "Menteri PANRB) per year, as compiled by the python-holidays project (Indonesia); "
    "entries marked estimated are calculated, not yet decreed"
)


def build(first: int, last: int) -> dict[str, object]:
    import holidays

    years = list(range(first, last + 1))
    local = holidays.country_holidays("ID", years=years, language="id")
    english = holidays.country_holidays("ID", years=years, language="en_US")
    entries = []
    for day in sorted(local):
        name_id = local[day]
        name_en = english.get(day, name_id)
        for one_id, one_en in zip(name_id.split("; "), name_en.split("; "), strict=False):
            estimated = "(estimated)" in one_en or "(perkiraan)" in one_id
            entries.append({
                "date": day.isoformat(),
                "name_id": one_id.replace(" (perkiraan)", ""),
                "name_en": one_en.replace(" (estimated)", ""),
                "estimated": estimated,
            })
    version = getattr(holidays, "__version__", "?")
    return {"set": "id-national", "source": SOURCE, "generator": f"python-holidays {version}",
            "years": [first, last], "holidays": entries}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", type=int, default=2024)
    parser.add_argument("--last", type=int, default=2030)
    args = parser.parse_args()
    OUT.write_bytes(orjson.dumps(build(args.first, args.last), option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
