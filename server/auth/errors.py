"""Errors of the access layer; the API maps them to status codes (``server.api.errors``)."""

from __future__ import annotations

from server.registry.errors import Conflict, InvalidValue, NotFound, RegistryError


class AuthError(RegistryError):
    """Nobody is identified: no credentials, or wrong, expired or revoked ones (HTTP 401)."""


class Throttled(RegistryError):
    """Too many failed logins (HTTP 429)."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


__all__ = ["AuthError", "Conflict", "InvalidValue", "NotFound", "Throttled"]
