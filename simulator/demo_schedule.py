"""The demo's dimming schedule, written through the API as an operator would, so that the demo's town
lamps visibly dim through the night (and light fully on national holidays) while the rest of the
fleet keeps the default full-on-all-night calendar. Idempotent: a second demo finds it in place."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from simulator.registry import api_base
from simulator.topology import Topology

PROFILE = "Hemat energi (demo)"
CALENDAR = "Kota hemat (demo)"
STEPS = [
    {"at": "sunset", "level": 100},
    {"at": "clock", "time": "22:00", "level": 60, "fade_s": 900},
    {"at": "clock", "time": "04:30", "level": 80, "fade_s": 300},
    {"at": "sunrise", "level": 0},
]


def ensure_demo_schedule(
    api_url: str, topology: Topology, note: Callable[[str], None] | None = None, *, token: str | None = None
) -> None:
    """``token``: a bearer token of an operator or admin, once the API checks callers."""
    say = note or (lambda _msg: None)
    site = topology.site.id
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with httpx.Client(base_url=api_base(api_url), timeout=30, headers=headers) as http:
        profiles = http.get("profiles", params={"site_id": site, "limit": 1000}).raise_for_status().json()["items"]
        if any(p["name"] == PROFILE for p in profiles):
            return
        # The site's default profile (full on, sunset to sunrise) lights the holidays.
        calendars = http.get("calendars", params={"site_id": site, "limit": 1000}).raise_for_status().json()["items"]
        all_night = calendars[0]["default_profile_id"]
        hemat = http.post("profiles", json={"site_id": site, "name": PROFILE, "steps": STEPS}).raise_for_status()
        calendar = http.post("calendars", json={
            "site_id": site, "name": CALENDAR, "default_profile_id": hemat.json()["id"],
            "rules": [{"profile_id": all_night, "holidays": "id-national", "priority": 10,
                       "note": "Hari libur nasional: full on"}],
        }).raise_for_status().json()
        towns = [d for d in topology.districts if d.setting == "town"]
        for d in towns:
            reply = http.post("assignments", json={"calendar_id": calendar["id"], "target_type": "district",
                                                   "target_id": d.id})
            if reply.status_code not in (201, 409):
                reply.raise_for_status()
        say(f"schedule: '{PROFILE}' assigned to {', '.join(d.name for d in towns)}")
