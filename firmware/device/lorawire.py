"""The simulated LoRa medium's UDP datagrams, the LoRaWAN-like PHY frame, and a small radio client.

Everything here is specified in ``docs/lora.md``. The module is MicroPython-compatible (no
``__future__``, no typing imports, no f-strings; only ``struct``, ``socket``, ``time``, ``binascii``
and ``json``) so the simulator's lamps, the gateway and the real firmware on the unix port all speak to
the medium through the same code.
"""

import binascii
import json
import socket
import struct
import time

try:
    from firmware.device import airtime  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # on a device the modules sit flat, side by side
    import airtime  # type: ignore[no-redef, import-not-found, unused-ignore]

VERSION = 1

# Datagram types: radio -> medium below 0x80, medium -> radio at 0x80 and above.
T_HELLO = 0x01
T_TX = 0x02
T_STATS = 0x04
T_BYE = 0x05
T_WELCOME = 0x81
T_TX_RESULT = 0x82
T_RX = 0x83
T_STATS_REPLY = 0x84

ROLE_NODE = 1
ROLE_GATEWAY = 2

# TX_RESULT status codes.
TX_OK = 0
TX_DUTY_CYCLE = 1
TX_TOO_LATE = 2
TX_DWELL = 3
TX_BAD_PARAMS = 4
TX_STATUS_NAMES = ("ok", "duty_cycle", "too_late", "dwell", "bad_params")

# Radio flags in TX and RX.
FLAG_CRC = 0x01
FLAG_IQ_INVERTED = 0x02  # downlinks; nodes only hear inverted frames, gateways only plain ones

# LoRaWAN MHDR message types (MType in bits 7..5, Major 0).
MTYPE_UNCONFIRMED_UP = 0x40
MTYPE_UNCONFIRMED_DOWN = 0x60
MTYPE_CONFIRMED_UP = 0x80
MTYPE_CONFIRMED_DOWN = 0xA0
FCTRL_ACK = 0x20
FCTRL_FPENDING = 0x10  # downlinks: the gateway holds more for this device; send an uplink soon

# Application ports carried in FPort.
FPORT_CODEC = 1  # FRMPayload is a LoRa frame of docs/protocol.md (reading, alarm, batch; cmd, ack, config)
FPORT_HELLO = 2  # uplink: FRMPayload is the lamp id in UTF-8; binds DevAddr -> lamp id at the gateway

_HDR = "!BB"
_TX = "!BBHIIBIBBQ"  # version, type, token, tx_id, freq, sf, bw, cr, flags, at_us
_TX_RESULT = "!BBHBQIQ"  # version, type, token, status, start_us, airtime_us, next_free_us
_RX = "!BBIBIBBQQhh"  # version, type, freq, sf, bw, cr, flags, start_us, end_us, rssi, snr x10
_WELCOME = "!BBQI"  # version, type, now_us, speed x1000
_TX_SIZE = struct.calcsize(_TX)
_TX_RESULT_SIZE = struct.calcsize(_TX_RESULT)
_RX_SIZE = struct.calcsize(_RX)
_WELCOME_SIZE = struct.calcsize(_WELCOME)
MAX_DATAGRAM = 512
# Radios repeat HELLO this often; the medium forgets a radio silent for 60 s.
HELLO_EVERY_S = 20


class WireError(ValueError):
    pass


class TxRequest:
    def __init__(self, token: int, tx_id: int, *, freq: int, sf: int, bw: int, cr: int, flags: int,
                 at_us: int, payload: bytes) -> None:
        self.token = token
        self.tx_id = tx_id
        self.freq = freq
        self.sf = sf
        self.bw = bw
        self.cr = cr
        self.flags = flags
        self.at_us = at_us
        self.payload = payload


class TxResult:
    def __init__(self, token: int, status: int, *, start_us: int, airtime_us: int,
                 next_free_us: int) -> None:
        self.token = token
        self.status = status
        self.start_us = start_us
        self.airtime_us = airtime_us
        self.next_free_us = next_free_us

    @property
    def end_us(self) -> int:
        return self.start_us + self.airtime_us

    @property
    def ok(self) -> bool:
        return self.status == TX_OK


