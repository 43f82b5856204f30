"""Whether a subscription's target (and secret) fits its channel. Pure; the API turns the message
into a 422."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

CHANNELS = ("webhook", "email", "mqtt")
SECRET_MIN = 16
SECRET_MAX = 256
URL_MAX = 2000
# The common shape of an address: no spaces, quotes or list separators (they would let a target
# smuggle in more recipients or headers), one @, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s<>,;:\"()\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.[A-Za-z]{2,63}$")
# One topic level below terang/v1/<site>/crew/<crew>/alerts; no wildcards.
_TOPIC_SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def _webhook(url: str) -> str | None:
    if len(url) > URL_MAX or _CONTROL.search(url):
        return f"target: a URL of at most {URL_MAX} characters without spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError as exc:
        return f"target: not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "target: give an http:// or https:// URL with a host, e.g. https://ops.example.org/terang"
    return None


def target_problem(channel: str, target: str | None) -> str | None:
    """What is wrong with this target for the channel, or None."""
    if channel == "webhook":
        return "target: a webhook needs the URL to POST to" if target is None else _webhook(target)
    if channel == "email":
        if target is None or len(target) > 254 or not _EMAIL.match(target):
            return "target: give an e-mail address such as regu.timur@example.org"
        return None
    if channel == "mqtt":
        if target is not None and not _TOPIC_SUFFIX.match(target):
            return "target: an MQTT topic suffix is one level of letters, digits, _ or - (up to 32), or none"
        return None
    return f"channel: one of {', '.join(CHANNELS)}"


def secret_problem(channel: str, secret: str | None) -> str | None:
    if channel != "webhook":
        return None if secret is None else "secret: only webhooks are signed; leave it out"
    if secret is None or not SECRET_MIN <= len(secret) <= SECRET_MAX:
        return f"secret: a webhook needs a secret of {SECRET_MIN} to {SECRET_MAX} characters (its HMAC key)"
    return None
