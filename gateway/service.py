"""``terang gateway``: assembles the disk queue, the uplink sources and the backhaul, and runs them.

Uplinks from every source are committed in small groups (whatever arrives within
``COMMIT_DELAY_S``, up to ``COMMIT_MAX_ITEMS``): one fsync covers many messages, and each source
acknowledges its uplinks only when their group is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from gateway import health, protocol
from gateway.central import CentralLink
from gateway.config import GatewayConfig
from gateway.downlinks import DownlinkQueue
from gateway.local import LocalLink
from gateway.lora import LoraLink
from gateway.outbox import Downlink, Item, ItemClass, Outbox, PutResult

log = logging.getLogger(__name__)

COMMIT_DELAY_S = 0.002
COMMIT_MAX_ITEMS = 2000
HOUSEKEEPING_S = 5.0
# Raw payloads the gateway could not read are passed on (for the server's dead-letter table) up to this size.
FORWARD_REJECTED_MAX_BYTES = 64 * 1024


class Committer:
    """Groups uplinks into one transaction; each submitter gets a future resolved after the commit."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._items: list[Item] = []
        self._refs: list[tuple[str, str]] = []
        self._waiters: list[asyncio.Future[object]] = []
        self._timer: asyncio.TimerHandle | None = None

    def submit(self, items: Sequence[Item], refs: Sequence[tuple[str, str]] = ()) -> asyncio.Future[object]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[object] = loop.create_future()
        self._items.extend(items)
        self._refs.extend(refs)
        self._waiters.append(fut)
        if len(self._items) >= COMMIT_MAX_ITEMS:
            self.flush()
        elif self._timer is None:
            self._timer = loop.call_later(COMMIT_DELAY_S, self.flush)
        return fut

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, refs, waiters = self._items, self._refs, self._waiters
        self._items, self._refs, self._waiters = [], [], []
        if not waiters:
            return
        try:
            result = self.gateway.outbox.put(items, lora_refs=refs)
        except Exception as exc:
            log.exception("could not commit %d uplinks; their sources will not be acknowledged", len(items))
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut in waiters:
            if not fut.done():
                fut.set_result(result)
        self.gateway.stored(items, result)


