"""The broker's count of messages it dropped, from Mosquitto's ``$SYS`` topic. No I/O.

Mosquitto drops QoS 1/2 messages for a client whose queue is full (``max_queued_messages``) and QoS 0
ones for a client that is not keeping up; the only trace is a cumulative counter, published every
``sys_interval`` seconds. The ingestion worker turns its increases into warnings and a counter.
"""

from __future__ import annotations

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"


class DropWatch:
    """Turns the cumulative counter into increments; a counter that goes down means the broker
    restarted, and everything it counted since then is new."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.total_new = 0

    def offer(self, payload: bytes) -> int:
        """Messages dropped since the previous value (0 for the first value seen, or a bad one).

        The first value is a baseline: drops from before this worker connected are not its news.
        """
        try:
            value = int(payload.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            return 0
        if value < 0:
            return 0
        previous, self.last = self.last, value
        if previous is None:
            return 0
        new = value - previous if value >= previous else value
        self.total_new += new
        return new
