"""Every route states who may call it, so a new endpoint cannot ship without an access rule."""

from __future__ import annotations

from fastapi.routing import APIRoute

from server.api.access import Access, Public, rule_of
from server.api.main import routers


def _routes() -> list[APIRoute]:
    routes = [r for router in routers() for r in router.routes if isinstance(r, APIRoute)]
    assert routes, "no routes found"
    return routes


def test_every_api_route_has_an_access_rule() -> None:
    missing = [f"{sorted(r.methods or ())} {r.path}" for r in _routes() if rule_of(r.dependencies) is None]
    assert missing == []


def test_only_health_and_login_are_public() -> None:
    public = [r.path for r in _routes() if isinstance(rule_of(r.dependencies), Public)]
    assert sorted(public) == ["/auth/login", "/health"]


def test_writes_are_not_open_to_viewers() -> None:
    for route in _routes():
        rule = rule_of(route.dependencies)
        mutating = (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
        # Everyone may manage their own session and tokens; the handlers check ownership.
        if isinstance(rule, Access) and mutating and not route.path.startswith(("/auth/", "/tokens")):
            assert "viewer" not in rule.roles, route.path
