"""The engine against a real database: alerts opened, kept single, suppressed, resolved, re-opened
and escalated as conditions come and go on the engine's clock."""

from __future__ import annotations

import datetime as dt

from tests.server.faults.conftest import START, Street


async def test_a_failed_lamp_opens_one_alert_assigned_to_its_districts_crew(street: Street) -> None:
    for k in range(4):
        await street.round(START + 300 * k, failed={0} if k else set())
    alerts = await street.alerts()
    assert [(a["subject_id"], a["fault_type"], a["status"], a["crew_id"]) for a in alerts] == [
        (street.lamp_ids[0], "lamp_failure", "open", street.crew)]
    assert alerts[0]["severity"] == "major"
    assert alerts[0]["evidence"]["p"] == 0.6


async def test_a_condition_that_clears_is_resolved_after_the_hold(street: Street) -> None:
    for k in range(3):
        await street.round(START + 300 * k, failed={0} if k else set())
    for k in range(3, 6):
        await street.round(START + 300 * k)
    (alert,) = await street.alerts()
    assert alert["status"] == "open" and alert["cleared_at"] is not None
    for k in range(6, 9):
        await street.round(START + 300 * k)
    (alert,) = await street.alerts()
    assert alert["status"] == "resolved"
    assert await street.events(alert["id"]) == ["opened", "resolved"]


async def test_a_condition_back_soon_after_resolving_reopens_the_same_alert(street: Street) -> None:
    pattern = (True, True, True, False, False, False, False, False, False, True, True, True)
    for k, failing in enumerate(pattern):
        await street.round(START + 300 * k, failed={0} if failing else set())
    alerts = await street.alerts()
    assert len(alerts) == 1
    assert alerts[0]["status"] == "open" and alerts[0]["flaps"] == 1
    assert "reopened" in await street.events(alerts[0]["id"])


async def test_a_cabinet_outage_suppresses_the_lamp_alert_it_explains(street: Street) -> None:
    for k in range(3):
        await street.round(START + 300 * k, failed={0} if k else set())
    (lamp_alert,) = await street.alerts()
    for k in range(3, 8):
        await street.round(START + 300 * k, quiet=set(range(10)))
    outage = await street.alerts(fault_type="cabinet_outage")
    assert len(outage) == 1 and outage[0]["subject_id"] == street.cabinet
    lamp_after = (await street.alerts(id=lamp_alert["id"]))[0]
    assert lamp_after["suppressed_by"] == outage[0]["id"]
    assert [a for a in await street.alerts() if a["suppressed_by"] is None] == outage


async def test_lamps_still_dark_after_an_outage_get_their_own_alerts(street: Street) -> None:
    await street.round(START)
    for k in range(1, 6):
        await street.round(START + 300 * k, quiet=set(range(10)))
    for k in range(6, 14):
        await street.round(START + 300 * k, quiet={3})
    outage = (await street.alerts(fault_type="cabinet_outage"))[0]
    assert outage["status"] == "resolved"
    lost = await street.alerts(fault_type="comm_loss")
    assert [(a["subject_id"], a["suppressed_by"]) for a in lost] == [(street.lamp_ids[3], None)]


async def test_an_open_alert_nobody_acknowledges_is_escalated(street: Street) -> None:
    for k in range(3):
        await street.round(START + 300 * k, failed={0} if k else set())
    (alert,) = await street.alerts()
    hours = street.engine.config.lifecycle.escalate_after_s["major"] / 3600
    await street.round(START + 900 + hours * 3600, failed={0})
    (alert,) = await street.alerts()
    assert alert["escalation_level"] == 1
    assert await street.events(alert["id"]) == ["opened", "escalated"]


async def test_an_acknowledged_alert_is_not_escalated(street: Street) -> None:
    for k in range(3):
        await street.round(START + 300 * k, failed={0} if k else set())
    (alert,) = await street.alerts()
    await street.conn.execute("UPDATE alerts SET status = 'acknowledged' WHERE id = %s", (alert["id"],))
    await street.round(START + 900 + 10 * 3600, failed={0})
    (alert,) = await street.alerts()
    assert alert["escalation_level"] == 0


async def test_alert_times_are_on_the_engine_clock(street: Street) -> None:
    for k in range(3):
        await street.round(START + 300 * k, failed={0} if k else set())
    (alert,) = await street.alerts()
    assert alert["detected_at"] == dt.datetime.fromtimestamp(START + 601, dt.UTC)
    assert alert["first_evidence_at"] == dt.datetime.fromtimestamp(START + 300, dt.UTC)
