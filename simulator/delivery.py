"""When readings reach the server: on time, late, or held back and delivered in a burst.

Controllers journal their readings until the server has them, so radio trouble delays readings and
loses none (docs/protocol.md section 5). Per lamp, readings arrive in the order they were taken.

- comm_loss: the lamp's readings wait until the incident ends (for ever if it does not).
- gateway_down: the gateway's own state goes silent, and its LoRa lamps' readings wait until it is back.
- late_lora (noise): each reading of a LoRa lamp arrives up to ``max_delay_s`` late (duty cycle, queues).
- wifi_gap (noise): one missed report, re-sent with the next one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulator.faults import Windows
from simulator.fleet import Block
from simulator.incidents import Incident, NoiseEvent, Plan
from simulator.topology import Topology

HOLDING = ("comm_loss", "gateway_down")


_COLUMNS = ("lamps", "seq", "ts", "p", "v", "i", "pf", "e", "dim", "t", "f")


def concat(blocks: list[Block]) -> Block:
    if len(blocks) == 1:
        return blocks[0]
    cv = None
    if any(b.cv is not None for b in blocks):
        cv = [x for b in blocks for x in (b.cv if b.cv is not None else [None] * len(b))]
    columns = {c: np.concatenate([getattr(b, c) for b in blocks]) for c in _COLUMNS}
    return Block(**columns, cv=cv)


class Delivery:
    def __init__(self, topo: Topology, plan: Plan, intervals: npt.NDArray[np.int64], seed: int) -> None:
        n = len(topo.lamps)
        self.hold = Windows(n)  # readings taken inside wait until ``to``
        self.late = Windows(n)  # value: the longest delay
        self.gap = Windows(n)  # value: the delay (one interval)
        self.intervals = intervals
        self.last = np.full(n, -np.inf)
        self.rng = np.random.default_rng([seed, 0xDE11])
        self.gateway_index = {g.id: k for k, g in enumerate(topo.gateways)}
        self.gw_from = np.full(len(topo.gateways), np.inf)
        self.gw_to = np.full(len(topo.gateways), -np.inf)
        events: list[Incident | NoiseEvent] = [
            *(i for i in plan.incidents if i.type in HOLDING),
            *(e for e in plan.noise if e.kind in ("late_lora", "wifi_gap")),
        ]
        self._queue = sorted(events, key=lambda e: e.start)
        self._next = 0
        self._waiting: Block | None = None
        self._waiting_at = np.empty(0)

    def advance(self, now: float) -> None:
        while self._next < len(self._queue) and self._queue[self._next].start <= now:
            e = self._queue[self._next]
            self._next += 1
            if isinstance(e, Incident):
                self.hold.set(e.lamps, e.start, e.end)
                if e.type == "gateway_down":
                    g = self.gateway_index[e.subject_id]
                    self.gw_from[g] = e.start
                    self.gw_to[g] = np.inf if e.end is None else e.end
            elif e.kind == "late_lora":
                self.late.set(e.lamps, e.start, e.end, float(e.params["max_delay_s"]))
            else:
                self.gap.set(e.lamps, e.start, e.end, float(self.intervals[e.lamps[0]]))

    def gateways_up(self, now: float) -> npt.NDArray[np.bool_]:
        return ~((now >= self.gw_from) & (now < self.gw_to))

    def arrival(self, block: Block) -> npt.NDArray[np.float64]:
        """When each reading of ``block`` reaches the server; remembers it per lamp to keep the order."""
        lamps, ts = block.lamps, block.ts.astype(np.float64)
        at: npt.NDArray[np.float64] = ts.copy()
        held = self.hold.active(lamps, ts)
        at[held] = np.maximum(at[held], self.hold.to[lamps[held]])
        late = self.late.active(lamps, ts)
        at[late] += self.rng.uniform(0.0, 1.0, int(late.sum())) * self.late.value[lamps[late]]
        gap = self.gap.active(lamps, ts)
        at[gap] += self.gap.value[lamps[gap]]
        at = np.maximum(at, self.last[lamps])
        self.last[lamps] = at
        return at

    def route(self, block: Block, now: float) -> Block:
        """Takes the readings just taken; returns every reading that reaches the server by ``now``."""
        at = self.arrival(block)
        if self._waiting is not None:
            block = concat([self._waiting, block])
            at = np.concatenate([self._waiting_at, at])
        due = at <= now
        rest = ~due
        self._waiting = block.take(rest) if rest.any() else None
        self._waiting_at = at[rest]
        out = block.take(due)
        # Oldest first per lamp, as a journal replays.
        order = np.lexsort((out.seq, out.lamps))
        return out.take(order)

    @property
    def waiting(self) -> int:
        return 0 if self._waiting is None else len(self._waiting)
