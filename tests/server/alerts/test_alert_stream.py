"""The alert stream (SSE) read by a real streaming HTTP client against the running server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from server.alerts.feed import APPLICATION_NAME
from tests.conftest import TEST_CREW
from tests.server.alerts.conftest import add_event, make_crew, open_alert, until
from tests.support.auth import bearer
from tests.support.factories import unique

pytestmark = pytest.mark.timeout(60)
STREAM = "/api/v1/alerts/stream"


class Frames:
    """Server-sent events of one response as dicts of their fields (a comment under "comment")."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self) -> dict[str, str]:
        frame: dict[str, str] = {}
        async for line in self._lines:
            if not line:
                if frame:
                    return frame
            elif line.startswith(":"):
                frame["comment"] = line[1:].strip()
            else:
                key, _, value = line.partition(":")
                frame[key] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def alerts(self, *, until_event: int) -> list[dict[str, Any]]:
        """The alert frames up to and including ``until_event``, with their data decoded."""
        seen: list[dict[str, Any]] = []

        async def read() -> None:
            while not seen or seen[-1]["id"] != until_event:
                frame = await self.next()
                if frame.get("event") == "alert":
                    seen.append({"id": int(frame["id"]), **json.loads(frame["data"])})

        await asyncio.wait_for(read(), 10)
        return seen


def client(server: Any, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.api_url, headers=bearer(token), timeout=10)


async def opened(response: httpx.Response) -> Frames:
    """Waits for the first frame: the stream is then subscribed, and later events will be sent."""
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = Frames(response)
    first = await asyncio.wait_for(stream.next(), 10)
    assert "retry" in first
    return stream


async def test_stream_sends_an_alert_event_as_it_is_recorded(
    server: Any, role_tokens: dict[str, str], db: Any, site_id: str
) -> None:
    crew = await make_crew(db, site_id, crew_id=TEST_CREW)
    async with client(server, role_tokens["viewer"]) as http, http.stream("GET", STREAM) as response:
        stream = await opened(response)
        alert_id, event_id = await open_alert(db, site_id, unique("L"), crew_id=crew, fault_type="day_burner")
        got = await stream.alerts(until_event=event_id)
    mine = got[-1]
    assert (mine["alert_id"], mine["action"], mine["fault_type"], mine["site"]["id"]) == (
        alert_id, "opened", "day_burner", site_id)


async def test_stream_replays_the_events_after_last_event_id(
    server: Any, role_tokens: dict[str, str], db: Any, site_id: str
) -> None:
    alert_id, opened = await open_alert(db, site_id, unique("L"), crew_id=None)
    acknowledged = await add_event(db, alert_id, "acknowledged", to_status="acknowledged")
    started = await add_event(db, alert_id, "started", to_status="in_progress")
    async with (client(server, role_tokens["operator"]) as http,
                http.stream("GET", STREAM, headers={"Last-Event-ID": str(opened)}) as response):
        got = await Frames(response).alerts(until_event=started)
    assert min(f["id"] for f in got) > opened
    assert [f["id"] for f in got if f["alert_id"] == alert_id] == [acknowledged, started]


async def test_crew_member_does_not_see_another_crews_alerts(
    server: Any, role_tokens: dict[str, str], db: Any, site_id: str
) -> None:
    own = await make_crew(db, site_id, crew_id=TEST_CREW)
    other = await make_crew(db, site_id)
    async with client(server, role_tokens["crew"]) as http, http.stream("GET", STREAM) as response:
        stream = await opened(response)
        others_alert, _ = await open_alert(db, site_id, unique("L"), crew_id=other)
        unassigned, _ = await open_alert(db, site_id, unique("L"), crew_id=None)
        own_alert, own_event = await open_alert(db, site_id, unique("L"), crew_id=own)
        got = await stream.alerts(until_event=own_event)
    assert {f["alert_id"] for f in got} == {own_alert}
    assert others_alert not in {f["alert_id"] for f in got} and unassigned not in {f["alert_id"] for f in got}


async def test_stream_filters_by_fault_type(server: Any, role_tokens: dict[str, str], db: Any, site_id: str) -> None:
    async with (client(server, role_tokens["viewer"]) as http,
                http.stream("GET", STREAM, params={"fault_type": "cycling", "site_id": site_id}) as response):
        stream = await opened(response)
        await open_alert(db, site_id, unique("L"), crew_id=None, fault_type="comm_loss")
        _, event = await open_alert(db, site_id, unique("L"), crew_id=None, fault_type="cycling")
        got = await stream.alerts(until_event=event)
    assert {f["fault_type"] for f in got} == {"cycling"}


async def test_stream_lets_go_of_the_database_when_the_client_disconnects(
    server: Any, role_tokens: dict[str, str], db: Any
) -> None:
    async def listeners() -> int:
        row = await (await db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                      (APPLICATION_NAME,))).fetchone()
        return int(row[0])

    async with client(server, role_tokens["viewer"]) as http, http.stream("GET", STREAM) as response:
        # Kept referenced: a line iterator that is garbage-collected closes the connection itself.
        stream = await opened(response)
        assert await listeners() == 1
        assert stream is not None
    await until(lambda: _none(listeners), what="the stream's LISTEN connection to close")


async def _none(count: Any) -> bool:
    return int(await count()) == 0


@pytest.mark.parametrize("value", ["abc", "-1", "99999999999999999999"])
async def test_a_malformed_last_event_id_is_refused(server: Any, role_tokens: dict[str, str], value: str) -> None:
    async with client(server, role_tokens["viewer"]) as http:
        response = await http.get(STREAM, headers={"Last-Event-ID": value})
    assert response.status_code == 422 and "Last-Event-ID" in response.json()["message"]
