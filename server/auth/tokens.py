"""Bearer tokens: random secrets shown once, stored as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

# "trs_" for sessions (from a login), "tra_" for long-lived API tokens: a leaked token found in a log
# or a repository says what it is, and secret scanners can match the prefix.
PREFIXES = {"session": "trs_", "api": "tra_"}
SHOWN_PREFIX_CHARS = 10


def new_token(kind: str) -> str:
    return PREFIXES[kind] + secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def shown_prefix(token: str) -> str:
    return token[:SHOWN_PREFIX_CHARS]


def looks_like_token(text: str) -> bool:
    return any(text.startswith(p) for p in PREFIXES.values()) and 20 <= len(text) <= 200
