"""The medium's datagrams and the LoRaWAN-shaped PHY frame; the radio client on real MicroPython."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from firmware.device import airtime, lorawire
from firmware.tools.micropython import run as run_micropython
from gateway.medium import MediumSettings, MediumThread

REPO = Path(__file__).resolve().parents[2]


def test_phy_frame_round_trips():
    frame = lorawire.build_phy(lorawire.MTYPE_CONFIRMED_UP, 0x26011F01, 70000, lorawire.FPORT_CODEC, b"\x01\x02")
    assert len(frame) == airtime.LORAWAN_OVERHEAD + 2
    assert lorawire.parse_phy(frame) == (lorawire.MTYPE_CONFIRMED_UP, 0x26011F01, 0, 70000 & 0xFFFF,
                                         lorawire.FPORT_CODEC, b"\x01\x02")


def test_phy_frame_without_port_carries_only_the_header():
    frame = lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_DOWN, 7, 1, None, ack=True, pending=True)
    assert len(frame) == 12
    _m, _a, fctrl, _f, fport, payload = lorawire.parse_phy(frame)
    assert fctrl == lorawire.FCTRL_ACK | lorawire.FCTRL_FPENDING
    assert (fport, payload) == (None, b"")


def test_devaddr_is_little_endian_on_air():
    frame = lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_UP, 0x01020304, 1, 1, b"")
    assert frame[1:5] == b"\x04\x03\x02\x01"


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda f: f[:-1] + bytes([f[-1] ^ 1]), "MIC"),
        (lambda f: f[:5] + b"\x01" + f[6:], "MIC"),
        (lambda f: f[:11], "shorter"),
    ],
)
def test_damaged_phy_frame_is_refused(mangle, message):
    frame = lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_UP, 5, 1, 1, b"abc")
    with pytest.raises(lorawire.WireError, match=message):
        lorawire.parse_phy(mangle(frame))


def test_tx_datagram_round_trips():
    req = lorawire.TxRequest(9, 0x2601, freq=921_400_000, sf=10, bw=125_000, cr=1, flags=lorawire.FLAG_CRC,
                             at_us=123_456_789, payload=b"frame")
    back = lorawire.decode_tx(lorawire.encode_tx(req))
    assert vars(back) == vars(req)


def test_rx_datagram_round_trips():
    rx = lorawire.RxFrame(freq=922_000_000, sf=7, bw=125_000, cr=1, flags=lorawire.FLAG_IQ_INVERTED,
                          start_us=1, end_us=61_697, rssi=-100, snr10=-75, payload=b"\x00" * 24)
    assert vars(lorawire.decode_rx(lorawire.encode_rx(rx))) == vars(rx)


def test_datagram_of_another_version_is_refused():
    with pytest.raises(lorawire.WireError, match="version"):
        lorawire.datagram_type(b"\x02\x01")


def test_lamp_on_micropython_transmits_and_hears_its_rx1_downlink():
    with MediumThread(MediumSettings(speed=10.0)) as medium:
        gw = lorawire.UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_GATEWAY, "gw")
        down = lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_DOWN, 0x0A0B0C0D, 1, lorawire.FPORT_CODEC, b"\xa0ok")
        answered = threading.Event()

        def gateway() -> None:
            rx = gw.receive(30)
            if rx is not None:
                gw.transmit(down, rx.freq, rx.sf, at_us=rx.end_us + 1_000_000, downlink=True)
                answered.set()

        t = threading.Thread(target=gateway, daemon=True)
        t.start()
        out = run_micropython(
            "from firmware.device import lorawire as w\n"
            "import binascii\n"
            f"r = w.UdpRadio('127.0.0.1', {medium.port}, w.ROLE_NODE, 'mp')\n"
            "f = w.build_phy(w.MTYPE_CONFIRMED_UP, 0x0A0B0C0D, 1, w.FPORT_CODEC, b'hello')\n"
            "res = r.transmit(f, 921400000, 7, tx_id=0x0A0B0C0D)\n"
            "print('tx', res.status, res.airtime_us)\n"
            "d = r.class_a_downlink(res, 921400000, 7, 0x0A0B0C0D)\n"
            "print('down', binascii.hexlify(d).decode() if d else None)\n"
            "r.close()\n",
            path=[REPO], timeout=60)
        t.join(10)
        gw.close()
    lines = out.split()
    assert lines[:3] == ["tx", "0", str(round(airtime.lorawan_time_on_air(5, 7) * 1e6))]
    assert answered.is_set()
    assert lines[3:] == ["down", down.hex()]
