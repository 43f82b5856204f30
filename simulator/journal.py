"""What each simulated lamp has sent but the server has not yet acknowledged.

The real firmware keeps such a journal on flash, and this follows its rules (``firmware/device/app.py``):
readings stay until the server's ack watermark passes them; when a lamp has neither sent nor heard
an ack for ``resend_after_s`` while readings are unacknowledged, it sends them again from the
watermark, and the wait doubles after every such re-send, up to half an hour; any ack resets it.
Ranges the server asks for (``miss``) go out at once, and after a reconnect everything
unacknowledged is sent again. A server that is merely slow to acknowledge is therefore not buried
under re-sends of what it is still storing.

Bookkeeping only, no I/O: the publisher moves the bytes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Reading = tuple[Any, ...]  # seq first, as the codec's READING_KEYS

RESEND_AFTER_MAX_S = 1800.0


@dataclass
class JournalStats:
    recorded: int = 0
    acked: int = 0
    resent: int = 0


class Journal:
    def __init__(self, lamps: int, resend_after_s: float, max_resend_after_s: float = RESEND_AFTER_MAX_S) -> None:
        self.resend_after_s = resend_after_s
        self.max_resend_after_s = max(max_resend_after_s, resend_after_s)
        self._entries: list[deque[Reading]] = [deque() for _ in range(lamps)]
        self._active = [0.0] * lamps  # last send or ack, per lamp
        self._wait = [resend_after_s] * lamps
        self._waiting: set[int] = set()
        self.watermark: list[int | None] = [None] * lamps
        self.stats = JournalStats()

    def record(self, lamp: int, readings: Sequence[Reading], now: float) -> None:
        """``readings`` (increasing seq) were just sent for ``lamp``."""
        wm = self.watermark[lamp]
        entries = self._entries[lamp]
        for r in readings:
            if wm is not None and r[0] <= wm:
                continue  # already stored: a replay the server will count as a duplicate
            entries.append(r)
            self.stats.recorded += 1
        self._active[lamp] = now
        if entries:
            self._waiting.add(lamp)

    def ack(self, lamp: int, seq: int, missing: Iterable[Sequence[int]] | None, now: float) -> list[Reading]:
        """Applies an ack; returns the readings the server asked for again (counted as re-sent)."""
        wm = self.watermark[lamp]
        if wm is None or seq > wm:
            self.watermark[lamp] = seq
        self._wait[lamp] = self.resend_after_s
        self._active[lamp] = now
        entries = self._entries[lamp]
        while entries and entries[0][0] <= seq:
            entries.popleft()
            self.stats.acked += 1
        if not entries:
            self._waiting.discard(lamp)
            return []
        again = [r for first, last in missing or () for r in entries if first <= r[0] <= last]
        self.stats.resent += len(again)
        return again

    def due(self, now: float) -> dict[int, list[Reading]]:
        """Per lamp that has waited out its timeout: everything unacknowledged, counted as re-sent."""
        out: dict[int, list[Reading]] = {}
        for lamp in self._waiting:
            if now - self._active[lamp] < self._wait[lamp]:
                continue
            out[lamp] = list(self._entries[lamp])
            self._active[lamp] = now
            self._wait[lamp] = min(self._wait[lamp] * 2, self.max_resend_after_s)
            self.stats.resent += len(out[lamp])
        return out

    def everything(self, now: float) -> dict[int, list[Reading]]:
        """All unacknowledged readings, per lamp, for re-sending after a reconnect."""
        out = {lamp: list(self._entries[lamp]) for lamp in self._waiting}
        for lamp, readings in out.items():
            self._active[lamp] = now
            self.stats.resent += len(readings)
        return out

    def pending(self, lamp: int) -> list[Reading]:
        return list(self._entries[lamp])

    def unacked(self) -> int:
        return sum(len(self._entries[lamp]) for lamp in self._waiting)

    def waiting_lamps(self) -> int:
        return len(self._waiting)
