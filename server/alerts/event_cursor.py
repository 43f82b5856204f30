"""How far a reader of ``alert_events`` has got, when ids may commit out of order.

Ids come from a sequence: a transaction can take id 5, another take 6 and commit first, and 5 appear
a moment later (or never, if its transaction rolls back). A reader that only remembered "the highest
id seen" would skip 5. So the cursor keeps a floor (every id at or below it is handled or given up)
and the ids handled above it; a hole below a handled id is waited for ``grace_s`` before it is given
up. Pure: the caller supplies the clock, and queries ``id > floor`` excluding ``handled``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class EventCursor:
    floor: int
    grace_s: float = 60.0
    handled: set[int] = field(default_factory=set)
    # When the current hole was first seen, and the highest id handled at that moment.
    _hole_since: float | None = None
    _hole_until: int = 0

    def mark(self, ids: Iterable[int], now: float) -> None:
        """Records ``ids`` as handled and moves the floor as far as it safely can."""
        self.handled.update(i for i in ids if i > self.floor)
        self._advance()
        if not self.handled:
            self._hole_since = None
            return
        if self._hole_since is None:
            self._hole_since, self._hole_until = now, max(self.handled)
        elif now - self._hole_since >= self.grace_s:
            # Whatever was missing when the hole was seen has had its chance.
            self.floor = max(self.floor, self._hole_until)
            self.handled = {i for i in self.handled if i > self.floor}
            self._advance()
            self._hole_since = None
            if self.handled:
                self._hole_since, self._hole_until = now, max(self.handled)

    def _advance(self) -> None:
        while self.floor + 1 in self.handled:
            self.floor += 1
            self.handled.discard(self.floor)
