"""Assembles the FastAPI application; nothing else happens here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from psycopg_pool import AsyncConnectionPool

from server import __version__
from server.api import errors
from server.api.access import token_authenticator
from server.api.audit_log import AuditMiddleware
from server.api.body_limit import BodyLimitMiddleware
from server.api.routes import (
    alert_stream,
    alerts,
    assignments,
    audit,
    auth,
    calendars,
    control,
    crews,
    groups,
    lamps,
    mqtt_accounts,
    operations,
    overrides,
    profiles,
    registry,
    schedules,
    subscriptions,
    tokens,
    users,
)
from server.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings, *, database_url: str, pool: AsyncConnectionPool | None = None) -> FastAPI:
    """``pool`` is shared with the rest of the server when given; otherwise the app opens its own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if pool is not None:
            app.state.pool = pool
            yield
            return
        own = AsyncConnectionPool(database_url, min_size=1, max_size=10, open=False, kwargs={"autocommit": True})
        await own.open(wait=True)
        app.state.pool = own
        try:
            yield
        finally:
            await own.close()

    app = FastAPI(
        title="Terang API",
        version=__version__,
        summary="Smart street lighting for Kabupaten Mimika: registry, telemetry, control and alerts.",
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # For what needs a connection of its own rather than one from the pool (the alert stream's LISTEN).
    app.state.database_url = database_url
    app.state.authenticate = token_authenticator
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_body_max_bytes)
    # Outermost, so that refused requests (413 included) are recorded too.
    app.add_middleware(AuditMiddleware)
    for router in routers():
        app.include_router(router, prefix=API_PREFIX)
    return app


def routers() -> list[APIRouter]:
    """Every router of the API, in matching order."""
    return [
        operations.router,
        registry.sites,
        registry.districts,
        registry.cabinets,
        registry.gateways,
        lamps.router,  # before the CRUD routes, so /lamps/geojson is not taken for a lamp id
        lamps.crud_routes,
        groups.router,
        groups.crud_routes,
        profiles.router,
        calendars.router,
        assignments.router,
        overrides.router,  # /overrides/emergency before /overrides/{id}
        control.router,
        schedules.router,
        auth.router,
        users.router,
        tokens.router,
        audit.router,
        mqtt_accounts.router,
        subscriptions.router,
        subscriptions.notifications,
        crews.router,
        alert_stream.router,  # before alerts.router (/alerts/{id})
        alerts.router,
    ]
