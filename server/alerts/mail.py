"""E-mail delivery over SMTP (the standard library's smtplib, run in a worker thread).

A refusal of the recipient or the message itself (a 5xx) gives the delivery up; anything else (the
server unreachable, a 4xx "try later", a wrong password that an administrator will fix) is tried
again.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from server.alerts.retry import Outcome
from server.alerts.webhook import EVENT_HEADER

NO_SERVER = "no SMTP server configured (TERANG_SMTP_HOST); kept until one is"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    sender: str
    starttls: bool
    user: str | None
    password: str | None
    timeout_s: float


def message(*, sender: str, to: str, subject: str, body: str, event_id: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="terang")
    msg[EVENT_HEADER] = str(event_id)
    msg.set_content(body)
    return msg


def _send(server: SmtpServer, msg: EmailMessage) -> Outcome:
    try:
        with smtplib.SMTP(server.host, server.port, timeout=server.timeout_s) as smtp:
            if server.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if server.user:
                smtp.login(server.user, server.password or "")
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        error = "recipient refused: " + "; ".join(f"{code} {text!r}" for code, text in exc.recipients.values())
        return Outcome.dead(error) if all(code >= 500 for code in codes) else Outcome.retry(error)
    except smtplib.SMTPDataError as exc:
        error = f"message refused: {exc.smtp_code} {exc.smtp_error!r}"
        return Outcome.dead(error) if exc.smtp_code >= 500 else Outcome.retry(error)
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome.retry(f"{type(exc).__name__}: {exc}")
    return Outcome.sent()


async def send(server: SmtpServer, *, to: str, subject: str, body: str, event_id: int) -> Outcome:
    msg = message(sender=server.sender, to=to, subject=subject, body=body, event_id=event_id)
    return await asyncio.to_thread(_send, server, msg)
