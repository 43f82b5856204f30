"""A config that has not taken is sent again after a wait that doubles per attempt, with a ``config``
command asking the lamp to re-read it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from firmware.device import codec
from server.mqtt import make_client
from server.schedules import configs
from server.schedules.pusher import run_pass
from server.settings import Settings
from tests.support.factories import make_lamps
from tests.support.mqtt import Subscriber, wait_for


def _published(api: Any, lamp: str) -> dict[str, Any]:
    def ready() -> dict[str, Any]:
        cfg = dict(api.get(f"/api/v1/lamps/{lamp}/config").json())
        return cfg if cfg["published_at"] else {}

    return wait_for(ready, timeout=20, what="config published")


async def _due(database_url: str, site: str, at: dt.datetime) -> list[str]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        rows = await configs.due(conn, sites=[site], now=at, resend_after_s=300, resend_max_s=3600)
    return [r.lamp_id for r in rows if r.resend]


async def test_resend_waits_and_doubles(api: Any, database_url: str, sched_site: str) -> None:
    lamp = make_lamps(api, sched_site, 1)[0]
    published = dt.datetime.fromisoformat(_published(api, lamp)["published_at"])
    assert lamp not in await _due(database_url, sched_site, published + dt.timedelta(seconds=299))
    assert lamp in await _due(database_url, sched_site, published + dt.timedelta(seconds=301))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        key = (await (await conn.execute("SELECT key FROM lamps WHERE id = %s", (lamp,))).fetchone() or [0])[0]
        row = await (await conn.execute("SELECT cv FROM lamp_configs WHERE lamp_key = %s", (key,))).fetchone()
        cv = row[0] if row else 0
        await configs.mark_published(conn, sent=[(key, cv)], at=published)  # the second attempt
    assert lamp not in await _due(database_url, sched_site, published + dt.timedelta(seconds=599))
    assert lamp in await _due(database_url, sched_site, published + dt.timedelta(seconds=601))


@pytest.mark.timeout(60)
async def test_a_resend_publishes_the_config_and_a_config_command(
    api: Any, database_url: str, mqtt_url: str, sched_site: str, run_tag: str
) -> None:
    lamp = make_lamps(api, sched_site, 1)[0]
    cfg = _published(api, lamp)
    sub = Subscriber(mqtt_url, f"resend-{run_tag}-{lamp}", [codec.lamp_topic(sched_site, lamp, codec.KIND_CMD)])
    settings = Settings(environment="test", ingest_sites=[sched_site], schedule_resend_after_s=1.0)
    later = dt.datetime.fromisoformat(cfg["published_at"]) + dt.timedelta(seconds=5)
    try:
        async with (make_client(mqtt_url, f"resend-pub-{run_tag}", persistent=False) as client,
                    await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn):
            resent = 0
            for _ in range(50):  # the running server's pusher may hold the site's lock for a moment
                report = await run_pass(conn, client, settings, now=later)
                resent += report.resent
                if resent:
                    break
            assert resent >= 1
        got = wait_for(sub.received, timeout=10, what="config command")
    finally:
        sub.close()
    cmd = codec.decode_cmd(got[0][1])
    assert (cmd["op"], cmd["cv"]) == ("config", cfg["commanded_cv"])
    assert api.get(f"/api/v1/lamps/{lamp}/config").json()["attempts"] == 2
