"""Only the subscriptions whose rules match an event get a notification row."""

from __future__ import annotations

from typing import Any

import pytest

from server.alerts.event_cursor import EventCursor
from server.alerts.notifier import Notifier, PassReport
from tests.server.alerts.conftest import add_event, make_crew, notifications_of, open_alert, subscribe
from tests.support.factories import unique

pytestmark = pytest.mark.timeout(60)


async def test_outbox_rows_only_for_matching_subscriptions(
    db: Any, database_url: str, mqtt_url: str, notify_site: str, notify_settings: Any
) -> None:
    crew, other_crew = await make_crew(db, notify_site), await make_crew(db, notify_site)
    subs = {
        "everything": await subscribe(db, crew, "mqtt", "all"),
        "critical only": await subscribe(db, crew, "mqtt", "crit", min_severity="critical"),
        "comm loss only": await subscribe(db, crew, "mqtt", "comm", fault_types=["comm_loss"]),
        "acknowledgements": await subscribe(db, crew, "mqtt", "ack", actions=["acknowledged"]),
        "with suppressed": await subscribe(db, crew, "mqtt", "supp", include_suppressed=True),
        "disabled": await subscribe(db, crew, "mqtt", "off", enabled=False),
        "other crew": await subscribe(db, other_crew, "mqtt", "all"),
    }
    cabinet, first_event = await open_alert(db, notify_site, unique("c"), subject_type="cabinet",
                                            fault_type="cabinet_outage", severity="major", crew_id=crew)
    ack = await add_event(db, cabinet, "acknowledged", to_status="acknowledged")
    _, suppressed = await open_alert(db, notify_site, unique("L"), crew_id=crew, suppressed_by=cabinet)
    _, others = await open_alert(db, notify_site, unique("L"), crew_id=other_crew)
    _, nobodys = await open_alert(db, notify_site, unique("L"), crew_id=None)

    report = PassReport()
    notifier = Notifier(notify_settings(), database_url=database_url, mqtt_url=mqtt_url)
    await notifier.collect(db, EventCursor(floor=first_event - 1), report)

    made = set()
    for event in (first_event, ack, suppressed, others, nobodys):
        made |= {(event, r["subscription_id"]) for r in await notifications_of(db, event_id=event)}
    name = {v: k for k, v in subs.items()}
    assert {(e, name[s]) for e, s in made} == {
        (first_event, "everything"), (first_event, "with suppressed"),  # major: not "critical only"
        (ack, "acknowledgements"),
        (suppressed, "with suppressed"),
        (others, "other crew"),
    }
