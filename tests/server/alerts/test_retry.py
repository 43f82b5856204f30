"""Retry policy: exponential backoff with jitter and a cap; dead after the last attempt."""

from __future__ import annotations

import pytest

from server.alerts.retry import Outcome, Policy, after, backoff_s
from server.alerts.webhook import outcome_of

POLICY = Policy(max_attempts=4, base_s=10, max_s=60, jitter=0.2)


@pytest.mark.parametrize(("attempts", "expected"), [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)])
def test_backoff_doubles_up_to_the_cap(attempts: int, expected: float) -> None:
    assert backoff_s(POLICY, attempts, rand=0.5) == pytest.approx(expected)


def test_jitter_spreads_the_wait_both_ways() -> None:
    assert backoff_s(POLICY, 1, rand=0.0) == pytest.approx(8)
    assert backoff_s(POLICY, 1, rand=0.999999) == pytest.approx(12, abs=1e-3)


def test_a_retryable_failure_is_tried_again_after_the_backoff() -> None:
    step = after(POLICY, Outcome.retry("HTTP 503"), attempts_before=1, rand=0.5)
    assert (step.status, step.attempts, step.delay_s, step.error) == ("failed", 2, 20, "HTTP 503")


def test_the_last_attempt_gives_up() -> None:
    step = after(POLICY, Outcome.retry("HTTP 503"), attempts_before=3, rand=0.5)
    assert (step.status, step.attempts) == ("dead", 4)
    assert step.error == "gave up after 4 attempts: HTTP 503"


def test_a_permanent_failure_is_dead_at_once() -> None:
    assert after(POLICY, Outcome.dead("HTTP 404"), attempts_before=0, rand=0.5).status == "dead"


@pytest.mark.parametrize(("status", "kind"), [
    (200, "sent"), (204, "sent"), (301, "dead"), (400, "dead"), (401, "dead"), (404, "dead"), (408, "retry"),
    (429, "retry"), (500, "retry"), (503, "retry"),
])
def test_webhook_status_codes(status: int, kind: str) -> None:
    assert outcome_of(status, "").kind == kind
