"""Uplinks through the gateway reach the real server exactly once."""

from __future__ import annotations

from tests.gateway.support import GatewayThread, LocalLamps, gateway_config, stored
from tests.support.mqtt import wait_for


def test_local_lamp_readings_are_stored_exactly_once(gw_dir, gw_site, central_broker, local_broker, centre,
                                                      register_lamps, database_url, run_tag):
    lamps = register_lamps(5)
    cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}a", site=gw_site, central=central_broker.url,
                         local=local_broker.url)
    with GatewayThread(cfg) as gw:
        pub = LocalLamps(local_broker.url, gw_site, f"lamps-{run_tag}-a")
        for lamp in lamps:
            pub.publish(lamp, range(1, 11))
            for s in range(11, 21):
                pub.publish(lamp, [s])
        pub.close()
        want = dict.fromkeys(lamps, (20, 20))
        wait_for(lambda: stored(database_url, lamps) == want, timeout=30, what="20 readings per lamp stored")
        wait_for(lambda: gw.call(lambda: gw.gateway.outbox.depth) == 0, timeout=10, what="queue drained")
