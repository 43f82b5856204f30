"""Fixtures for alert notification tests.

Each test gets a site of its own that the session server does not deliver for (it is not in the
server's ``ingest_sites``), so a Notifier the test starts with short timings is the only one
sending that site's notifications. (Any notifier may make outbox rows; they are the same rows.)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
import pytest

from server.alerts.notifier import Notifier
from server.settings import Settings
from tests.server.alerts.receivers import MailReceiver, WebhookReceiver
from tests.support.factories import ensure_site, make_cabinet, make_district, make_lamp, unique

_sites = itertools.count(1)

LAMP_NAME = "Jl. Cenderawasih 12"
DISTRICT_NAME = "Mimika Baru"
CABINET_NAME = "Panel Timur 3"
LAT, LON = -4.546123, 136.884456
SECRET = "s3cret-for-the-test-receiver"


async def until(check: Callable[[], Any], *, within: float = 10.0, what: str = "condition") -> Any:
    """Polls ``check`` (plain or async) until it gives something truthy, without blocking the event
    loop: the notifier under test runs on it."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.05)


@pytest.fixture
def notify_site(api: Any, run_tag: str) -> str:
    site = f"n{run_tag}{next(_sites):03d}"
    ensure_site(api, site, name=f"Kabupaten Mimika {site}")
    return site


@pytest.fixture
def lamp(api: Any, notify_site: str) -> dict[str, Any]:
    """A lamp with a name, in a named district and cabinet."""
    district = make_district(api, notify_site, name=DISTRICT_NAME)
    cabinet = make_cabinet(api, notify_site, district["id"], name=CABINET_NAME)
    return make_lamp(api, notify_site, name=LAMP_NAME, lat=LAT, lon=LON, district_id=district["id"],
                     cabinet_id=cabinet["id"])


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        yield conn


async def make_crew(conn: psycopg.AsyncConnection[Any], site_id: str, *, crew_id: str | None = None,
                    language: str = "id") -> str:
    crew_id = crew_id or unique("crew-")
    await conn.execute("INSERT INTO crews (id, site_id, name, language) VALUES (%s, %s, %s, %s)"
                       " ON CONFLICT (id) DO NOTHING", (crew_id, site_id, f"Regu {crew_id}", language))
    return crew_id


async def subscribe(conn: psycopg.AsyncConnection[Any], crew_id: str, channel: str, target: str | None, *,
                    secret: str | None = None, **rule: Any) -> int:
    cols = ["crew_id", "channel", "target", "secret", *rule]
    row = await (await conn.execute(
        f"INSERT INTO crew_subscriptions ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) RETURNING id",
        [crew_id, channel, target, secret, *rule.values()])).fetchone()
    assert row is not None
    return int(row[0])


async def open_alert(conn: psycopg.AsyncConnection[Any], site_id: str, subject_id: str, *, crew_id: str | None,
                     subject_type: str = "lamp", fault_type: str = "lamp_failure", severity: str = "critical",
                     suppressed_by: int | None = None) -> tuple[int, int]:
    """An alert as the fault engine opens it, with its 'opened' history row: (alert id, event id)."""
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        row = await (await conn.execute(
            "INSERT INTO alerts (site_id, fault_type, subject_type, subject_id, severity, crew_id, suppressed_by,"
            " first_evidence_at, detected_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (site_id, fault_type, subject_type, subject_id, severity, crew_id, suppressed_by,
             now - dt.timedelta(minutes=10), now))).fetchone()
        assert row is not None
        event = await add_event(conn, int(row[0]), "opened", to_status="open")
    return int(row[0]), event


async def add_event(conn: psycopg.AsyncConnection[Any], alert_id: int, action: str, *,
                    to_status: str | None = None, note: str | None = None) -> int:
    row = await (await conn.execute(
        "INSERT INTO alert_events (alert_id, actor, action, to_status, note) VALUES (%s, 'engine', %s, %s, %s)"
        " RETURNING id", (alert_id, action, to_status, note))).fetchone()
    assert row is not None
    return int(row[0])


async def notifications_of(conn: psycopg.AsyncConnection[Any], **where: Any) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    cond = " AND ".join(f"{k} = %s" for k in where) or "true"
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT * FROM notifications WHERE {cond} ORDER BY id", list(where.values()))
    return await cur.fetchall()


@pytest.fixture
def notify_settings(notify_site: str, run_tag: str) -> Callable[..., Settings]:
    """Settings of a notifier for the test's site, with waits short enough for a test."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test", "ingest_sites": [notify_site],
            "mqtt_client_id": f"notify-{run_tag}-{notify_site}", "notify_poll_s": 0.2,
            "notify_backoff_base_s": 0.1, "notify_backoff_max_s": 0.4, "notify_backoff_jitter": 0.0,
            "notify_max_attempts": 5, "notify_webhook_timeout_s": 2.0, **overrides,
        }
        return Settings(**values)

    return make


class RunningNotifier:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.task = asyncio.create_task(notifier.run(), name="test-notifier")

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def start_notifier(database_url: str, mqtt_url: str) -> AsyncIterator[Callable[[Settings], RunningNotifier]]:
    """Starts Notifiers on the test's event loop; stops them at the end of the test."""
    running: list[RunningNotifier] = []

    def start(settings: Settings) -> RunningNotifier:
        running.append(RunningNotifier(Notifier(settings, database_url=database_url, mqtt_url=mqtt_url)))
        return running[-1]

    yield start
    for r in running:
        await r.stop()


@pytest.fixture
def webhook_receiver() -> Iterator[Callable[..., WebhookReceiver]]:
    opened: list[WebhookReceiver] = []

    def make(statuses: list[int] | None = None) -> WebhookReceiver:
        receiver = WebhookReceiver(statuses)
        opened.append(receiver)
        return receiver

    yield make
    for receiver in opened:
        receiver.close()


@pytest.fixture
def mail_receiver() -> Iterator[MailReceiver]:
    receiver = MailReceiver()
    yield receiver
    receiver.close()
