"""The disk queue between the radios and the backhaul: SQLite in WAL mode.

Everything the gateway has accepted lives here until the centre has it:

- readings (one row per lamp and seq, de-duplicated) leave only when the server's ack watermark for
  their lamp covers them;
- other uplinks (events, states) and the gateway's own reports leave when the central broker has
  acknowledged their QoS 1 publish;
- readings dropped because the queue was full are remembered as per-lamp seq ranges (``drops``) until
  a journal-drop event for them has been handed to the broker, so the server can close the gap.

Per lamp it keeps the server's watermark and the *held* watermark: the highest seq such that every
reading up to it is at the server, in this queue, or reported dropped. The gateway acknowledges lamps
(LoRa and local MQTT) with the held watermark, so a lamp can trim its journal as soon as the gateway
holds its readings on disk.

The queue is bounded (``max_items``). When an item arrives at a full queue, the victim is the oldest
item of the lowest class present, the arriving one included — diagnostics, then readings, then states,
then alarms — so an arriving diagnostic is itself dropped when everything queued outranks it, and
alarms go only when nothing else is left. Every drop is counted by class.

All methods run in the caller's thread; one transaction per call, committed before it returns, so a
caller may acknowledge an uplink as soon as ``put`` returns.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

SCHEMA_VERSION = 1

# Seq ranges named in one ack or one drop event.
MAX_RANGES = 8


class ItemClass(IntEnum):
    """Drop order when the queue is full: lowest first."""

    DIAGNOSTIC = 0
    READING = 1
    STATE = 2
    ALARM = 3


KIND_TELEMETRY = "telemetry"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY,
    lamp        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    cls         INTEGER NOT NULL,
    seq         INTEGER,
    body        BLOB    NOT NULL,
    received_at REAL    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_reading ON outbox (lamp, seq) WHERE seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_cls ON outbox (cls, id);
CREATE INDEX IF NOT EXISTS outbox_other ON outbox (id) WHERE seq IS NULL;
CREATE TABLE IF NOT EXISTS lamps (
    lamp      TEXT PRIMARY KEY,
    server_wm INTEGER,
    held_wm   INTEGER,
    bearer    TEXT,
    devaddr   INTEGER,
    lora_ref  TEXT,
    config    BLOB
);
CREATE TABLE IF NOT EXISTS drops (
    lamp  TEXT    NOT NULL,
    first INTEGER NOT NULL,
    last  INTEGER NOT NULL,
    PRIMARY KEY (lamp, first)
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS downlinks (
    id         INTEGER PRIMARY KEY,
    lamp       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    body       BLOB    NOT NULL,
    cmd_id     TEXT,
    queued_at  REAL    NOT NULL,
    expires_at REAL    NOT NULL,
    progress   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS downlinks_lamp ON downlinks (lamp, id);
"""


@dataclass(frozen=True)
class Item:
    """One uplink to queue. ``seq`` is set for readings only (kind ``telemetry``)."""

    lamp: str
    kind: str
    cls: ItemClass
    body: bytes
    seq: int | None = None


@dataclass
class PutResult:
    stored: int = 0
    duplicates: int = 0
    dropped: dict[ItemClass, int] = field(default_factory=dict)
    # Lamps whose held watermark moved: they are due an ack.
    advanced: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class LampMarks:
    server_wm: int | None
    held_wm: int | None


@dataclass(frozen=True)
class Downlink:
    id: int
    lamp: str
    kind: str
    body: bytes
    cmd_id: str | None
    queued_at: float
    expires_at: float
    # LoRa fragments of this downlink already sent (a config delta may take several windows).
    progress: int = 0


