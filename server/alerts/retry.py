"""What happens to a delivery after an attempt: sent, tried again later, or given up. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["sent", "retry", "dead"]


@dataclass(frozen=True)
class Outcome:
    """A channel's verdict on one attempt. ``retry``: worth trying again (a timeout, a 5xx);
    ``dead``: trying again cannot help (a 404, an address the mail server refuses)."""

    kind: Kind
    error: str | None = None

    @classmethod
    def sent(cls) -> Outcome:
        return cls("sent")

    @classmethod
    def retry(cls, error: str) -> Outcome:
        return cls("retry", error)

    @classmethod
    def dead(cls, error: str) -> Outcome:
        return cls("dead", error)


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    base_s: float
    max_s: float
    jitter: float  # a fraction: each wait is spread by +-jitter


@dataclass(frozen=True)
class Next:
    """The outbox row after an attempt."""

    status: Literal["sent", "failed", "dead"]
    attempts: int
    delay_s: float  # until the next attempt (0 when there is none)
    error: str | None


def backoff_s(policy: Policy, attempts: int, rand: float) -> float:
    """Wait after the ``attempts``-th failure; ``rand`` is uniform in [0, 1)."""
    delay = min(policy.max_s, policy.base_s * 2.0 ** max(0, attempts - 1))
    return max(0.0, delay * (1.0 + policy.jitter * (2.0 * rand - 1.0)))


def after(policy: Policy, outcome: Outcome, attempts_before: int, rand: float) -> Next:
    attempts = attempts_before + 1
    if outcome.kind == "sent":
        return Next("sent", attempts, 0.0, None)
    if outcome.kind == "dead":
        return Next("dead", attempts, 0.0, outcome.error)
    if attempts >= policy.max_attempts:
        return Next("dead", attempts, 0.0, f"gave up after {attempts} attempts: {outcome.error}")
    return Next("failed", attempts, backoff_s(policy, attempts, rand), outcome.error)
