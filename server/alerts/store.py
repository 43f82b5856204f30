"""Alert rows and their history: what the fault engine and the API read and write.

Every change is one transaction that also appends to ``alert_events`` (whose trigger notifies
'terang_alerts', waking the notifier and the SSE streams).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from server.alerts.lifecycle import LIVE, action_for, allowed_from
from server.registry.errors import Conflict, InvalidReference, NotFound

Conn = psycopg.AsyncConnection[Any]
ENGINE = "engine"

_COLUMNS = (
    "id, site_id, fault_type, subject_type, subject_id, district_id, cabinet_id, severity, status, suppressed_by,"
    " crew_id, first_evidence_at, detected_at, cleared_at, acknowledged_at, resolved_at, closed_at,"
    " escalation_level, escalated_at, flaps, evidence, updated_at"
)


@dataclass
class NewAlert:
    site_id: str
    fault_type: str
    subject_type: str
    subject_id: str
    district_id: str | None
    cabinet_id: str | None
    severity: str
    first_evidence_at: dt.datetime
    evidence: dict[str, Any] = field(default_factory=dict)
    suppressed_by: int | None = None


async def _event(conn: Conn, alert_id: int, *, at: dt.datetime, actor: str, action: str,
                 from_status: str | None = None, to_status: str | None = None, note: str | None = None,
                 detail: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO alert_events (alert_id, at, actor, action, from_status, to_status, note, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (alert_id, at, actor, action, from_status, to_status, note, Jsonb(detail or {})),
    )


# --- crews ---------------------------------------------------------------------------------------

async def crews_by_site(conn: Conn) -> dict[str, list[tuple[str, list[str]]]]:
    cur = await conn.execute("SELECT id, site_id, districts FROM crews ORDER BY id")
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for crew_id, site_id, districts in await cur.fetchall():
        out.setdefault(site_id, []).append((crew_id, list(districts)))
    return out


def choose_crew(crews: dict[str, list[tuple[str, list[str]]]], site_id: str, district_id: str | None) -> str | None:
    """The crew covering the district; else the site's fallback crew (no districts); else nobody."""
    candidates = crews.get(site_id, [])
    for crew_id, districts in candidates:
        if district_id is not None and district_id in districts:
            return crew_id
    for crew_id, districts in candidates:
        if not districts:
            return crew_id
    return None


# --- the engine's side ---------------------------------------------------------------------------

async def load_engine_view(
    conn: Conn, *, site_ids: list[str] | None, resolved_since: dt.datetime
) -> list[dict[str, Any]]:
    """Live alerts, and those resolved recently enough to be re-opened by a flap."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM alerts"
            " WHERE (status = ANY(%s) OR (status = 'resolved' AND resolved_at >= %s))"
            " AND (%s::text[] IS NULL OR site_id = ANY(%s))"
            " ORDER BY id",
            (list(LIVE), resolved_since, site_ids, site_ids),
        )
        return await cur.fetchall()


async def open_alert(conn: Conn, new: NewAlert, *, at: dt.datetime, crew_id: str | None) -> int:
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO alerts (site_id, fault_type, subject_type, subject_id, district_id, cabinet_id, severity,"
            " suppressed_by, crew_id, first_evidence_at, detected_at, evidence, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (new.site_id, new.fault_type, new.subject_type, new.subject_id, new.district_id, new.cabinet_id,
             new.severity, new.suppressed_by, crew_id, new.first_evidence_at, at, Jsonb(new.evidence), at),
        )
        row = await cur.fetchone()
        assert row is not None
        alert_id = int(row[0])
        await _event(conn, alert_id, at=at, actor=ENGINE, action="opened", to_status="open",
                     detail={"evidence": new.evidence, "crew_id": crew_id, "suppressed_by": new.suppressed_by})
    return alert_id


async def reopen(conn: Conn, alert_id: int, *, at: dt.datetime, flapping: bool, evidence: dict[str, Any]) -> None:
    async with conn.transaction():
        await conn.execute(
            "UPDATE alerts SET status = 'open', flaps = flaps + 1, cleared_at = NULL, resolved_at = NULL,"
            " acknowledged_at = NULL, escalation_level = 0, escalated_at = NULL, detected_at = %s, updated_at = %s"
            " WHERE id = %s",
            (at, at, alert_id),
        )
        await _event(conn, alert_id, at=at, actor=ENGINE, action="reopened", from_status="resolved",
                     to_status="open", note="the condition came back",
                     detail={"flapping": flapping, "evidence": evidence})


async def mark_cleared(conn: Conn, alert_id: int, *, at: dt.datetime | None) -> None:
    """Records (or forgets, with None) when the alert's condition stopped holding."""
    await conn.execute("UPDATE alerts SET cleared_at = %s WHERE id = %s", (at, alert_id))


