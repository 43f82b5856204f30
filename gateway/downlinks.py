"""Per-lamp downlink queue: what the server sent for a lamp, kept on disk until it goes or expires.

A ``cmd`` expires at its own ``exp``; a ``config`` (and a command without expiry) after
``queue.downlink_max_age_s``. A newer ``config`` for a lamp supersedes a queued older one. Every end of
a downlink — sent, expired, superseded, too large for the lamp's data rate, not expressible on LoRa —
is counted and reported to the centre as a gateway event (docs/gateway.md, "Downlink outcomes").
"""

from __future__ import annotations

from collections.abc import Callable

from gateway import protocol
from gateway.outbox import Downlink, Outbox

OUTCOMES = ("sent", "expired", "superseded", "too_large", "unsupported")


class DownlinkQueue:
    def __init__(self, outbox: Outbox, *, report: Callable[[Downlink, str], None], max_age_s: float) -> None:
        self.outbox = outbox
        self.report = report
        self.max_age_s = max_age_s

    def add(self, lamp: str, kind: str, body: bytes, now: float) -> Downlink:
        cmd_id, exp = protocol.downlink_meta(kind, body)
        expires_at = min(exp, now + self.max_age_s) if exp is not None else now + self.max_age_s
        if kind == "config":
            for old in self.outbox.downlinks_for(lamp):
                if old.kind == "config":
                    self.finish(old, "superseded")
        new_id = self.outbox.put_downlink(lamp, kind, body, cmd_id=cmd_id, expires_at=expires_at, now=now)
        return Downlink(new_id, lamp, kind, body, cmd_id, now, expires_at)

    def next_for(self, lamp: str, now: float) -> Downlink | None:
        """The oldest live downlink for ``lamp``; expired ones are dropped on the way."""
        for d in self.outbox.downlinks_for(lamp):
            if d.expires_at <= now:
                self.finish(d, "expired")
                continue
            return d
        return None

    def pending_lamps(self) -> list[str]:
        return self.outbox.downlink_lamps()

    def expire(self, now: float) -> None:
        for lamp in self.outbox.downlink_lamps():
            for d in self.outbox.downlinks_for(lamp):
                if d.expires_at <= now:
                    self.finish(d, "expired")

    def finish(self, d: Downlink, outcome: str) -> None:
        self.outbox.downlink_done(d.id, outcome)
        self.report(d, outcome)

    def depth(self) -> int:
        return self.outbox.downlink_count()