class Outbox:
    def __init__(self, path: Path, *, max_items: int = 2_000_000, sync: str = "full") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_items = max_items
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per public call.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        self.db.execute("PRAGMA busy_timeout=5000")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise RuntimeError(f"{path}: queue schema {version} is newer than this gateway ({SCHEMA_VERSION})")
        self.db.executescript(_SCHEMA)
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._by_class = dict.fromkeys(ItemClass, 0)
        for cls, n in self.db.execute("SELECT cls, COUNT(*) FROM outbox GROUP BY cls"):
            self._by_class[ItemClass(cls)] = n
        self._marks: dict[str, LampMarks] = {
            lamp: LampMarks(s, h) for lamp, s, h in self.db.execute("SELECT lamp, server_wm, held_wm FROM lamps")
        }

    def close(self) -> None:
        self.db.close()

    # --- inspection ----------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return sum(self._by_class.values())

    def depth_by_class(self) -> dict[ItemClass, int]:
        return dict(self._by_class)

    def oldest_received_at(self) -> float | None:
        # Arrival order is id order, so the first row is the oldest without scanning the table.
        row = self.db.execute("SELECT received_at FROM outbox ORDER BY id LIMIT 1").fetchone()
        return None if row is None else float(row[0])

    def counters(self) -> dict[str, int]:
        return {name: int(value) for name, value in self.db.execute("SELECT name, value FROM counters")}

    def marks(self, lamp: str) -> LampMarks:
        return self._marks.get(lamp, LampMarks(None, None))

    def lamps(self) -> list[str]:
        return sorted(self._marks)

    def lamps_on(self, bearer: str) -> set[str]:
        return {lamp for (lamp,) in self.db.execute("SELECT lamp FROM lamps WHERE bearer = ?", (bearer,))}

    def set_bearer(self, lamp: str, bearer: str) -> None:
        with self._transaction():
            self._ensure_lamp(lamp)
            self.db.execute("UPDATE lamps SET bearer = ? WHERE lamp = ?", (bearer, lamp))

    def lora_ref(self, lamp: str) -> str | None:
        row = self.db.execute("SELECT lora_ref FROM lamps WHERE lamp = ?", (lamp,)).fetchone()
        return None if row is None else row[0]

    def set_lora_ref(self, lamp: str, ref: str) -> None:
        with self._transaction():
            self._ensure_lamp(lamp)
            self.db.execute("UPDATE lamps SET lora_ref = ? WHERE lamp = ?", (ref, lamp))

    def lamp_config(self, lamp: str) -> bytes | None:
        """The last config delivered to the lamp over LoRa: the base for the next delta."""
        row = self.db.execute("SELECT config FROM lamps WHERE lamp = ?", (lamp,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def set_lamp_config(self, lamp: str, config: bytes) -> None:
        with self._transaction():
            self._ensure_lamp(lamp)
            self.db.execute("UPDATE lamps SET config = ? WHERE lamp = ?", (config, lamp))

    def devaddrs(self) -> dict[int, str]:
        rows = self.db.execute("SELECT devaddr, lamp FROM lamps WHERE devaddr IS NOT NULL")
        return {int(addr): lamp for addr, lamp in rows}

    # --- uplinks -------------------------------------------------------------------------------

    def put(self, items: Sequence[Item], *, now: float | None = None,
            lora_refs: Iterable[tuple[str, str]] = ()) -> PutResult:
        """Stores ``items`` durably (and LoRa decode state with them) in one transaction."""
        now = time.time() if now is None else now
        result = PutResult()
        with self._transaction():
            for item in items:
                self._put_one(item, now, result)
            for lamp, ref in lora_refs:
                self._ensure_lamp(lamp)
                self.db.execute("UPDATE lamps SET lora_ref = ? WHERE lamp = ?", (ref, lamp))
            for lamp in result.advanced:
                self._walk(lamp)
            self._bump_counters({"stored": result.stored, "duplicates": result.duplicates}
                                | {f"dropped_{c.name.lower()}": n for c, n in result.dropped.items()})
        return result

    def bind_devaddr(self, lamp: str, devaddr: int) -> None:
        with self._transaction():
            self._ensure_lamp(lamp)
            self.db.execute("UPDATE lamps SET devaddr = NULL WHERE devaddr = ? AND lamp <> ?", (devaddr, lamp))
            self.db.execute("UPDATE lamps SET devaddr = ? WHERE lamp = ?", (devaddr, lamp))

    def _put_one(self, item: Item, now: float, result: PutResult) -> None:
        if item.seq is not None:
            marks = self._ensure_lamp(item.lamp)
            if marks.held_wm is None:
                # First reading heard from this lamp: start where the server stands, and like the
                # server (nothing stored: 0) wait for every seq below it. Starting just below this
                # reading would tell the lamp to trim readings that were lost on the way (a LoRa
                # collision), which the server then waits for forever.
                start = marks.server_wm if marks.server_wm is not None else 0
                self._set_marks(item.lamp, marks.server_wm, start)
                marks = self._marks[item.lamp]
            if marks.server_wm is not None and item.seq <= marks.server_wm:
                result.duplicates += 1
                return
        cur = self.db.execute(
            "INSERT OR IGNORE INTO outbox (lamp, kind, cls, seq, body, received_at) VALUES (?, ?, ?, ?, ?, ?)",
            (item.lamp, item.kind, int(item.cls), item.seq, item.body, now),
        )
        if cur.rowcount == 0:
            result.duplicates += 1
            return
        self._by_class[item.cls] += 1
        result.stored += 1
        if item.seq is not None:
            held = self._marks[item.lamp].held_wm
            if held is not None and item.seq == held + 1:
                result.advanced.add(item.lamp)
        if self.depth > self.max_items:
            self._evict(result)

    def _evict(self, result: PutResult) -> None:
        """Drops the oldest item of the lowest class present (possibly the one just stored)."""
        lowest = min(c for c, n in self._by_class.items() if n > 0)
        victim_id, lamp, seq = self.db.execute(
            "SELECT id, lamp, seq FROM outbox WHERE cls = ? ORDER BY id LIMIT 1", (int(lowest),)
        ).fetchone()
        self.db.execute("DELETE FROM outbox WHERE id = ?", (victim_id,))
        self._by_class[lowest] -= 1
        result.dropped[lowest] = result.dropped.get(lowest, 0) + 1
        if seq is not None:
            self._record_drop(lamp, seq, seq)
            result.advanced.add(lamp)

    def _record_drop(self, lamp: str, first: int, last: int) -> None:
        # Merge with a range that ends just before or starts just after, so a run of oldest-first
        # drops stays one range per lamp.
        before = self.db.execute(
            "SELECT first FROM drops WHERE lamp = ? AND last = ?", (lamp, first - 1)).fetchone()
        after = self.db.execute(
            "SELECT last FROM drops WHERE lamp = ? AND first = ?", (lamp, last + 1)).fetchone()
        if before is not None:
            self.db.execute("DELETE FROM drops WHERE lamp = ? AND first = ?", (lamp, before[0]))
            first = before[0]
        if after is not None:
            self.db.execute("DELETE FROM drops WHERE lamp = ? AND first = ?", (lamp, last + 1))
            last = after[0]
        self.db.execute("INSERT OR REPLACE INTO drops (lamp, first, last) VALUES (?, ?, ?)", (lamp, first, last))

    def _ensure_lamp(self, lamp: str) -> LampMarks:
        marks = self._marks.get(lamp)
        if marks is None:
            self.db.execute("INSERT OR IGNORE INTO lamps (lamp) VALUES (?)", (lamp,))
            marks = self._marks[lamp] = LampMarks(None, None)
        return marks

    def _set_marks(self, lamp: str, server_wm: int | None, held_wm: int | None) -> None:
        self.db.execute("UPDATE lamps SET server_wm = ?, held_wm = ? WHERE lamp = ?", (server_wm, held_wm, lamp))
        self._marks[lamp] = LampMarks(server_wm, held_wm)

    def _walk(self, lamp: str) -> None:
        """Advances the held watermark over queued and dropped seqs that follow it without a gap."""
        marks = self._marks[lamp]
        held = marks.held_wm
        if held is None:
            return
        start = held
        while True:
            seqs = [s for (s,) in self.db.execute(
                "SELECT seq FROM outbox WHERE lamp = ? AND seq > ? ORDER BY seq LIMIT 512", (lamp, held))]
            moved = False
            for s in seqs:
                if s != held + 1:
                    break
                held = s
                moved = True
            dropped = self.db.execute(
                "SELECT MAX(last) FROM drops WHERE lamp = ? AND first <= ? AND last > ?", (lamp, held + 1, held)
            ).fetchone()[0]
            if dropped is not None:
                held = int(dropped)
                moved = True
            if not moved:
                break
        if held != start:
            self._set_marks(lamp, marks.server_wm, held)

    def missing_above_held(self, lamp: str) -> list[list[int]]:
        """Gaps between the held watermark and the newest queued reading: what the lamp should re-send."""
        held = self.marks(lamp).held_wm
        if held is None:
            return []
        ranges: list[list[int]] = []
        expected = held + 1
        for (seq,) in self.db.execute(
                "SELECT seq FROM outbox WHERE lamp = ? AND seq > ? ORDER BY seq LIMIT 4096", (lamp, held)):
            if seq > expected:
                ranges.append([expected, seq - 1])
                if len(ranges) >= MAX_RANGES:
                    break
            expected = seq + 1
        return ranges

    # --- forwarding ----------------------------------------------------------------------------

    def lamps_with_readings(self) -> list[str]:
        """Lamps with queued readings, the one holding the oldest first."""
        rows = self.db.execute(
            "SELECT lamp, MIN(id) AS first FROM outbox WHERE seq IS NOT NULL GROUP BY lamp ORDER BY first")
        return [lamp for lamp, _first in rows]

    def readings_after(self, lamp: str, seq: int | None, limit: int) -> list[tuple[int, bytes]]:
        after = -1 if seq is None else seq
        rows = self.db.execute(
            "SELECT seq, body FROM outbox WHERE lamp = ? AND seq > ? ORDER BY seq LIMIT ?", (lamp, after, limit))
        return [(int(s), bytes(b)) for s, b in rows]

    def others_after(self, after_id: int, limit: int) -> list[tuple[int, str, str, bytes]]:
        """Queued non-reading items after ``after_id``, in arrival order: (id, lamp, kind, body)."""
        rows = self.db.execute(
            "SELECT id, lamp, kind, body FROM outbox WHERE seq IS NULL AND id > ? ORDER BY id LIMIT ?",
            (after_id, limit))
        return [(int(i), lamp, kind, bytes(b)) for i, lamp, kind, b in rows]

    def remove(self, item_id: int) -> None:
        """Forgets a non-reading item the central broker has acknowledged."""
        with self._transaction():
            row = self.db.execute("DELETE FROM outbox WHERE id = ? RETURNING cls", (item_id,)).fetchone()
            if row is not None:
                self._by_class[ItemClass(row[0])] -= 1
                self._bump_counters({"forwarded_other": 1})

    def server_ack(self, lamp: str, seq: int) -> int:
        """Applies the server's watermark: trims covered readings. Returns how many left the queue."""
        return self.server_acks({lamp: seq})

    def server_acks(self, acks: dict[str, int]) -> int:
        """Applies several lamps' watermarks in one transaction (one fsync for a burst of acks)."""
        fresh = {lamp: seq for lamp, seq in acks.items()
                 if (m := self._marks.get(lamp)) is None or m.server_wm is None or seq > m.server_wm}
        if not fresh:
            return 0
        trimmed = 0
        with self._transaction():
            for lamp, seq in fresh.items():
                self._ensure_lamp(lamp)
                held = self._marks[lamp].held_wm
                self._set_marks(lamp, seq, seq if held is None or held < seq else held)
                n = self.db.execute(
                    "DELETE FROM outbox WHERE lamp = ? AND seq IS NOT NULL AND seq <= ?", (lamp, seq)).rowcount
                self._by_class[ItemClass.READING] -= n
                trimmed += n
                self.db.execute("DELETE FROM drops WHERE lamp = ? AND last <= ?", (lamp, seq))
                self._walk(lamp)
            self._bump_counters({"forwarded_readings": trimmed})
        return trimmed

    def pending_drops(self, limit: int = 1000) -> list[tuple[str, int, int]]:
        rows = self.db.execute("SELECT lamp, first, last FROM drops ORDER BY lamp, first LIMIT ?", (limit,))
        return [(lamp, int(f), int(t)) for lamp, f, t in rows]

    def drop_reported(self, lamp: str, first: int, last: int) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM drops WHERE lamp = ? AND first = ? AND last = ?", (lamp, first, last))

    # --- downlinks -----------------------------------------------------------------------------

    def put_downlink(self, lamp: str, kind: str, body: bytes, *, cmd_id: str | None, expires_at: float,
                     now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._transaction():
            cur = self.db.execute(
                "INSERT INTO downlinks (lamp, kind, body, cmd_id, queued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (lamp, kind, body, cmd_id, now, expires_at))
            return int(cur.lastrowid or 0)

    def downlinks_for(self, lamp: str) -> list[Downlink]:
        rows = self.db.execute(
            "SELECT id, lamp, kind, body, cmd_id, queued_at, expires_at, progress FROM downlinks "
            "WHERE lamp = ? ORDER BY id", (lamp,))
        return [Downlink(int(i), lp, k, bytes(b), c, float(q), float(e), int(p))
                for i, lp, k, b, c, q, e, p in rows]

    def downlink_progress(self, downlink_id: int, progress: int) -> None:
        with self._transaction():
            self.db.execute("UPDATE downlinks SET progress = ? WHERE id = ?", (progress, downlink_id))

    def downlink_lamps(self) -> list[str]:
        return [lamp for (lamp,) in self.db.execute("SELECT DISTINCT lamp FROM downlinks")]

    def downlink_done(self, downlink_id: int, outcome: str) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM downlinks WHERE id = ?", (downlink_id,))
            self._bump_counters({f"downlink_{outcome}": 1})

    def downlink_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM downlinks").fetchone()[0])

    # --- plumbing ------------------------------------------------------------------------------

    def _bump_counters(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            if n:
                self.db.execute(
                    "INSERT INTO counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", (name, n))

    class _Tx:
        def __init__(self, outbox: Outbox) -> None:
            self.outbox = outbox

        def __enter__(self) -> None:
            self.outbox._snapshot = (dict(self.outbox._by_class), dict(self.outbox._marks))
            self.outbox.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            if exc_type is None:
                self.outbox.db.execute("COMMIT")
            else:
                self.outbox.db.execute("ROLLBACK")
                # Keep the in-memory mirrors equal to what is on disk.
                self.outbox._by_class, self.outbox._marks = self.outbox._snapshot

    _snapshot: tuple[dict[ItemClass, int], dict[str, LampMarks]]

    def _transaction(self) -> Outbox._Tx:
        return Outbox._Tx(self)