class RxFrame:
    def __init__(self, *, freq: int, sf: int, bw: int, cr: int, flags: int, start_us: int, end_us: int,
                 rssi: int, snr10: int, payload: bytes) -> None:
        self.freq = freq
        self.sf = sf
        self.bw = bw
        self.cr = cr
        self.flags = flags
        self.start_us = start_us
        self.end_us = end_us
        self.rssi = rssi
        self.snr10 = snr10
        self.payload = payload


# --- datagrams ---------------------------------------------------------------------------------


def encode_hello(role: int, name: str) -> bytes:
    return struct.pack(_HDR + "B", VERSION, T_HELLO, role) + name.encode()


def encode_welcome(now_us: int, speed: float) -> bytes:
    return struct.pack(_WELCOME, VERSION, T_WELCOME, now_us, int(speed * 1000))


def encode_tx(req: TxRequest) -> bytes:
    return struct.pack(_TX, VERSION, T_TX, req.token, req.tx_id, req.freq, req.sf, req.bw, req.cr,
                       req.flags, req.at_us) + req.payload


def encode_tx_result(res: TxResult) -> bytes:
    return struct.pack(_TX_RESULT, VERSION, T_TX_RESULT, res.token, res.status, res.start_us,
                       res.airtime_us, res.next_free_us)


def encode_rx(rx: RxFrame) -> bytes:
    return struct.pack(_RX, VERSION, T_RX, rx.freq, rx.sf, rx.bw, rx.cr, rx.flags, rx.start_us,
                       rx.end_us, rx.rssi, rx.snr10) + rx.payload


def encode_simple(kind: int) -> bytes:
    return struct.pack(_HDR, VERSION, kind)


def datagram_type(d: bytes) -> int:
    if len(d) < 2 or d[0] != VERSION:
        raise WireError("not a medium datagram of version " + str(VERSION))
    return d[1]


def decode_hello(d: bytes) -> tuple[int, str]:
    if len(d) < 3:
        raise WireError("short HELLO")
    try:
        name = bytes(d[3:]).decode()
    except UnicodeError:
        raise WireError("HELLO name is not UTF-8") from None
    return d[2], name


def decode_welcome(d: bytes) -> tuple[int, float]:
    if len(d) < _WELCOME_SIZE:
        raise WireError("short WELCOME")
    _v, _t, now_us, speed = struct.unpack_from(_WELCOME, d, 0)
    return now_us, speed / 1000


def decode_tx(d: bytes) -> TxRequest:
    if len(d) < _TX_SIZE:
        raise WireError("short TX")
    _v, _t, token, tx_id, freq, sf, bw, cr, flags, at_us = struct.unpack_from(_TX, d, 0)
    return TxRequest(token, tx_id, freq=freq, sf=sf, bw=bw, cr=cr, flags=flags, at_us=at_us,
                     payload=bytes(d[_TX_SIZE:]))


def decode_tx_result(d: bytes) -> TxResult:
    if len(d) < _TX_RESULT_SIZE:
        raise WireError("short TX_RESULT")
    _v, _t, token, status, start_us, airtime_us, next_free_us = struct.unpack_from(_TX_RESULT, d, 0)
    return TxResult(token, status, start_us=start_us, airtime_us=airtime_us, next_free_us=next_free_us)


def decode_rx(d: bytes) -> RxFrame:
    if len(d) < _RX_SIZE:
        raise WireError("short RX")
    _v, _t, freq, sf, bw, cr, flags, start_us, end_us, rssi, snr10 = struct.unpack_from(_RX, d, 0)
    return RxFrame(freq=freq, sf=sf, bw=bw, cr=cr, flags=flags, start_us=start_us, end_us=end_us,
                   rssi=rssi, snr10=snr10, payload=bytes(d[_RX_SIZE:]))


# --- PHY frames --------------------------------------------------------------------------------


def _mic(data: bytes) -> bytes:
    # CRC-32 stands in for LoRaWAN's AES-CMAC MIC: it keeps the 4 bytes on air and catches corruption,
    # but it is not a security measure (docs/lora.md says why that is acceptable in the simulation).
    return struct.pack("<I", binascii.crc32(data) & 0xFFFFFFFF)


def build_phy(mtype: int, devaddr: int, fcnt: int, fport: int | None, payload: bytes = b"", *,
              ack: bool = False, pending: bool = False) -> bytes:
    """A LoRaWAN-shaped PHY payload: MHDR, DevAddr (LE), FCtrl, FCnt (LE, 16 bits), FPort, payload, MIC."""
    fctrl = (FCTRL_ACK if ack else 0) | (FCTRL_FPENDING if pending else 0)
    head = struct.pack("<BIBH", mtype, devaddr & 0xFFFFFFFF, fctrl, fcnt & 0xFFFF)
    if fport is not None:
        head += bytes((fport,))
    body = head + payload
    return body + _mic(body)


