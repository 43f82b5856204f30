"""Oversized request bodies are refused with 413, whether they announce their size or not."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

CAP = 10 * 1024 * 1024  # api_body_max_bytes' default, which the test server keeps


def test_declared_oversized_json_body_is_refused(api: httpx.Client) -> None:
    r = api.post("/api/v1/sites", content=b"{" + b" " * CAP + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["detail"][0]["field"] == "body"


def test_streamed_oversized_body_without_a_length_is_refused(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(CAP // 65536 + 2):
            yield b" " * 65536

    r = api.post("/api/v1/lamps/import", content=chunks(), headers={"content-type": "text/csv"})
    assert r.status_code == 413