async def resolve_cleared(conn: Conn, alert_id: int, *, at: dt.datetime) -> str | None:
    """The engine resolves a live alert whose condition stayed clear; returns the status it left."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE alerts a SET status = 'resolved', resolved_at = %s, updated_at = %s"
            " FROM (SELECT id, status FROM alerts WHERE id = %s FOR UPDATE) old"
            " WHERE a.id = old.id AND old.status = ANY(%s) RETURNING old.status",
            (at, at, alert_id, list(LIVE)),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        await _event(conn, alert_id, at=at, actor=ENGINE, action="resolved", from_status=row[0],
                     to_status="resolved", note="the condition cleared")
    return str(row[0])


async def set_suppressed(conn: Conn, alert_id: int, *, by: int | None, at: dt.datetime) -> None:
    async with conn.transaction():
        await conn.execute("UPDATE alerts SET suppressed_by = %s, updated_at = %s WHERE id = %s", (by, at, alert_id))
        await _event(conn, alert_id, at=at, actor=ENGINE, action="suppressed" if by else "unsuppressed",
                     detail={"by": by})


async def escalate(conn: Conn, alert_id: int, *, level: int, at: dt.datetime) -> None:
    async with conn.transaction():
        await conn.execute(
            "UPDATE alerts SET escalation_level = %s, escalated_at = %s, updated_at = %s WHERE id = %s",
            (level, at, at, alert_id),
        )
        await _event(conn, alert_id, at=at, actor=ENGINE, action="escalated", detail={"level": level},
                     note=f"not acknowledged in time (level {level})")


# --- the API's side ------------------------------------------------------------------------------

@dataclass
class AlertFilter:
    site_id: str | None = None
    status: list[str] | None = None
    fault_type: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    district_id: str | None = None
    cabinet_id: str | None = None
    crew_id: str | None = None
    severity: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    # Suppressed alerts (explained by an outage) are hidden unless asked for.
    include_suppressed: bool = False


def _where(f: AlertFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("site_id", "fault_type", "subject_type", "subject_id", "district_id", "cabinet_id", "crew_id",
                   "severity"):
        value = getattr(f, column)
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if f.status:
        clauses.append("status = ANY(%s)")
        params.append(f.status)
    if f.since is not None:
        clauses.append("detected_at >= %s")
        params.append(f.since)
    if f.until is not None:
        clauses.append("detected_at < %s")
        params.append(f.until)
    if not f.include_suppressed:
        clauses.append("suppressed_by IS NULL")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


async def list_alerts(conn: Conn, f: AlertFilter, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    where, params = _where(f)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT count(*) AS n FROM alerts{where}", params)
        counted = await cur.fetchone()
        await cur.execute(f"SELECT {_COLUMNS} FROM alerts{where} ORDER BY detected_at DESC, id DESC LIMIT %s OFFSET %s",
                          [*params, limit, offset])
        rows = await cur.fetchall()
    return rows, int(counted["n"]) if counted else 0


async def get_alert(conn: Conn, alert_id: int) -> dict[str, Any]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id = %s", (alert_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return row


async def history(conn: Conn, alert_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, at, actor, action, from_status, to_status, note, detail FROM alert_events"
            " WHERE alert_id = %s ORDER BY id", (alert_id,))
        return await cur.fetchall()


async def comments(conn: Conn, alert_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, at, author, body FROM alert_comments WHERE alert_id = %s ORDER BY id",
                          (alert_id,))
        return await cur.fetchall()


async def transition(conn: Conn, alert_id: int, *, to: str, actor: str, note: str | None) -> dict[str, Any]:
    """Moves an alert along its lifecycle by hand; Conflict (409) for a move the lifecycle forbids."""
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        cur = await conn.execute("SELECT status FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"alert {alert_id} does not exist")
        current = str(row[0])
        action = action_for(current, to)
        if action is None:
            allowed = ", ".join(allowed_from(current)) or "nothing (it is final)"
            raise Conflict(f"status: an alert that is {current} can not become {to}; it can become {allowed}",
                           field="status")
        stamps = {"acknowledged": "acknowledged_at", "in_progress": "acknowledged_at", "resolved": "resolved_at",
                  "closed": "closed_at"}
        sets = ["status = %s", "updated_at = %s"]
        params: list[Any] = [to, now]
        if to in stamps:
            column = stamps[to]
            # Starting work acknowledges too, but an earlier acknowledgement keeps its time.
            sets.append(f"{column} = COALESCE({column}, %s)" if to == "in_progress" else f"{column} = %s")
            params.append(now)
        if to == "open":
            sets += ["resolved_at = NULL", "cleared_at = NULL", "acknowledged_at = NULL"]
        await conn.execute(f"UPDATE alerts SET {', '.join(sets)} WHERE id = %s", [*params, alert_id])
        await _event(conn, alert_id, at=now, actor=actor, action=action, from_status=current, to_status=to,
                     note=note)
    return await get_alert(conn, alert_id)


async def add_comment(conn: Conn, alert_id: int, *, author: str, body: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        await get_alert(conn, alert_id)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                "INSERT INTO alert_comments (alert_id, at, author, body) VALUES (%s, %s, %s, %s)"
                " RETURNING id, at, author, body", (alert_id, now, author, body))
            row = await cur.fetchone()
        assert row is not None
        await _event(conn, alert_id, at=now, actor=author, action="commented", note=body[:200],
                     detail={"comment_id": row["id"]})
    return row


async def assign(conn: Conn, alert_id: int, *, crew_id: str | None, actor: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        current = await get_alert(conn, alert_id)
        if crew_id is not None:
            cur = await conn.execute("SELECT site_id FROM crews WHERE id = %s", (crew_id,))
            crew = await cur.fetchone()
            if crew is None:
                raise InvalidReference(f"crew_id: crew {crew_id!r} does not exist", field="crew_id")
            if crew[0] != current["site_id"]:
                raise InvalidReference(f"crew_id: crew {crew_id!r} works for another site", field="crew_id")
        await conn.execute("UPDATE alerts SET crew_id = %s, updated_at = %s WHERE id = %s", (crew_id, now, alert_id))
        await _event(conn, alert_id, at=now, actor=actor, action="assigned",
                     detail={"from": current["crew_id"], "to": crew_id})
    return await get_alert(conn, alert_id)
