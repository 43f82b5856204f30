"""The audit log records every mutating request: who, when, what, from where, and the outcome."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.factories import unique
from tests.support.mqtt import wait_for


def _entries(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = api.get("/api/v1/audit", params=params)
    assert r.status_code == 200
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_a_change_is_recorded_with_actor_client_and_status(api: httpx.Client, run_tag: str) -> None:
    latest = _entries(api, limit=1)
    before = latest[0]["id"] if latest else 0
    assert api.post("/api/v1/sites", json={"id": unique("aud"), "name": "Audited"}).status_code == 201
    found = wait_for(lambda: [e for e in _entries(api, path_prefix="/api/v1/sites", method="POST")
                              if e["id"] > before], what="audit entry")
    assert (found[0]["actor"], found[0]["via"], found[0]["client"], found[0]["status"]) == (
        f"admin-{run_tag}", "token", "127.0.0.1", 201)


def test_a_refused_change_is_recorded_too(viewer_api: httpx.Client, api: httpx.Client, run_tag: str) -> None:
    viewer_api.delete("/api/v1/sites/nowhere-to-delete")
    found = wait_for(lambda: [e for e in _entries(api, actor=f"viewer-{run_tag}", method="DELETE")
                              if e["path"] == "/api/v1/sites/nowhere-to-delete"], what="refused entry")
    assert found[0]["status"] == 403


def test_a_failed_login_is_recorded_under_the_name_tried(anonymous_api: httpx.Client, api: httpx.Client) -> None:
    name = unique("intruder").lower()
    anonymous_api.post("/api/v1/auth/login", json={"username": name, "password": "guess-password-1"})
    found = wait_for(lambda: _entries(api, actor=name), what="login entry")
    assert (found[0]["status"], found[0]["via"], found[0]["path"]) == (401, "password", "/api/v1/auth/login")


def test_reads_are_not_recorded(api: httpx.Client) -> None:
    api.get("/api/v1/sites")
    assert all(e["method"] != "GET" for e in _entries(api, limit=1000))


def test_only_administrators_read_the_audit_log(operator_api: httpx.Client) -> None:
    assert operator_api.get("/api/v1/audit").status_code == 403
