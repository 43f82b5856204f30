# A non-blocking MQTT 3.1.1 client for asyncio on MicroPython, written for this firmware.
#
# What it guarantees: QoS 1 messages stay in flight until the broker's PUBACK and are re-sent
# (DUP) after every reconnect, as 3.1.1 requires for a persistent session (clean session = 0, so
# the broker also queues our QoS 1 subscriptions while we are away); a Last Will is registered at
# CONNECT; a dead link is noticed within 1.5 keepalive intervals; reconnects back off
# exponentially with jitter so a cabinet of lamps coming back after a power cut does not hammer
# the broker in lockstep.
#
# What it leaves to the caller: what to subscribe and announce after each connect (on_connect),
# and what to do with messages (on_message, called for each PUBLISH; an exception there is logged
# and does not stop dispatch). QoS 2 is not supported; subscribe with QoS <= 1.

import asyncio
import struct
import time

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

BACKOFF_MIN_MS = const(1000)
BACKOFF_MAX_MS = const(120000)
# A connection that lasted this long resets the backoff; shorter ones (accepted, then dropped)
# keep growing it.
STABLE_MS = const(30000)
CONNECT_TIMEOUT_MS = const(15000)
RX_BUF = const(2048)
TX_BUF = const(256)
MAX_INFLIGHT = const(8)


class MQTTError(Exception):
    pass


def _rand(n: int) -> int:
    try:
        import os

        r = os.urandom(2)
        return (r[0] << 8 | r[1]) % n if n > 0 else 0
    except Exception:
        return time.ticks_diff(time.ticks_ms(), 0) % n if n > 0 else 0


def _str(b: bytearray, off: int, s: bytes) -> int:
    struct.pack_into("!H", b, off, len(s))
    b[off + 2 : off + 2 + len(s)] = s
    return off + 2 + len(s)


