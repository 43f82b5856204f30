"""Deletes what access control no longer needs: long-expired sessions and login failures that have
left the throttling window. Run hourly by the maintenance loop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg

# Expired sessions are kept a while, so "why was I logged out" can still be answered.
KEEP_EXPIRED_SESSIONS = timedelta(days=7)


def purge(conn: psycopg.Connection[Any], *, login_window_s: int) -> int:
    sessions = conn.execute("DELETE FROM api_tokens WHERE kind = 'session' AND expires_at < now() - %s",
                            (KEEP_EXPIRED_SESSIONS,)).rowcount
    failures = conn.execute("DELETE FROM login_failures WHERE at < now() - make_interval(secs => %s)",
                            (login_window_s,)).rowcount
    return max(sessions, 0) + max(failures, 0)
