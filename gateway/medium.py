"""The simulated LoRa air: a UDP service that times, collides, rate-limits and loses frames.

Radios (lamps, gateways) send TX datagrams; the medium answers with a TX_RESULT at once and, when
the frame's time on air has elapsed, delivers it as an RX datagram to every radio of the other role
(nodes hear downlinks, gateways hear uplinks), unless

- another frame on the same channel and spreading factor and in the same direction overlapped it in
  time (a collision destroys both: no capture effect is modelled),
- the receiving gateway was itself transmitting at the time (concentrators are half duplex), or
- the configured random loss struck (independently per receiver).

Each transmitter (UDP address and ``tx_id``) may use ``duty_cycle`` of the air: after a frame of airtime
T it must keep silent for T * (1/dc - 1); a TX asked for earlier is refused with ``duty_cycle``. Frames
over the dwell limit are refused with ``dwell``. Time may run faster than real time (``speed``), so
tests at SF12 do not wait seconds. The datagrams are specified in docs/lora.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from firmware.device import airtime, lorawire

# A radio that has neither said HELLO nor transmitted for this long is forgotten.
LISTENER_TTL_S = 60.0
# A TX scheduled further ahead than this (medium time) is refused: no concentrator queues that long.
MAX_SCHEDULE_AHEAD_US = 10_000_000
# Transmissions are kept this long after their end for collision checks against late-scheduled ones.
HISTORY_US = 30_000_000
BANDWIDTHS = (125_000, 250_000, 500_000)

Address = tuple[str, int]


@dataclass(frozen=True)
class MediumSettings:
    speed: float = 1.0
    duty_cycle: float = airtime.DUTY_CYCLE
    dwell_limit_s: float | None = airtime.DWELL_LIMIT_S
    loss: float = 0.0
    seed: int | None = None
    # How late (medium time) a timestamped TX may arrive and still be sent, as a real concentrator's
    # "just in time" margin would allow.
    late_tolerance_us: int = 0


@dataclass
class _Transmission:
    src: Address
    tx_id: int
    freq: int
    sf: int
    bw: int
    cr: int
    flags: int
    start_us: int
    end_us: int
    payload: bytes
    collided: bool = False

    @property
    def downlink(self) -> bool:
        return bool(self.flags & lorawire.FLAG_IQ_INVERTED)


@dataclass
class _Listener:
    role: int
    name: str
    seen: float


@dataclass
class MediumStats:
    transmissions: int = 0
    delivered: int = 0
    collided: int = 0
    lost: int = 0
    missed_while_transmitting: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    airtime_us: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "transmissions": self.transmissions,
            "delivered": self.delivered,
            "collided": self.collided,
            "lost": self.lost,
            "missed_while_transmitting": self.missed_while_transmitting,
            "refused": dict(self.refused),
            "airtime_us": self.airtime_us,
        }


class Medium(asyncio.DatagramProtocol):
    def __init__(self, settings: MediumSettings | None = None) -> None:
        self.settings = settings or MediumSettings()
        self.stats = MediumStats()
        self._rng = random.Random(self.settings.seed)
        self._t0 = time.monotonic()
        self._listeners: dict[Address, _Listener] = {}
        self._next_free: dict[tuple[Address, int], int] = {}
        self._air: list[_Transmission] = []
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- clock -------------------------------------------------------------------------------

    def now_us(self) -> int:
        return int((time.monotonic() - self._t0) * self.settings.speed * 1_000_000)

    def _wall_delay(self, medium_us: int) -> float:
        return max(0.0, (medium_us - self.now_us()) / 1_000_000 / self.settings.speed)

    # --- asyncio plumbing ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._loop = asyncio.get_running_loop()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            kind = lorawire.datagram_type(data)
            if kind == lorawire.T_HELLO:
                role, name = lorawire.decode_hello(data)
                self._listeners[addr] = _Listener(role, name, time.monotonic())
                self._send(lorawire.encode_welcome(self.now_us(), self.settings.speed), addr)
            elif kind == lorawire.T_BYE:
                self._listeners.pop(addr, None)
            elif kind == lorawire.T_TX:
                listener = self._listeners.get(addr)
                if listener is not None:
                    listener.seen = time.monotonic()  # a radio that transmits is alive
                self._transmit(lorawire.decode_tx(data), addr)
            elif kind == lorawire.T_STATS:
                reply = json.dumps(self.stats.as_dict()).encode()
                self._send(bytes((lorawire.VERSION, lorawire.T_STATS_REPLY)) + reply, addr)
        except lorawire.WireError:
            # A medium must not die of one radio's bad datagram; the sender learns nothing, as on air.
            self.stats.refused["bad_datagram"] = self.stats.refused.get("bad_datagram", 0) + 1

    def _send(self, data: bytes, addr: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    # --- the model -----------------------------------------------------------------------------

    def _refuse(self, req: lorawire.TxRequest, addr: Address, status: int, next_free: int = 0) -> None:
        name = lorawire.TX_STATUS_NAMES[status]
        self.stats.refused[name] = self.stats.refused.get(name, 0) + 1
        result = lorawire.TxResult(req.token, status, start_us=0, airtime_us=0, next_free_us=next_free)
        self._send(lorawire.encode_tx_result(result), addr)

    def _transmit(self, req: lorawire.TxRequest, addr: Address) -> None:
        s = self.settings
        if not (airtime.SF_MIN <= req.sf <= airtime.SF_MAX) or req.bw not in BANDWIDTHS \
                or not 1 <= req.cr <= 4 or len(req.payload) > 255:
            self._refuse(req, addr, lorawire.TX_BAD_PARAMS)
            return
        toa_s = airtime.time_on_air(len(req.payload), req.sf, req.bw, cr=req.cr,
                                    crc=bool(req.flags & lorawire.FLAG_CRC))
        if s.dwell_limit_s is not None and toa_s > s.dwell_limit_s:
            self._refuse(req, addr, lorawire.TX_DWELL)
            return
        now = self.now_us()
        start = now if req.at_us == 0 else req.at_us
        if start < now - s.late_tolerance_us or start > now + MAX_SCHEDULE_AHEAD_US:
            self._refuse(req, addr, lorawire.TX_TOO_LATE)
            return
        key = (addr, req.tx_id)
        free_at = self._next_free.get(key, 0)
        if start < free_at:
            self._refuse(req, addr, lorawire.TX_DUTY_CYCLE, free_at)
            return
        toa_us = round(toa_s * 1_000_000)
        end = start + toa_us
        next_free = end + round(airtime.off_time(toa_s, s.duty_cycle) * 1_000_000)
        self._next_free[key] = next_free
        tx = _Transmission(addr, req.tx_id, req.freq, req.sf, req.bw, req.cr, req.flags, start, end,
                           req.payload)
        self._prune(now)
        for other in self._air:
            if (other.freq == tx.freq and other.sf == tx.sf and other.downlink == tx.downlink
                    and other.start_us < end and start < other.end_us):
                other.collided = True
                tx.collided = True
        self._air.append(tx)
        self.stats.transmissions += 1
        self.stats.airtime_us += toa_us
        result = lorawire.TxResult(req.token, lorawire.TX_OK, start_us=start, airtime_us=toa_us,
                                   next_free_us=next_free)
        self._send(lorawire.encode_tx_result(result), addr)
        assert self._loop is not None
        self._loop.call_later(self._wall_delay(end), self._deliver, tx)

    def _prune(self, now: int) -> None:
        if self._air and self._air[0].end_us < now - HISTORY_US:
            self._air = [t for t in self._air if t.end_us >= now - HISTORY_US]
        cutoff = time.monotonic() - LISTENER_TTL_S
        for addr in [a for a, lst in self._listeners.items() if lst.seen < cutoff]:
            del self._listeners[addr]

    def _deliver(self, tx: _Transmission) -> None:
        if tx.collided:
            self.stats.collided += 1
            return
        hearer = lorawire.ROLE_NODE if tx.downlink else lorawire.ROLE_GATEWAY
        flags = tx.flags
        rx = lorawire.RxFrame(freq=tx.freq, sf=tx.sf, bw=tx.bw, cr=tx.cr, flags=flags,
                              start_us=tx.start_us, end_us=tx.end_us, rssi=-100, snr10=50,
                              payload=tx.payload)
        datagram = lorawire.encode_rx(rx)
        for addr, listener in list(self._listeners.items()):
            if listener.role != hearer or addr == tx.src:
                continue
            if hearer == lorawire.ROLE_GATEWAY and self._was_transmitting(addr, tx):
                self.stats.missed_while_transmitting += 1
                continue
            if self.settings.loss > 0 and self._rng.random() < self.settings.loss:
                self.stats.lost += 1
                continue
            self.stats.delivered += 1
            self._send(datagram, addr)

    def _was_transmitting(self, addr: Address, rx: _Transmission) -> bool:
        return any(t.src == addr and t.start_us < rx.end_us and rx.start_us < t.end_us
                   for t in self._air if t.downlink)


async def serve(settings: MediumSettings, host: str = "127.0.0.1", port: int = 0
                ) -> tuple[asyncio.DatagramTransport, Medium]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Medium(settings), local_addr=(host, port))
    return transport, protocol


class MediumThread:
    """The medium on its own event loop in a daemon thread: for tests, the bench and the demo."""

    def __init__(self, settings: MediumSettings | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.settings = settings or MediumSettings()
        self.host = host
        self.port = port
        self.medium: Medium | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lora-medium", daemon=True)
        self._transport: asyncio.DatagramTransport | None = None

    def start(self) -> MediumThread:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(serve(self.settings, self.host, self.port), self._loop)
        self._transport, self.medium = fut.result(10)
        self.port = int(self._transport.get_extra_info("sockname")[1])
        return self

    def stats(self) -> dict[str, Any]:
        assert self.medium is not None
        medium = self.medium

        async def _read() -> dict[str, Any]:
            return medium.stats.as_dict()

        return asyncio.run_coroutine_threadsafe(_read(), self._loop).result(5)

    def stop(self) -> None:
        transport = self._transport
        if transport is not None:

            async def _close() -> None:
                transport.close()
                await asyncio.sleep(0)  # lets the transport finish closing before the loop stops

            asyncio.run_coroutine_threadsafe(_close(), self._loop).result(5)
            self._transport = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        with contextlib.suppress(RuntimeError):
            self._loop.close()

    def __enter__(self) -> MediumThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