def parse_phy(frame: bytes) -> tuple[int, int, int, int, int | None, bytes]:
    """Returns (mtype, devaddr, fctrl, fcnt, fport, payload); WireError on a short frame or bad MIC."""
    if len(frame) < 12:
        raise WireError("PHY frame shorter than 12 bytes")
    body = bytes(frame[:-4])
    if _mic(body) != bytes(frame[-4:]):
        raise WireError("PHY frame MIC mismatch")
    mtype, devaddr, fctrl, fcnt = struct.unpack_from("<BIBH", body, 0)
    if mtype & 0x1F:
        raise WireError("PHY frame has an unknown major version")
    if fctrl & 0x0F:
        raise WireError("PHY frame carries FOpts, which this network does not use")
    if len(body) == 8:
        return mtype & 0xE0, devaddr, fctrl, fcnt, None, b""
    return mtype & 0xE0, devaddr, fctrl, fcnt, body[8], body[9:]


def is_uplink(mtype: int) -> bool:
    return mtype in (MTYPE_UNCONFIRMED_UP, MTYPE_CONFIRMED_UP)


# --- class A receive windows ---------------------------------------------------------------------

# How far (medium time) a downlink's start may be from the window's opening and still be heard.
WINDOW_TOLERANCE_US = 20000


def class_a_close_us(end_us: int, tolerance_us: int = WINDOW_TOLERANCE_US) -> int:
    """When RX2 of an uplink that ended at ``end_us`` has surely closed: the longest RX2 frame has landed."""
    longest = int(airtime.time_on_air(255, airtime.AS923_2_RX2_SF, crc=False) * 1000000)
    return end_us + int(airtime.RECEIVE_DELAY2_S * 1000000) + tolerance_us + longest


def class_a_match(rx: RxFrame, end_us: int, freq: int, sf: int, devaddr: int,
                  tolerance_us: int = WINDOW_TOLERANCE_US) -> bytes | None:
    """The PHY payload of ``rx`` if it is a downlink for ``devaddr`` that started in RX1 (same channel
    and SF, ``end_us`` + 1 s) or RX2 (921.4 MHz SF10, + 2 s) of an uplink that ended at ``end_us``."""
    if not rx.flags & FLAG_IQ_INVERTED:
        return None
    rx1 = end_us + int(airtime.RECEIVE_DELAY1_S * 1000000)
    rx2 = end_us + int(airtime.RECEIVE_DELAY2_S * 1000000)
    in_rx1 = abs(rx.start_us - rx1) <= tolerance_us and rx.freq == freq and rx.sf == sf
    in_rx2 = (abs(rx.start_us - rx2) <= tolerance_us and rx.freq == airtime.AS923_2_RX2_FREQ
              and rx.sf == airtime.AS923_2_RX2_SF)
    if not (in_rx1 or in_rx2):
        return None
    try:
        _m, addr, _c, _f, _p, _pl = parse_phy(rx.payload)
    except WireError:
        return None
    return rx.payload if addr == devaddr else None


# --- the client --------------------------------------------------------------------------------

try:
    _monotonic = time.monotonic  # type: ignore[attr-defined, unused-ignore]
except AttributeError:  # MicroPython

    def _monotonic() -> float:
        return time.time_ns() / 1000000000