class Gateway:
    def __init__(self, cfg: GatewayConfig) -> None:
        self.cfg = cfg
        self.started_at = time.time()
        self.outbox = Outbox(cfg.database_path, max_items=cfg.queue.max_items, sync=cfg.queue.sync)
        self.rejected: dict[str, int] = {}
        self.committer = Committer(self)
        self.downlinks = DownlinkQueue(self.outbox, report=self._report_downlink,
                                       max_age_s=cfg.queue.downlink_max_age_s)
        self.central = CentralLink(cfg, self.outbox, on_acks=self._server_acks, on_downlink=self._downlink,
                                   health=self.health_payload, offline=health.offline_payload())
        self.local = (LocalLink(cfg, on_uplink=self._local_uplink, ack_for=self._ack_payload,
                                on_connected=self._local_connected) if cfg.local.enabled else None)
        self.lora = (LoraLink(cfg, self.outbox, self.downlinks, submit=self.committer.submit)
                     if cfg.radio.kind == "udp" else None)
        self._tasks: set[asyncio.Task[Any]] = set()
        # Lamps heard through the local broker: only they get acks there (the gateway hears every
        # watermark of the site, most of them for lamps it does not serve).
        self._heard_locally = self.outbox.lamps_on("local")

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.central.run(), name="central")
                if self.local is not None:
                    tg.create_task(self.local.run(), name="local")
                if self.lora is not None:
                    tg.create_task(self.lora.run(), name="lora")
                tg.create_task(self._housekeeping(), name="housekeeping")
        finally:
            self.committer.flush()

    def close(self) -> None:
        self.outbox.close()

    # --- uplinks -------------------------------------------------------------------------------

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def _local_uplink(self, topic: str, payload: bytes) -> asyncio.Future[object]:
        try:
            items = protocol.local_uplink(topic, payload, self.cfg.gateway.site, time.time())
            if items and items[0].lamp not in self._heard_locally:
                self._heard_locally.add(items[0].lamp)
                self.outbox.set_bearer(items[0].lamp, "local")
        except protocol.Rejected as exc:
            self._reject(exc.reason)
            log.info("refused %s from the local broker: %s", topic, exc)
            items = []
            if exc.lamp is not None and exc.kind is not None and len(payload) <= FORWARD_REJECTED_MAX_BYTES:
                # The server files it in its dead-letter table, where operators look for bad input.
                items = [Item(exc.lamp, exc.kind, ItemClass.DIAGNOSTIC, payload)]
        return self.committer.submit(items)

    def stored(self, items: list[Item], result: PutResult) -> None:
        """After a commit: wake the forwarder, and owe local lamps an ack where the watermark moved."""
        lamps = {i.lamp for i in items if i.seq is not None}
        if lamps or result.dropped:
            self.central.readings_stored(lamps)
        if any(i.seq is None for i in items) or result.dropped:
            self.central.others_stored()
        if self.local is not None and result.advanced:
            self.local.acks_due(self._local_lamps(result.advanced))

    def _local_lamps(self, lamps: set[str]) -> set[str]:
        return lamps & self._heard_locally

    def _ack_payload(self, lamp: str) -> bytes | None:
        held = self.outbox.marks(lamp).held_wm
        if held is None:
            return None
        return protocol.ack(held, self.outbox.missing_above_held(lamp))

    def _server_acks(self, lamps: set[str]) -> None:
        if self.local is not None:
            self.local.acks_due(self._local_lamps(lamps))

    # --- downlinks -----------------------------------------------------------------------------

    async def _downlink(self, lamp: str, kind: str, body: bytes) -> None:
        d = self.downlinks.add(lamp, kind, body, time.time())
        if self.lora is not None and self.lora.is_lora_lamp(lamp):
            return  # waits for the lamp's next uplink and its receive window
        if self.local is not None and await self.local.publish_downlink(lamp, kind, body):
            self.downlinks.finish(d, "sent")

    def _local_connected(self) -> None:
        task = asyncio.get_running_loop().create_task(self._flush_local_downlinks())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_local_downlinks(self) -> None:
        if self.local is None:
            return
        now = time.time()
        for lamp in self.downlinks.pending_lamps():
            if self.lora is not None and self.lora.is_lora_lamp(lamp):
                continue
            while (d := self.downlinks.next_for(lamp, now)) is not None:
                if not await self.local.publish_downlink(lamp, d.kind, d.body):
                    return
                self.downlinks.finish(d, "sent")

    def _report_downlink(self, d: Downlink, outcome: str) -> None:
        # Every outcome is counted (health "dl_*"); a command the gateway gave up on is also reported to
        # the server as the command's outcome event, on the lamp's behalf.
        body = protocol.command_outcome(d.cmd_id, outcome, time.time()) if d.kind == "cmd" else None
        if body is not None and self._serves(d.lamp):
            self.outbox.put([Item(d.lamp, "event", ItemClass.STATE, body)])
            self.central.others_stored()

    def _serves(self, lamp: str) -> bool:
        """A lamp this gateway has heard (bound over LoRa, or on its local broker). Every gateway of a
        site takes every lamp's downlinks, not knowing which lamps are its own until they speak; an
        outcome for a lamp it never heard would contradict the gateway (or broker) that served it."""
        return (self.lora is not None and self.lora.is_lora_lamp(lamp)) or lamp in self._heard_locally

    # --- health --------------------------------------------------------------------------------

    def health_inputs(self) -> health.HealthInputs:
        b = self.central.stats
        radio: dict[str, int | float] = {}
        if self.lora is not None:
            r = self.lora.stats
            radio = {"rx": r.rx_frames, "rx_bad": r.rx_bad + r.rx_unknown_device + sum(r.rx_rejected.values()),
                     "rx_lost": r.fcnt_gaps, "tx": r.tx_frames, "airtime_s": round(r.tx_airtime_us / 1e6, 3),
                     "duty": round(self.lora.duty_cycle_used(), 5), "coll": r.medium_collisions,
                     "tx_deferred": r.duty_deferred}
        return health.HealthInputs(
            started_at=self.started_at, queue_depth=self.outbox.depth_by_class(),
            queue_max=self.cfg.queue.max_items, oldest_received_at=self.outbox.oldest_received_at(),
            downlinks_queued=self.downlinks.depth(), counters=self.outbox.counters(),
            backhaul_up=b.state == "up", backhaul_since=b.since, outages=b.outages,
            resent=b.batches_resent,
            local_up=None if self.local is None else self.local.stats.state == "up",
            radio=radio, rejected=sum(self.rejected.values()), bearer=self.cfg.central.bearer)

    def health_payload(self) -> bytes:
        return health.encode(self.health_inputs())

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            with contextlib.suppress(Exception):
                self.downlinks.expire(time.time())


async def run_gateway(cfg: GatewayConfig) -> None:
    gw = Gateway(cfg)
    try:
        await gw.run()
    finally:
        gw.close()
