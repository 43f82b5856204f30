"""Lamp id -> (key, site) lookups for ingestion, cached; the registry notifies changes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

# An unknown lamp id is looked up again at most this often, so a misconfigured controller
# publishing many messages does not cost one query each.
NEGATIVE_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class LampRef:
    key: int
    site_id: str


class LampDirectory:
    def __init__(self) -> None:
        self._known: dict[str, LampRef] = {}
        self._unknown_until: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._known)

    async def load_all(self, conn: psycopg.AsyncConnection) -> None:
        cur = await conn.execute("SELECT id, key, site_id FROM lamps")
        self._known = {lamp_id: LampRef(key, site) for lamp_id, key, site in await cur.fetchall()}
        self._unknown_until.clear()

    def cached(self, lamp_id: str) -> LampRef | None:
        return self._known.get(lamp_id)

    def recently_unknown(self, lamp_id: str) -> bool:
        until = self._unknown_until.get(lamp_id)
        return until is not None and until > time.monotonic()

    async def lookup(self, conn: psycopg.AsyncConnection, lamp_ids: set[str]) -> None:
        """Loads ``lamp_ids`` that are not cached; remembers the ones that do not exist."""
        missing = [i for i in lamp_ids if i not in self._known and not self.recently_unknown(i)]
        if not missing:
            return
        cur = await conn.execute("SELECT id, key, site_id FROM lamps WHERE id = ANY(%s)", (missing,))
        for lamp_id, key, site in await cur.fetchall():
            self._known[lamp_id] = LampRef(key, site)
        until = time.monotonic() + NEGATIVE_TTL_S
        for lamp_id in missing:
            if lamp_id not in self._known:
                self._unknown_until[lamp_id] = until

    def forget(self, lamp_id: str) -> None:
        self._known.pop(lamp_id, None)
        self._unknown_until.pop(lamp_id, None)
