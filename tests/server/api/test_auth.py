"""Logins, tokens and who may do what: 401 for nobody, 403 for the wrong role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.auth import bearer, create_token, create_user
from tests.support.factories import unique


@pytest.fixture
def user(database_url: str, run_tag: str) -> tuple[str, str]:
    """A fresh operator: (username, password)."""
    username = f"op{unique('u').lower()}-{run_tag}"
    return username, create_user(database_url, username, ["operator"])


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_login_returns_a_token_that_identifies_the_user(anonymous_api: httpx.Client, user: tuple[str, str]) -> None:
    r = _login(anonymous_api, *user)
    assert r.status_code == 200
    me = anonymous_api.get("/api/v1/auth/me", headers=bearer(r.json()["access_token"])).json()
    assert (me["username"], me["roles"], me["via"]) == (user[0], ["operator"], "session")


def test_wrong_password_is_401_with_a_bearer_challenge(anonymous_api: httpx.Client, user: tuple[str, str]) -> None:
    r = _login(anonymous_api, user[0], "wrong-password-123")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_unknown_user_and_wrong_password_look_the_same(anonymous_api: httpx.Client, user: tuple[str, str]) -> None:
    wrong_password = _login(anonymous_api, user[0], "wrong-password-123").json()["message"]
    unknown_user = _login(anonymous_api, user[0] + "x", "wrong-password-123").json()["message"]
    assert wrong_password == unknown_user


def test_no_token_is_401(anonymous_api: httpx.Client) -> None:
    r = anonymous_api.get("/api/v1/lamps")
    assert r.status_code == 401
    assert "Bearer" in r.json()["message"]


def test_unknown_token_is_401(anonymous_api: httpx.Client) -> None:
    r = anonymous_api.get("/api/v1/lamps", headers=bearer("tra_" + "x" * 43))
    assert r.status_code == 401


def test_known_caller_without_the_role_is_403(viewer_api: httpx.Client, site_ids: list[str]) -> None:
    r = viewer_api.post("/api/v1/sites", json={"id": "viewer-site", "name": "no"})
    assert r.status_code == 403
    assert "admin" in r.json()["message"]


def test_expired_token_is_401(server: Any, database_url: str, user: tuple[str, str]) -> None:
    token = create_token(database_url, user[0], ttl=timedelta(seconds=-1))
    r = httpx.get(server.api_url + "/api/v1/auth/me", headers=bearer(token))
    assert r.status_code == 401
    assert "expired" in r.json()["message"]


def test_revoked_token_is_refused_at_once(server: Any, anonymous_api: httpx.Client, user: tuple[str, str]) -> None:
    session = bearer(_login(anonymous_api, *user).json()["access_token"])
    created = anonymous_api.post("/api/v1/tokens", json={"name": "integration"}, headers=session).json()
    assert anonymous_api.get("/api/v1/auth/me", headers=bearer(created["token"])).status_code == 200
    assert anonymous_api.delete(f"/api/v1/tokens/{created['id']}", headers=session).status_code == 200
    r = anonymous_api.get("/api/v1/auth/me", headers=bearer(created["token"]))
    assert r.status_code == 401
    assert "revoked" in r.json()["message"]


def test_logout_ends_the_session(anonymous_api: httpx.Client, user: tuple[str, str]) -> None:
    session = bearer(_login(anonymous_api, *user).json()["access_token"])
    assert anonymous_api.post("/api/v1/auth/logout", headers=session).status_code == 204
    assert anonymous_api.get("/api/v1/auth/me", headers=session).status_code == 401


def test_scoped_token_uses_only_its_scopes(server: Any, database_url: str, run_tag: str) -> None:
    token = create_token(database_url, f"admin-{run_tag}", scopes=["viewer"])
    headers = bearer(token)
    assert httpx.get(server.api_url + "/api/v1/sites", headers=headers).status_code == 200
    r = httpx.post(server.api_url + "/api/v1/sites", json={"id": "scoped", "name": "no"}, headers=headers)
    assert r.status_code == 403


def test_a_token_cannot_grant_roles_its_user_lacks(operator_api: httpx.Client) -> None:
    r = operator_api.post("/api/v1/tokens", json={"name": "escalate", "scopes": ["admin"]})
    assert r.status_code in (403, 422)
    assert r.json()["detail"][0]["field"] == "scopes"


def test_demoting_a_user_takes_effect_on_their_existing_tokens(
    api: httpx.Client, server: Any, database_url: str, run_tag: str
) -> None:
    username = f"tech{unique('u').lower()}-{run_tag}"
    create_user(database_url, username, ["technician"])
    token = bearer(create_token(database_url, username))
    assert httpx.get(server.api_url + "/api/v1/mqtt-accounts", headers=token).status_code == 200
    assert api.patch(f"/api/v1/users/{username}", json={"roles": ["viewer"]}).status_code == 200
    assert httpx.get(server.api_url + "/api/v1/mqtt-accounts", headers=token).status_code == 403


def test_disabled_user_is_401(api: httpx.Client, server: Any, database_url: str, user: tuple[str, str]) -> None:
    token = bearer(create_token(database_url, user[0]))
    assert api.patch(f"/api/v1/users/{user[0]}", json={"disabled": True}).status_code == 200
    assert httpx.get(server.api_url + "/api/v1/auth/me", headers=token).status_code == 401


def test_passwords_and_tokens_are_stored_only_as_hashes(
    anonymous_api: httpx.Client, database_url: str, user: tuple[str, str]
) -> None:
    token = _login(anonymous_api, *user).json()["access_token"]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE username = %s", (user[0],)).fetchone()
        dump = conn.execute("SELECT string_agg(t::text, ' ') FROM api_tokens t").fetchone()
    assert row is not None and row[0].startswith("$argon2id$") and user[1] not in row[0]
    assert dump is not None and token not in dump[0] and token[10:] not in dump[0]


def test_user_create_refuses_a_weak_password_naming_the_field(api: httpx.Client) -> None:
    r = api.post("/api/v1/users", json={"username": "weakling", "password": "short", "roles": ["viewer"]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "password"


def test_crew_user_needs_a_crew(api: httpx.Client) -> None:
    r = api.post("/api/v1/users", json={"username": "crewless", "password": "long-enough-pw", "roles": ["crew"]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "crew_id"


def test_administrators_cannot_delete_themselves(api: httpx.Client) -> None:
    me = api.get("/api/v1/auth/me").json()["username"]
    r = api.delete(f"/api/v1/users/{me}")
    assert r.status_code == 409
    assert r.json()["detail"][0]["field"] == "username"


def test_repeated_wrong_passwords_are_throttled_even_for_the_right_one(
    anonymous_api: httpx.Client, server: Any, user: tuple[str, str]
) -> None:
    limit = 5  # login_max_failures_per_user's default, which the test server keeps
    for _ in range(limit):
        assert _login(anonymous_api, user[0], "guess-password-1").status_code == 401
    r = _login(anonymous_api, *user)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0


def test_a_good_login_clears_earlier_failures(anonymous_api: httpx.Client, user: tuple[str, str]) -> None:
    for _ in range(4):
        _login(anonymous_api, user[0], "guess-password-1")
    assert _login(anonymous_api, *user).status_code == 200
    for _ in range(4):
        _login(anonymous_api, user[0], "guess-password-1")
    assert _login(anonymous_api, *user).status_code == 200