class UdpRadio:
    """A blocking client of the medium, small enough for the MicroPython unix port.

    One instance may speak for many transmitters (``tx_id``, the DevAddr for lamps): the medium keeps
    each transmitter's duty cycle separately and delivers every frame heard to this socket.
    """

    def __init__(self, host: str, port: int, role: int = ROLE_NODE, name: str = "") -> None:
        self.addr = socket.getaddrinfo(host, port)[0][-1]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.role = role
        self.name = name
        self.speed = 1.0
        self._base_us = 0
        self._base_wall = 0.0
        self._token = 0
        self._pending: list[RxFrame] = []
        self._hello_at = 0.0
        self.hello()

    def close(self) -> None:
        try:  # noqa: SIM105 - MicroPython has no contextlib
            self.sock.sendto(encode_simple(T_BYE), self.addr)
        except OSError:
            pass
        self.sock.close()

    def now_us(self) -> int:
        """The medium's clock, extrapolated from the last WELCOME."""
        return self._base_us + int((_monotonic() - self._base_wall) * self.speed * 1000000)

    def wall_delay(self, medium_us: int) -> float:
        """Seconds of real time until the medium's clock reads ``medium_us``."""
        return (medium_us - self.now_us()) / 1000000 / self.speed

    def hello(self, timeout: float = 2.0) -> None:
        """Registers as a listener (repeat at least every 30 s) and synchronises the clock."""
        self.sock.sendto(encode_hello(self.role, self.name), self.addr)
        d = self._await(T_WELCOME, -1, timeout)
        now_us, speed = decode_welcome(d)
        self._base_us = now_us
        self._base_wall = _monotonic()
        self._hello_at = self._base_wall
        self.speed = speed

    def transmit(self, payload: bytes, freq: int, sf: int, *, tx_id: int = 0, at_us: int = 0,
                 downlink: bool = False, bw: int = airtime.BW_125K, cr: int = 1,
                 timeout: float = 2.0) -> TxResult:
        if _monotonic() - self._hello_at > HELLO_EVERY_S:
            self.hello(timeout)  # stay registered, so downlinks keep reaching us
        self._token = (self._token + 1) & 0xFFFF
        flags = FLAG_IQ_INVERTED if downlink else FLAG_CRC
        req = TxRequest(self._token, tx_id, freq=freq, sf=sf, bw=bw, cr=cr, flags=flags, at_us=at_us,
                        payload=payload)
        self.sock.sendto(encode_tx(req), self.addr)
        return decode_tx_result(self._await(T_TX_RESULT, self._token, timeout))

    def receive(self, timeout: float) -> RxFrame | None:
        """The next frame heard, or None after ``timeout`` seconds."""
        if self._pending:
            return self._pending.pop(0)
        deadline = _monotonic() + timeout
        while True:
            left = deadline - _monotonic()
            if left <= 0:
                return None
            d = self._recv(left)
            if d is not None and datagram_type(d) == T_RX:
                return decode_rx(d)

    def class_a_downlink(self, result: TxResult, freq: int, sf: int, devaddr: int,
                         tolerance_us: int = WINDOW_TOLERANCE_US) -> bytes | None:
        """After an uplink, listens in RX1 (same channel and SF, +1 s) and RX2 (921.4 MHz SF10, +2 s).

        Returns the PHY payload of a downlink for ``devaddr`` heard in one of the windows, else None.
        """
        close_at = class_a_close_us(result.end_us, tolerance_us)
        while True:
            wait = self.wall_delay(close_at)
            if wait <= 0:
                return None
            rx = self.receive(wait)
            if rx is None:
                return None
            down = class_a_match(rx, result.end_us, freq, sf, devaddr, tolerance_us)
            if down is not None:
                return down

    def poll(self) -> RxFrame | None:
        """The next frame already received, or None at once: for callers with their own event loop
        (the firmware's asyncio), which must not block in ``receive``."""
        while True:
            if self._pending:
                return self._pending.pop(0)
            d = self._recv(0)
            if d is None:
                return None
            try:
                if datagram_type(d) == T_RX:
                    return decode_rx(d)
            except WireError:
                continue

    def stats(self, timeout: float = 2.0) -> dict[str, object]:
        self.sock.sendto(encode_simple(T_STATS), self.addr)
        d = self._await(T_STATS_REPLY, -1, timeout)
        result: dict[str, object] = json.loads(bytes(d[2:]))
        return result

    def _recv(self, timeout: float) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            d, _addr = self.sock.recvfrom(MAX_DATAGRAM)
        except OSError:  # socket.timeout is an OSError on both runtimes
            return None
        return bytes(d)

    def _await(self, kind: int, token: int, timeout: float) -> bytes:
        deadline = _monotonic() + timeout
        while True:
            left = deadline - _monotonic()
            if left <= 0:
                raise OSError("the medium did not answer")
            d = self._recv(left)
            if d is None:
                continue
            try:
                t = datagram_type(d)
            except WireError:
                continue
            if t == T_RX:
                self._pending.append(decode_rx(d))
            elif t == kind and (token < 0 or struct.unpack_from("!H", d, 2)[0] == token):
                return d
