"""Who may call what: roles, the caller (principal), and the per-route access rule.

Every route declares its rule with ``allow(...)`` (or ``public()`` for the few open ones); a test
walks the route table and fails for a route without a rule. How a caller is authenticated is the
``authenticate`` callable on ``app.state``; issue 7 (users, tokens) supplies the real one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam

from server.api.errors import ApiError


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
    via: str  # "password", "token", "development"
    # The maintenance crew a crew-role user belongs to; crews see and act on their own alerts.
    crew_id: str | None = None


Authenticator = Callable[[Request], Awaitable[Principal]]


class Access:
    """A route's rule: the caller must hold one of ``roles``."""

    def __init__(self, roles: frozenset[Role]) -> None:
        self.roles = roles

    async def __call__(self, request: Request) -> Principal:
        authenticate: Authenticator = request.app.state.authenticate
        principal = await authenticate(request)  # raises 401 when nobody is identified
        if not principal.roles & self.roles:
            wanted = ", ".join(sorted(self.roles))
            raise ApiError(403, f"this needs one of the roles: {wanted}")
        request.state.principal = principal
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
PrincipalDep = Annotated[Principal, Depends(Access(EVERYONE))]


async def development_authenticator(request: Request) -> Principal:
    """Until users and tokens exist (issue 7) every caller is treated as an administrator."""
    return Principal(subject="development", roles=EVERYONE, via="development")
