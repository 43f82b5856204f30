"""Login throttling: how long a caller must wait, from its recent failures. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottlePolicy:
    # Per attempted username: guessing one account's password.
    max_failures_per_user: int
    # Per client address: trying one password against many usernames.
    max_failures_per_client: int
    window_s: float


def retry_after(
    *,
    user_failures: Sequence[float],
    client_failures: Sequence[float],
    now: float,
    policy: ThrottlePolicy,
) -> float | None:
    """Seconds until another attempt is allowed, or None when it is allowed now.

    Failures are Unix times. When a limit is reached the caller waits until the oldest failure that
    counts leaves the window, so a steady guesser gets ``max`` attempts per window and no more.
    """
    waits = [
        _wait(user_failures, policy.max_failures_per_user, now, policy.window_s),
        _wait(client_failures, policy.max_failures_per_client, now, policy.window_s),
    ]
    return max((w for w in waits if w is not None), default=None)


def _wait(failures: Sequence[float], limit: int, now: float, window_s: float) -> float | None:
    recent = sorted(t for t in failures if now - window_s < t <= now)
    if len(recent) < limit:
        return None
    # The (len - limit + 1)-th oldest must leave the window before fewer than `limit` remain.
    leaving = recent[len(recent) - limit]
    return max(leaving + window_s - now, 0.001)
