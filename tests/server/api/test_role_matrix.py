"""Every endpoint called as every role (and as nobody), generated from the route table.

The expected status follows from the route's rule: no token -> 401 (except public routes); a role
the rule does not name -> 403; a role it names -> neither 401 nor 403 (the request itself is a
harmless one: ids that do not exist, empty bodies). A new route without a rule fails here, and so
does a rule the server does not enforce.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from server.api.access import Access, Public, rule_of
from server.api.main import API_PREFIX, routers
from tests.conftest import ROLES
from tests.support.auth import bearer, create_token

ABSENT_ID = "matrix-absent"
BODY_METHODS = {"POST", "PUT", "PATCH"}


def _endpoints() -> list[tuple[str, str, APIRoute]]:
    return sorted(((method, route.path, route) for router in routers() for route in router.routes
                   if isinstance(route, APIRoute) for method in (route.methods or ())),
                  key=lambda e: (e[1], e[0]))


def expected_status(rule: Access | Public | None, role: str | None) -> str:
    """'401', '403' or 'allowed' (any status but 401, 403 and 5xx)."""
    if rule is None:
        return "no rule"
    if isinstance(rule, Public):
        return "allowed"
    if role is None:
        return "401"
    return "allowed" if role in rule.roles else "403"


def _call(api_url: str, method: str, path: str, token: str | None) -> int:
    url = api_url + API_PREFIX + re.sub(r"\{[^}]+\}", ABSENT_ID, path)
    kwargs: dict[str, Any] = {"headers": bearer(token) if token else {}}
    if method in BODY_METHODS:
        kwargs["json"] = {}
    # Only the status is read: a streaming route (the alert stream) never ends its body.
    with httpx.stream(method, url, timeout=30, **kwargs) as response:
        return response.status_code


@pytest.mark.parametrize(("method", "path", "route"), _endpoints(), ids=[f"{m} {p}" for m, p, _ in _endpoints()])
def test_each_role_gets_what_the_route_rule_says(
    method: str, path: str, route: APIRoute, server: Any, database_url: str, run_tag: str,
    role_tokens: dict[str, str],
) -> None:
    rule = rule_of(route.dependencies)
    assert rule is not None, f"{method} {path} has no access rule: add dependencies=[allow(...)]"
    outcome = {}
    for role in (None, *ROLES):
        # A fresh token per call: a route such as logout may revoke the token it is called with.
        token = create_token(database_url, f"{role}-{run_tag}", name="matrix") if role else None
        status = _call(server.api_url, method, path, token)
        want = expected_status(rule, role)
        ok = (status not in (401, 403) and status < 500) if want == "allowed" else str(status) == want
        outcome[role or "anonymous"] = (status, want, ok)
    wrong = {who: f"got {status}, want {want}" for who, (status, want, ok) in outcome.items() if not ok}
    assert wrong == {}


@pytest.mark.parametrize(("role", "want"), [(None, "401"), ("viewer", "403"), ("admin", "allowed")])
def test_expected_status_for_an_admin_only_rule(role: str | None, want: str) -> None:
    from server.api.access import Role

    assert expected_status(Access(frozenset({Role.ADMIN})), role) == want


def test_a_route_without_a_rule_is_reported() -> None:
    assert expected_status(None, "admin") == "no rule"
