"""Who may call what: roles, the caller (principal), and the per-route access rule.

Every route declares its rule with ``allow(...)`` (or ``public()`` for the few open ones); tests walk
the route table and fail for a route without a rule (tests/server/api/test_role_matrix.py calls every
route as every role). How a caller is authenticated is the ``authenticate`` callable on
``app.state``: ``token_authenticator`` (bearer tokens from a login or ``terang token create``).

401 means nobody is identified (no, unknown, expired or revoked token); 403 means the caller is
known but holds none of the route's roles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from server.api.errors import ApiError
from server.auth import token_store
from server.auth.errors import AuthError


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"  # schedules, overrides
    TECHNICIAN = "technician"  # commissioning, firmware
    CREW = "crew"  # alerts assigned to them
    VIEWER = "viewer"  # read only


EVERYONE = frozenset(Role)


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[Role]
    via: str  # "session" (a login), "token" (a long-lived API token), "development"
    # The maintenance crew a crew-role user belongs to; crews see and act on their own alerts.
    crew_id: str | None = None
    # The token the request came with (logout revokes it).
    token_id: int | None = None


Authenticator = Callable[[Request], Awaitable[Principal]]


# Declared on every protected route so the OpenAPI document (and /docs' Authorize button) knows
# the scheme; the token itself is checked by app.state.authenticate.
_bearer = HTTPBearer(auto_error=False, description="A token from POST /auth/login or `terang token create`")


class Access:
    """A route's rule: the caller must hold one of ``roles``."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    async def __call__(
        self, request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        authenticate: Authenticator = request.app.state.authenticate
        principal = await authenticate(request)  # raises 401 when nobody is identified
        # Set before the role check, so the audit log names whoever was refused.
        request.state.principal = principal
        if not principal.roles & self.roles:
            wanted = ", ".join(sorted(self.roles))
            raise ApiError(403, f"this needs one of the roles: {wanted}")
        return principal


class Public:
    """The rule of a route anyone may call (health, login)."""

    async def __call__(self) -> None:
        return None


def allow(*roles: Role) -> Any:
    return Depends(Access(frozenset(roles) if roles else EVERYONE))


def public() -> Any:
    return Depends(Public())


def rule_of(dependencies: list[DependsParam]) -> Access | Public | None:
    for dep in dependencies:
        if isinstance(dep.dependency, Access | Public):
            return dep.dependency
    return None


READ = EVERYONE
REGISTRY_WRITE = (Role.ADMIN, Role.TECHNICIAN)
SCHEDULE_WRITE = (Role.ADMIN, Role.OPERATOR)  # schedules, groups, overrides
_anyone = Access(EVERYONE)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller the route's rule already identified (no second token lookup); a route without a
    rule that asks for the caller authenticates here."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    return await _anyone(request, credentials)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def development_authenticator(request: Request) -> Principal:
    """Everyone is an administrator: only for apps built in unit tests without a database."""
    return Principal(subject="development", roles=EVERYONE, via="development")


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("send Authorization: Bearer <token> (POST /api/v1/auth/login gives one)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def token_authenticator(request: Request) -> Principal:
    """The caller behind the request's bearer token; AuthError (401) when there is none."""
    secret = bearer_token(request)
    async with request.app.state.pool.connection() as conn:
        identity = await token_store.identify(conn, secret=secret)
    return Principal(subject=identity.username, roles=frozenset(Role(r) for r in identity.roles),
                     via="session" if identity.kind == "session" else "token", crew_id=identity.crew_id,
                     token_id=identity.token_id)
