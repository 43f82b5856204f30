from __future__ import annotations

from typing import Any

from simulator.demo_crews import ensure_demo_crews
from simulator.registry import register
from simulator.topology import generate


def test_demo_crews_cover_every_district_once_and_a_second_demo_keeps_them(
    server: Any, role_tokens: dict[str, str], api: Any, sim_site: str
) -> None:
    topo = generate(30, 4, sim_site)
    token = role_tokens["admin"]
    register(topo, server.api_url, 300, token=token)
    ensure_demo_crews(server.api_url, topo, token=token)
    ensure_demo_crews(server.api_url, topo, token=token)
    crews = api.get("/api/v1/crews", params={"site_id": sim_site}).raise_for_status().json()["items"]
    assert len(crews) == 4
    assert sorted(d for c in crews for d in c["districts"]) == sorted(d.id for d in topo.districts)
