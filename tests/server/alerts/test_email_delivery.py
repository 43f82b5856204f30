"""E-mail deliveries through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
from typing import Any

import pytest

from tests.server.alerts.conftest import (
    CABINET_NAME,
    DISTRICT_NAME,
    LAMP_NAME,
    LAT,
    LON,
    make_crew,
    notifications_of,
    open_alert,
    subscribe,
    until,
)

pytestmark = pytest.mark.timeout(60)
ADDRESS = "regu.timur@example.org"


async def test_email_is_sent_in_bahasa_indonesia_naming_the_lamp_and_where_it_is(
    db: Any, notify_site: str, lamp: dict[str, Any], notify_settings: Any, start_notifier: Any, mail_receiver: Any
) -> None:
    crew = await make_crew(db, notify_site, language="id")
    await subscribe(db, crew, "email", ADDRESS)
    _, event_id = await open_alert(db, notify_site, lamp["id"], crew_id=crew)
    start_notifier(notify_settings(smtp_host="127.0.0.1", smtp_port=mail_receiver.port, smtp_starttls=False,
                                   smtp_from="Terang Mimika <terang@example.org>"))

    envelope = (await until(mail_receiver.received, what="the e-mail"))[0]
    assert envelope.rcpt_tos == [ADDRESS]
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert msg["From"] == "Terang Mimika <terang@example.org>"
    assert msg["X-Terang-Event-Id"] == str(event_id)
    assert msg["Subject"] == f"[KRITIS] Lampu mati - {LAMP_NAME} ({lamp['id']}), {DISTRICT_NAME}"
    body = msg.get_content()
    assert "Lampu tidak menyala padahal jadwal memintanya menyala." in body
    assert f"Distrik: {DISTRICT_NAME}" in body and f"Panel: {CABINET_NAME}" in body
    assert f"Koordinat: {LAT:.6f}, {LON:.6f}" in body
    assert f"https://www.openstreetmap.org/?mlat={LAT:.6f}&mlon={LON:.6f}" in body
    assert " WIT" in body  # the site's clock (Asia/Jayapura)


async def test_email_waits_with_a_reason_when_no_smtp_server_is_configured(
    db: Any, notify_site: str, lamp: dict[str, Any], notify_settings: Any, start_notifier: Any
) -> None:
    crew = await make_crew(db, notify_site)
    await subscribe(db, crew, "email", ADDRESS)
    _, event_id = await open_alert(db, notify_site, lamp["id"], crew_id=crew)
    start_notifier(notify_settings(smtp_host=None))

    async def explained() -> list[dict[str, Any]]:
        return [r for r in await notifications_of(db, event_id=event_id) if r["last_error"]]

    row = (await until(explained, what="the reason on the pending row"))[0]
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert "TERANG_SMTP_HOST" in row["last_error"]
