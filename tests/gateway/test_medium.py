"""The simulated LoRa air: time on air, collisions, duty cycle, dwell, loss, class A windows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from firmware.device import airtime, lorawire
from firmware.device.lorawire import UdpRadio
from gateway.medium import MediumSettings, MediumThread

CH0, CH1 = airtime.AS923_2_CHANNELS[:2]
SPEED = 50.0


def frame(devaddr: int, fcnt: int = 1, payload: bytes = b"\x00" * 11) -> bytes:
    return lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_UP, devaddr, fcnt, lorawire.FPORT_CODEC, payload)


@pytest.fixture
def medium() -> Iterator[MediumThread]:
    with MediumThread(MediumSettings(speed=SPEED, seed=1)) as m:
        yield m


@pytest.fixture
def radios(medium: MediumThread) -> Iterator[tuple[UdpRadio, UdpRadio]]:
    gw = UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_GATEWAY, "gw")
    node = UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_NODE, "nodes")
    yield gw, node
    gw.close()
    node.close()


def heard(radio: UdpRadio, wait: float = 0.3) -> list[lorawire.RxFrame]:
    out = []
    while (rx := radio.receive(wait)) is not None:
        out.append(rx)
    return out


def test_frame_reaches_the_gateway_after_its_time_on_air(radios):
    gw, node = radios
    f = frame(0x01)
    result = node.transmit(f, CH0, 10, tx_id=1)
    rx = gw.receive(2.0)
    assert result.ok
    assert result.airtime_us == round(airtime.lorawan_time_on_air(11, 10) * 1e6)
    assert rx is not None
    assert rx.payload == f
    assert (rx.freq, rx.sf) == (CH0, 10)
    assert rx.end_us - rx.start_us == result.airtime_us
    assert gw.now_us() >= rx.end_us


def test_nodes_do_not_hear_each_others_uplinks(radios, medium):
    _gw, node = radios
    other = UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_NODE, "other")
    node.transmit(frame(0x01), CH0, 7, tx_id=1)
    assert heard(other) == []
    other.close()


def test_overlapping_frames_on_one_channel_and_sf_destroy_each_other(radios, medium):
    gw, node = radios
    at = node.now_us() + 200_000
    a = node.transmit(frame(0x01), CH0, 9, tx_id=1, at_us=at)
    b = node.transmit(frame(0x02), CH0, 9, tx_id=2, at_us=at + a.airtime_us // 2)
    assert a.ok and b.ok
    assert heard(gw) == []
    assert medium.stats()["collided"] == 2


@pytest.mark.parametrize(("freq_b", "sf_b"), [(CH1, 9), (CH0, 8)])
def test_overlapping_frames_on_another_channel_or_sf_both_arrive(radios, freq_b, sf_b):
    gw, node = radios
    at = node.now_us() + 200_000
    node.transmit(frame(0x01), CH0, 9, tx_id=1, at_us=at)
    node.transmit(frame(0x02), freq_b, sf_b, tx_id=2, at_us=at + 1000)
    assert sorted(lorawire.parse_phy(rx.payload)[1] for rx in heard(gw)) == [1, 2]


def test_back_to_back_frames_that_do_not_overlap_both_arrive(radios):
    gw, node = radios
    at = node.now_us() + 200_000
    a = node.transmit(frame(0x01), CH0, 9, tx_id=1, at_us=at)
    node.transmit(frame(0x02), CH0, 9, tx_id=2, at_us=a.end_us)
    assert len(heard(gw)) == 2


def test_second_frame_inside_the_duty_cycle_off_time_is_refused(radios):
    _gw, node = radios
    first = node.transmit(frame(0x01), CH0, 10, tx_id=1)
    second = node.transmit(frame(0x01, 2), CH0, 10, tx_id=1)
    assert first.ok
    assert lorawire.TX_STATUS_NAMES[second.status] == "duty_cycle"
    assert first.next_free_us == first.end_us + round(99 * first.airtime_us)
    assert second.next_free_us == first.next_free_us


def test_transmitter_may_send_again_once_its_off_time_has_passed(radios):
    _gw, node = radios
    first = node.transmit(frame(0x01), CH7 := airtime.AS923_2_CHANNELS[7], 7, tx_id=1)
    again = node.transmit(frame(0x01, 2), CH7, 7, tx_id=1, at_us=first.next_free_us)
    assert again.ok


def test_duty_cycle_is_kept_per_transmitter(radios):
    _gw, node = radios
    assert node.transmit(frame(0x01), CH0, 10, tx_id=1).ok
    assert node.transmit(frame(0x02), CH1, 10, tx_id=2).ok


def test_frame_longer_than_the_dwell_limit_is_refused(radios):
    _gw, node = radios
    result = node.transmit(frame(0x01), CH0, 12, tx_id=1)
    assert lorawire.TX_STATUS_NAMES[result.status] == "dwell"


def test_timestamped_transmission_in_the_past_is_refused(radios):
    gw, _node = radios
    result = gw.transmit(frame(0x01), CH0, 7, at_us=max(1, gw.now_us() - 500_000), downlink=True)
    assert lorawire.TX_STATUS_NAMES[result.status] == "too_late"


def test_configured_loss_drops_about_that_share_of_frames():
    # This test is about the loss ratio, not timing: a generous late margin keeps a loaded machine,
    # which sends the 200 timestamped frames slowly, from having them refused as too late.
    settings = MediumSettings(speed=SPEED, loss=0.5, seed=7, duty_cycle=1.0, late_tolerance_us=60_000_000)
    with MediumThread(settings) as m:
        gw = UdpRadio("127.0.0.1", m.port, lorawire.ROLE_GATEWAY, "gw")
        node = UdpRadio("127.0.0.1", m.port, lorawire.ROLE_NODE, "n")
        try:
            at = node.now_us() + 100_000
            for i in range(200):
                r = node.transmit(frame(i), airtime.AS923_2_CHANNELS[i % 8], 7, tx_id=i,
                                  at_us=at + (i // 8) * 70_000)
                assert r.ok
            got = heard(gw, 0.5)
            stats = m.stats()
        finally:
            gw.close()
            node.close()
    assert stats["lost"] + stats["delivered"] == 200
    assert len(got) == stats["delivered"]
    assert 60 <= len(got) <= 140


def test_gateway_is_deaf_to_uplinks_while_it_transmits(radios, medium):
    gw, node = radios
    at = node.now_us() + 200_000
    down = gw.transmit(frame(0x09), CH1, 7, at_us=at, downlink=True)
    node.transmit(frame(0x01), CH0, 7, tx_id=1, at_us=at + down.airtime_us // 2)
    assert down.ok
    assert [rx for rx in heard(gw) if not rx.flags & lorawire.FLAG_IQ_INVERTED] == []
    assert medium.stats()["missed_while_transmitting"] == 1


def test_node_hears_its_downlink_in_rx1(radios):
    gw, node = radios
    up = node.transmit(frame(0x05), CH0, 9, tx_id=5)
    rx = gw.receive(2.0)
    assert rx is not None
    down = lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_DOWN, 0x05, 1, lorawire.FPORT_CODEC, b"\x01")
    sent = gw.transmit(down, rx.freq, rx.sf, at_us=rx.end_us + 1_000_000, downlink=True)
    assert sent.ok
    assert node.class_a_downlink(up, CH0, 9, 0x05) == down


def test_node_ignores_a_downlink_outside_its_receive_windows(radios):
    gw, node = radios
    up = node.transmit(frame(0x05), CH0, 9, tx_id=5)
    rx = gw.receive(2.0)
    assert rx is not None
    down = lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_DOWN, 0x05, 1, lorawire.FPORT_CODEC, b"\x01")
    gw.transmit(down, rx.freq, rx.sf, at_us=rx.end_us + 1_500_000, downlink=True)
    assert node.class_a_downlink(up, CH0, 9, 0x05) is None


def test_bad_datagram_is_counted_and_the_medium_keeps_serving(radios, medium):
    gw, node = radios
    node.sock.sendto(b"\x09garbage", node.addr)
    node.sock.sendto(b"\x01\x02short", node.addr)
    assert node.transmit(frame(0x01), CH0, 7, tx_id=1).ok
    assert gw.receive(2.0) is not None
    assert medium.stats()["refused"]["bad_datagram"] == 2
