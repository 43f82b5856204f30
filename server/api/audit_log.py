"""Records every mutating request in the audit log once its response has gone out.

Who comes from the principal the route's access rule put on ``request.state`` (or, for a login,
the username tried); refused requests (401, 403, 422...) are recorded too: they are what an
investigation looks for.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import audit

log = logging.getLogger(__name__)


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def entry_for(scope: Scope, status: int) -> audit.Entry:
    state: dict[str, Any] = scope.get("state", {})
    principal = state.get("principal")
    actor = principal.subject if principal is not None else state.get("audit_actor")
    via = principal.via if principal is not None else state.get("audit_via")
    detail = state.get("audit_detail")
    return audit.Entry(actor=actor, via=via, client=_client(scope), method=scope["method"],
                       path=scope.get("path", ""), query=scope.get("query_string", b"").decode("latin-1"),
                       status=status, detail=detail)


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in audit.MUTATING:
            await self.app(scope, receive, send)
            return
        # Shared with the request objects the routes see, so the principal set there is seen here.
        scope.setdefault("state", {})
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            await self._record(scope, status)

    @staticmethod
    async def _record(scope: Scope, status: int) -> None:
        pool = getattr(scope["app"].state, "pool", None)
        if pool is None:
            return
        try:
            async with pool.connection() as conn:
                await audit.record(conn, entry=entry_for(scope, status))
        except Exception:  # the request has been answered; a lost audit row must not turn into a 500
            log.exception("could not write the audit log for %s %s", scope["method"], scope.get("path"))
