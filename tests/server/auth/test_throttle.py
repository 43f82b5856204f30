"""Login throttling decisions, as a table: failures (seconds before now) -> wait or not."""

from __future__ import annotations

import pytest

from server.auth.throttle import ThrottlePolicy, retry_after

POLICY = ThrottlePolicy(max_failures_per_user=3, max_failures_per_client=5, window_s=100)
NOW = 10_000.0


@pytest.mark.parametrize(
    ("name", "user_ago", "client_ago", "wait"),
    [
        ("no failures", [], [], None),
        ("below the user limit", [10, 20], [10, 20], None),
        ("user limit reached: wait for the oldest to leave", [10, 20, 30], [10, 20, 30], 70),
        ("old failures do not count", [10, 20, 150], [10, 20, 150], None),
        ("more failures than the limit: the one that brings it under", [5, 10, 20, 90], [5, 10, 20, 90], 80),
        ("client limit across usernames", [], [1, 2, 3, 4, 50], 50),
        ("the longer of both waits", [10, 20, 30], [1, 2, 3, 4, 95], 70),
    ],
)
def test_retry_after(name: str, user_ago: list[float], client_ago: list[float], wait: float | None) -> None:
    got = retry_after(user_failures=[NOW - a for a in user_ago], client_failures=[NOW - a for a in client_ago],
                      now=NOW, policy=POLICY)
    assert got == (None if wait is None else pytest.approx(wait)), name
