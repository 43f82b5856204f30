"""The demo's maintenance crews, written through the API as an operator would: one per group of
districts (town, peri-urban, rural lowland, highland), so every alert the fault engine opens is
assigned to the crew of its district. Idempotent: a second demo finds them in place."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from simulator.districts import Setting
from simulator.registry import api_base
from simulator.topology import Topology, id_prefix

CREWS: dict[Setting, tuple[str, str]] = {
    "town": ("regu-kota", "Regu Kota Timika"),
    "periurban": ("regu-pinggiran", "Regu Pinggiran Kota"),
    "rural": ("regu-pesisir", "Regu Pesisir dan Dataran Rendah"),
    "highland": ("regu-pegunungan", "Regu Pegunungan"),
}


def ensure_demo_crews(
    api_url: str, topology: Topology, note: Callable[[str], None] | None = None, *, token: str | None = None
) -> None:
    """``token``: a bearer token of an operator or admin."""
    say = note or (lambda _msg: None)
    site = topology.site.id
    headers = {"Authorization": f"Bearer {token}"} if token else None
    made = []
    with httpx.Client(base_url=api_base(api_url), timeout=30, headers=headers) as http:
        for setting, (suffix, name) in CREWS.items():
            districts = [d.id for d in topology.districts if d.setting == setting]
            if not districts:
                continue
            crew = {"id": f"{id_prefix(site)}-{suffix}", "site_id": site, "name": name, "districts": districts}
            reply = http.post("crews", json=crew)
            if reply.status_code not in (201, 409):
                reply.raise_for_status()
            made.append(f"{name} ({len(districts)} districts)")
    say(f"crews: {', '.join(made)}")