class MQTTClient:
    def __init__(self, client_id: str, host: str, port: int = 1883, user: "str | None" = None,
                 password: "str | None" = None, keepalive: int = 60, ssl: object = None,
                 clean: bool = False) -> None:
        self.client_id = client_id.encode()
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.ssl = ssl  # None, or an SSLContext (tls.SSLContext on MicroPython)
        self.clean = clean
        self.will: "tuple[bytes, bytes, bool] | None" = None  # (topic, payload, retain)
        self.on_message: object = None  # fn(topic: str, payload: bytes, retained: bool)
        self.on_connect: object = None  # async fn(session_present: bool)
        self.connected = False
        self.connects = 0
        self.drops = 0
        self.last_error = ""
        self._r: "asyncio.StreamReader | None" = None
        self._w: "asyncio.StreamWriter | None" = None
        self._lock = asyncio.Lock()
        self._pid = 0
        self._inflight: "dict[int, tuple[bytes, bytes, bool]]" = {}  # pid -> (topic, payload, retain)
        self._room = asyncio.Event()
        self._up = asyncio.Event()
        self._hdr = bytearray(8)
        self._tx = bytearray(TX_BUF)  # CONNECT and SUBSCRIBE, built under the lock
        self._rx = bytearray(RX_BUF)
        self._one = bytearray(1)
        self._last_rx = time.ticks_ms()
        self._last_tx = time.ticks_ms()
        self._beat: object = None  # fn() called on every loop turn, for the supervisor

    # --- public --------------------------------------------------------------------------------
    def inflight(self) -> int:
        return len(self._inflight)

    async def wait_connected(self) -> None:
        await self._up.wait()

    async def publish(self, topic: "str | bytes", payload: bytes, qos: int = 0, retain: bool = False) -> int:
        """QoS 0: sent now if connected, else dropped (returns 0). QoS 1: kept until PUBACK and
        re-sent after reconnects; waits while MAX_INFLIGHT messages are unacknowledged. Returns
        the packet id."""
        t = topic.encode() if isinstance(topic, str) else topic
        if qos == 0:
            if self.connected:
                await self._send_publish(t, payload, 0, retain, 0, False)
            return 0
        while len(self._inflight) >= MAX_INFLIGHT:
            self._room.clear()
            await self._room.wait()
        pid = self._next_pid()
        self._inflight[pid] = (t, payload, retain)
        if self.connected:
            try:
                await self._send_publish(t, payload, 1, retain, pid, False)
            except OSError:
                self._fail("write failed")
        return pid

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        t = topic.encode()
        pid = self._next_pid()
        n = 2 + 2 + len(t) + 1
        async with self._lock:
            b = self._tx if n + 5 <= TX_BUF else bytearray(n + 5)
            i = self._fixed(b, 0x82, n)
            struct.pack_into("!H", b, i, pid)
            i = _str(b, i + 2, t)
            b[i] = qos
            await self._write(b, i + 1)

    async def disconnect(self) -> None:
        if self.connected:
            async with self._lock:
                self._hdr[0] = 0xE0
                self._hdr[1] = 0
                await self._write(self._hdr, 2)
        self._close()

    async def run(self, beat: object = None) -> None:
        """Keeps the connection up forever (the caller runs this as a task)."""
        self._beat = beat
        delay = BACKOFF_MIN_MS
        while True:
            started = time.ticks_ms()
            try:
                present = await self._connect()
                await self._session(present)
            except Exception as e:  # noqa: BLE001 - socket, protocol, TLS (ValueError): all mean retry later
                if self.connected or not self.last_error:
                    self.last_error = repr(e)
            self._close()
            if time.ticks_diff(time.ticks_ms(), started) > STABLE_MS:
                delay = BACKOFF_MIN_MS
            # Full jitter on the upper half: spreads a fleet's reconnects, never waits < delay/2.
            wait = delay // 2 + _rand(delay // 2 + 1)
            delay = delay * 2 if delay * 2 < BACKOFF_MAX_MS else BACKOFF_MAX_MS
            while wait > 0:
                step = 1000 if wait > 1000 else wait
                await asyncio.sleep_ms(step)
                wait -= step
                if self._beat:
                    self._beat()  # type: ignore[operator]

    # --- connection ----------------------------------------------------------------------------
    async def _connect(self) -> bool:
        if self.ssl is not None:
            self._r, self._w = await asyncio.wait_for_ms(
                asyncio.open_connection(self.host, self.port, ssl=self.ssl, server_hostname=self.host),
                CONNECT_TIMEOUT_MS,
            )
        else:
            self._r, self._w = await asyncio.wait_for_ms(
                asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_MS
            )
        flags = 0x02 if self.clean else 0
        n = 10 + 2 + len(self.client_id)
        wt = b""
        wp = b""
        if self.will:
            wt = self.will[0]
            wp = self.will[1]
            flags |= 0x04 | (1 << 3) | (0x20 if self.will[2] else 0)  # will QoS 1
            n += 2 + len(wt) + 2 + len(wp)
        u = p = b""
        if self.user is not None:
            u = self.user.encode()
            flags |= 0x80
            n += 2 + len(u)
            if self.password is not None:
                p = self.password.encode()
                flags |= 0x40
                n += 2 + len(p)
        b = self._tx if n + 5 <= TX_BUF else bytearray(n + 5)
        i = self._fixed(b, 0x10, n)
        i = _str(b, i, b"MQTT")
        b[i] = 4  # protocol level 3.1.1
        b[i + 1] = flags
        struct.pack_into("!H", b, i + 2, self.keepalive)
        i = _str(b, i + 4, self.client_id)
        if self.will:
            i = _str(b, i, wt)
            i = _str(b, i, wp)
        if flags & 0x80:
            i = _str(b, i, u)
        if flags & 0x40:
            i = _str(b, i, p)
        await self._write(b, i)
        # CONNACK: 0x20 0x02 flags rc
        ack = bytearray(4)
        await asyncio.wait_for_ms(self._readexactly(ack, 4), CONNECT_TIMEOUT_MS)
        if ack[0] != 0x20 or ack[1] != 2:
            raise MQTTError("bad CONNACK")
        if ack[3] != 0:
            raise MQTTError("connection refused, code %d" % ack[3])
        return bool(ack[2] & 1)

    async def _session(self, present: bool) -> None:
        self.connected = True
        self.connects += 1
        now = time.ticks_ms()
        self._last_rx = now
        self._last_tx = now
        pinger = asyncio.create_task(self._pinger())
        # The reader must already run while the connect work waits for PUBACKs.
        starter = asyncio.create_task(self._started(present))
        try:
            while True:
                await self._read_packet()
        finally:
            pinger.cancel()
            starter.cancel()

    async def _started(self, present: bool) -> None:
        try:
            # Re-send what the broker never acknowledged, oldest first.
            for pid in sorted(self._inflight):
                t, payload, retain = self._inflight[pid]
                await self._send_publish(t, payload, 1, retain, pid, True)
            if self.on_connect:
                await self.on_connect(present)  # type: ignore[operator]
            self._up.set()
        except Exception as e:  # noqa: BLE001 - a failed start must end the connection, not hang it
            self._fail("connect work failed: " + repr(e))

    def _fail(self, why: str) -> None:
        print("mqtt:", why)
        self.last_error = why
        self._close()

    def _close(self) -> None:
        if self.connected:
            self.drops += 1
        self.connected = False
        self._up.clear()
        w = self._w
        self._r = self._w = None
        if w is not None:
            try:
                w.close()
            except Exception:
                pass

    async def _pinger(self) -> None:
        ka = self.keepalive * 1000
        while True:
            await asyncio.sleep_ms(1000)
            now = time.ticks_ms()
            if time.ticks_diff(now, self._last_rx) > ka * 3 // 2:
                # The broker would have answered a ping by now: the link is dead even if the
                # socket does not know it yet (NAT timeout, modem detach).
                self._fail("keepalive timeout")
                return
            if time.ticks_diff(now, self._last_tx) >= ka // 2:
                async with self._lock:
                    self._hdr[0] = 0xC0
                    self._hdr[1] = 0
                    try:
                        await self._write(self._hdr, 2)
                    except OSError:
                        self._fail("ping failed")
                        return

    # --- packets -------------------------------------------------------------------------------
    def _next_pid(self) -> int:
        pid = self._pid
        while True:
            pid = pid + 1 if pid < 65535 else 1
            if pid not in self._inflight:
                break
        self._pid = pid
        return pid

    def _buf_for(self, n: int) -> bytearray:
        return self._rx if n <= RX_BUF else bytearray(n)

    @staticmethod
    def _fixed(b: bytearray, kind: int, n: int) -> int:
        b[0] = kind
        i = 1
        while True:
            d = n & 0x7F
            n >>= 7
            b[i] = d | (0x80 if n else 0)
            i += 1
            if not n:
                return i

    async def _write(self, b: bytearray, n: int) -> None:
        w = self._w
        if w is None:
            raise OSError(-1)
        try:
            w.write(memoryview(b)[:n])
            await w.drain()
        except Exception as e:  # noqa: BLE001 - see _broken
            self._broken(e)
        self._last_tx = time.ticks_ms()

    def _broken(self, e: Exception) -> None:
        """A write that failed part-way (MemoryError while buffering the rest of a packet, a socket
        error) leaves half a packet on the wire: the stream is unusable. Drop the connection; QoS 1
        messages stay in flight and go again after the reconnect."""
        self._fail("write failed: " + repr(e))
        raise OSError(-1)

    async def _send_publish(self, t: bytes, payload: bytes, qos: int, retain: bool, pid: int,
                            dup: bool) -> None:
        n = 2 + len(t) + (2 if qos else 0) + len(payload)
        async with self._lock:
            h = self._hdr
            i = self._fixed(h, 0x30 | (8 if dup else 0) | (qos << 1) | (1 if retain else 0), n)
            struct.pack_into("!H", h, i, len(t))
            w = self._w
            if w is None:
                raise OSError(-1)
            # write() is synchronous: the parts of one packet are never interleaved with another.
            try:
                w.write(memoryview(h)[: i + 2])
                w.write(t)
                if qos:
                    struct.pack_into("!H", h, 0, pid)
                    w.write(memoryview(h)[:2])
                w.write(payload)
                await w.drain()
            except Exception as e:  # noqa: BLE001 - see _broken
                self._broken(e)
            self._last_tx = time.ticks_ms()

    async def _readexactly(self, buf: bytearray, n: int) -> None:
        r = self._r
        if r is None:
            raise OSError(-1)
        mv = memoryview(buf)
        got = 0
        while got < n:
            k: "int | None" = await r.readinto(mv[got:n])
            if k is None:
                continue  # a TLS record is not complete yet
            if k == 0:
                raise MQTTError("connection closed by broker")
            got += k

    async def _read_packet(self) -> None:
        one = self._one
        await self._readexactly(one, 1)
        kind = one[0]
        n = 0
        shift = 0
        while True:
            await self._readexactly(one, 1)
            n |= (one[0] & 0x7F) << shift
            if not one[0] & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("bad remaining length")
        b = self._buf_for(n)
        if n:
            await self._readexactly(b, n)
        self._last_rx = time.ticks_ms()
        if self._beat:
            self._beat()  # type: ignore[operator]
        t = kind >> 4
        if t == 3:
            await self._on_publish(kind, b, n)
        elif t == 4:
            pid = b[0] << 8 | b[1]
            if pid in self._inflight:
                del self._inflight[pid]
                self._room.set()
        elif t == 9:
            if n >= 3 and b[2] == 0x80:
                self.last_error = "subscription refused"
        # PINGRESP (13) and UNSUBACK (11) only prove the link is alive.

    async def _on_publish(self, kind: int, b: bytearray, n: int) -> None:
        qos = (kind >> 1) & 3
        tl = b[0] << 8 | b[1]
        topic = bytes(b[2 : 2 + tl]).decode()
        i = 2 + tl
        pid = 0
        if qos:
            pid = b[i] << 8 | b[i + 1]
            i += 2
        payload = bytes(b[i:n])
        if self.on_message:
            try:
                self.on_message(topic, payload, bool(kind & 1))  # type: ignore[operator]
            except Exception as e:  # noqa: BLE001 - one bad message must not stop the client
                self.last_error = "handler: " + repr(e)
        if qos == 1:
            async with self._lock:
                h = self._hdr
                h[0] = 0x40
                h[1] = 2
                h[2] = pid >> 8
                h[3] = pid & 0xFF
                await self._write(h, 4)
