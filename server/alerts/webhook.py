"""Webhook delivery: an HTTP POST of the notification's JSON, signed with the subscription's secret.

The receiver recomputes ``HMAC-SHA256(secret, raw body)`` and compares it with the
``X-Terang-Signature: sha256=<hex>`` header (docs/faults.md shows how). A 2xx is delivered; a 408,
429 or 5xx, a timeout or a refused connection is worth another attempt; any other answer (a 404, a
401 for a wrong secret, a redirect) will not change by itself, so the delivery is given up at once.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx

from server import __version__
from server.alerts.retry import Outcome

SIGNATURE_HEADER = "X-Terang-Signature"
EVENT_HEADER = "X-Terang-Event-Id"
_RETRYABLE = frozenset({408, 425, 429})
# Enough of a refusal's body to say why in last_error, not a whole error page.
_ERROR_BODY_CHARS = 200


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def outcome_of(status: int, reason: str) -> Outcome:
    if 200 <= status < 300:
        return Outcome.sent()
    error = f"HTTP {status}" + (f": {reason}" if reason else "")
    if status >= 500 or status in _RETRYABLE:
        return Outcome.retry(error)
    return Outcome.dead(error)


async def post(client: httpx.AsyncClient, *, url: str, secret: str, event_id: int, body: bytes,
               timeout_s: float) -> Outcome:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Terang/{__version__}",
        EVENT_HEADER: str(event_id),
        SIGNATURE_HEADER: signature(secret, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        return Outcome.retry(f"no answer within {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return Outcome.retry(f"{type(exc).__name__}: {exc}")
    return outcome_of(response.status_code, response.text[:_ERROR_BODY_CHARS].strip())
