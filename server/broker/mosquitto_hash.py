"""Mosquitto 2.0's password-file hash (``$7$``: PBKDF2-HMAC-SHA512), so the file can be written
here, from stored hashes, without the ``mosquitto_passwd`` tool or the secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# Mosquitto's own default. Device secrets are 192-bit random strings, so more iterations would
# only slow a broker that thousands of controllers reconnect to after a power cut.
ITERATIONS = 101
SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(stored: str, password: str) -> bool:
    try:
        _, kind, iterations, salt, digest = stored.split("$")
        if kind != "7":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected, actual)
