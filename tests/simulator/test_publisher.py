from __future__ import annotations

import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl, codec
from simulator.fleet import Fleet
from simulator.publisher import Publisher
from simulator.topology import generate
from tests.support.mqtt import wait_for

START = 1_750_000_000


def fleet_for(site: str, lamps: int = 20) -> Fleet:
    return Fleet(generate(lamps, seed=11, site_id=site), seed=11, start_ts=START)


def send_series(pub: Publisher, fleet: Fleet, count: int) -> None:
    for lamp, readings in fleet.series(count, start_ts=START, interval_s=60).items():
        for r in readings:
            pub.send(lamp, (r,))


def publish_ack(mqtt_url: str, site: str, lamp_id: str, payload: bytes) -> None:
    _, host, port, _, _ = brokerurl.parse(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(host, port)
    client.loop_start()
    client.publish(codec.lamp_topic(site, lamp_id, codec.KIND_ACK), payload, qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_each_lamp_publishes_its_readings_in_sequence_on_its_topic(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=False)
    fleet = fleet_for(sim_site)
    with Publisher(mqtt_url, sim_site, fleet.topology.lamps.ids) as pub:
        send_series(pub, fleet, 5)
        wait_for(lambda: ingest.total() == 100, timeout=15, what="100 readings")
    for lamp_id in fleet.topology.lamps.ids:
        assert ingest.seqs(lamp_id) == [1, 2, 3, 4, 5]


def test_acknowledged_readings_leave_the_journal(mqtt_url, sim_site, fake_ingest) -> None:
    fake_ingest(ack=True)
    fleet = fleet_for(sim_site)
    with Publisher(mqtt_url, sim_site, fleet.topology.lamps.ids) as pub:
        send_series(pub, fleet, 3)
        assert pub.wait_acked(15)
        stats = pub.stats()
    assert (stats.readings, stats.acked, stats.resent, stats.unacked) == (60, 60, 0, 0)
    assert pub.watermark(0) == 3


def test_unacknowledged_readings_are_sent_again_after_the_timeout(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=False)
    fleet = fleet_for(sim_site, lamps=3)
    with Publisher(mqtt_url, sim_site, fleet.topology.lamps.ids, resend_after_s=0.3) as pub:
        send_series(pub, fleet, 2)
        assert not pub.wait_acked(1.0)
        stats = pub.stats()
    assert stats.resent >= 6
    assert stats.unacked == 6
    wait_for(lambda: ingest.total() >= 12, timeout=10, what="re-sent readings")
    assert set(ingest.seqs(fleet.topology.lamps.ids[0])) == {1, 2}


def test_several_readings_of_one_lamp_go_as_one_batch_message(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=True)
    fleet = fleet_for(sim_site, lamps=1)
    with Publisher(mqtt_url, sim_site, fleet.topology.lamps.ids) as pub:
        pub.send(0, fleet.series(5, start_ts=START, interval_s=60)[0])
        assert pub.wait_acked(10)
        assert pub.stats().messages == 1
    assert ingest.messages == 1
    assert ingest.seqs(fleet.topology.lamps.ids[0]) == [1, 2, 3, 4, 5]


def test_retained_watermark_is_known_before_publishing_starts(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=False)
    fleet = fleet_for(sim_site, lamps=2)
    lamp_id = fleet.topology.lamps.ids[1]
    publish_ack(mqtt_url, sim_site, lamp_id, codec.encode_ack(41))
    ingest.retained_topics.add(codec.lamp_topic(sim_site, lamp_id, codec.KIND_ACK))  # cleared at teardown
    with Publisher(mqtt_url, sim_site, fleet.topology.lamps.ids) as pub:
        assert pub.watermark(1) == 41
        assert pub.watermark(0) is None


def test_range_the_server_asks_for_is_sent_again_at_once(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=False)
    fleet = fleet_for(sim_site, lamps=1)
    lamp_id = fleet.topology.lamps.ids[0]
    ingest.retained_topics.add(codec.lamp_topic(sim_site, lamp_id, codec.KIND_ACK))
    with Publisher(mqtt_url, sim_site, [lamp_id], resend_after_s=60) as pub:
        for r in fleet.series(5, start_ts=START, interval_s=60)[0]:
            pub.send(0, (r,))
        wait_for(lambda: ingest.total() == 5, timeout=10, what="first sends")
        publish_ack(mqtt_url, sim_site, lamp_id, codec.encode_ack(2, [[4, 5]]))
        deadline = time.monotonic() + 10
        while pub.stats().resent < 2 and time.monotonic() < deadline:
            pub.pump()
            time.sleep(0.02)
        wait_for(lambda: ingest.total() == 7, timeout=10, what="requested range")
    assert sorted(ingest.seqs(lamp_id)) == [1, 2, 3, 4, 4, 5, 5]
    assert pub.stats().unacked == 3


def test_everything_unacknowledged_is_sent_again_after_a_reconnect(tmp_path, sim_site) -> None:
    from server.embedded.broker import MosquittoBroker
    from tests.simulator.fake_ingest import FakeIngest

    broker = MosquittoBroker(tmp_path / "broker").start()
    ingest = FakeIngest(broker.url, sim_site, f"fake-ingest-{sim_site}", ack=False)
    fleet = fleet_for(sim_site, lamps=4)
    try:
        with Publisher(broker.url, sim_site, fleet.topology.lamps.ids, resend_after_s=600) as pub:
            send_series(pub, fleet, 3)
            wait_for(lambda: ingest.total() == 12, timeout=10, what="first sends")
            broker.restart()

            def resent_after_reconnect() -> int:
                pub.pump()
                return pub.stats().resent

            assert wait_for(resent_after_reconnect, timeout=15, what="reconnect and re-send") == 12
            wait_for(lambda: ingest.total() >= 24, timeout=15, what="re-sent readings")
    finally:
        ingest.close()
        broker.stop()


def test_more_readings_than_a_batch_holds_go_as_several_messages(mqtt_url, sim_site, fake_ingest) -> None:
    ingest = fake_ingest(ack=True)
    fleet = fleet_for(sim_site, lamps=1)
    with Publisher(mqtt_url, sim_site, fleet.topology.lamps.ids) as pub:
        pub.send(0, fleet.series(600, start_ts=START, interval_s=60)[0])
        assert pub.wait_acked(15)
        assert pub.stats().messages == 2  # 500 + 100: the protocol's batch cap
    assert ingest.seqs(fleet.topology.lamps.ids[0]) == list(range(1, 601))
