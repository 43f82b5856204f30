"""Subscription targets and secrets per channel."""

from __future__ import annotations

import pytest

from server.alerts.targets import secret_problem, target_problem

GOOD = [
    ("webhook", "https://ops.example.org/terang"),
    ("webhook", "http://10.0.0.5:8080/hook?x=1"),
    ("email", "regu.timur@example.org"),
    ("mqtt", None),
    ("mqtt", "critical"),
]
BAD = [
    ("webhook", None), ("webhook", "ftp://example.org/x"), ("webhook", "javascript:alert(1)"),
    ("webhook", "https:///no-host"), ("webhook", "https://example.org/a b"), ("webhook", "http://example.org:99999/"),
    ("email", None), ("email", "not-an-address"), ("email", "a@b"), ("email", "x@example.org\r\nBcc: y@evil.org"),
    ("email", "a@example.org,b@example.org"),
    ("mqtt", "a/b"), ("mqtt", "#"), ("mqtt", "+"), ("mqtt", ""),
]


@pytest.mark.parametrize(("channel", "target"), GOOD)
def test_good_targets_pass(channel: str, target: str | None) -> None:
    assert target_problem(channel, target) is None


@pytest.mark.parametrize(("channel", "target"), BAD)
def test_bad_targets_are_named(channel: str, target: str | None) -> None:
    problem = target_problem(channel, target)
    assert problem is not None and problem.startswith("target:")


@pytest.mark.parametrize(("channel", "secret", "ok"), [
    ("webhook", "x" * 16, True), ("webhook", "x" * 15, False), ("webhook", None, False),
    ("email", None, True), ("email", "x" * 16, False), ("mqtt", "x" * 16, False),
])
def test_only_webhooks_take_a_secret_of_at_least_16_characters(channel: str, secret: str | None, ok: bool) -> None:
    assert (secret_problem(channel, secret) is None) is ok
