"""The real firmware on the MicroPython unix port (simulation HAL) against a real broker.

Time runs `speed` times faster in the simulated world (device time and world clock alike), so a
10-second report interval is a reading every half second of test time. The broker-side behaviour
of the server (acknowledging readings) is played by FakeServer; tests/firmware/test_with_server.py
repeats the storage checks against the real server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from firmware.device import codec
from firmware.tools.simrun import SimLamp
from tests.firmware.conftest import FakeServer, Observer, config, timika, world_control

SPEED = 20


def night_lamp(make_lamp: Callable[..., SimLamp], lamp_id: str = "L1", speed: int = SPEED, **kw: Any) -> SimLamp:
    return make_lamp(lamp_id, control=world_control(timika(2, 20), speed, **kw.pop("control", {})), **kw)


def seqs(obs: Observer, lamp: str) -> list[int]:
    return sorted({r[0] for r in obs.readings(lamp)})


def test_firmware_boots_connects_and_publishes_readings(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(3), retain=True)
    night_lamp(make_lamp)
    observer.wait(lambda: len(observer.readings("L1")) >= 3, 20, "three readings")
    states = [codec.decode_state(p) for p in observer.of("L1", codec.KIND_STATE)]
    assert states[0]["st"] == "online" and states[0]["fw"] == "0.1.0"
    boot = observer.events("L1", "boot")[0]
    assert boot["rc"] == "power_on"
    r = observer.readings("L1")[-1]
    _seq, _ts, p, v, _i, pf, _e, dim, _t, flags, cv = r
    assert seqs(observer, "L1")[:3] == [1, 2, 3]
    assert dim == 100 and cv == 3
    assert 95 <= p <= 125 and 210 <= v <= 230 and pf > 0.9  # a 100 W LED lamp at full power
    assert codec.flag_names(flags) == []


def cmd(obs: Observer, lamp: str, cid: int, op: str, **fields: Any) -> None:
    body = {"id": cid, "op": op, "exp": int(time.time()) + 30 * 86400, **fields}
    obs.publish(lamp, codec.KIND_CMD, codec.encode_cmd(body))


def outcome(obs: Observer, lamp: str, cid: int, timeout: float = 15) -> Any:
    return obs.wait(lambda: next((e for e in obs.events(lamp, "cmd") if e["id"] == cid), None), timeout,
                    f"outcome of command {cid}")


def test_new_config_version_takes_effect_and_is_reported_as_cv(make_lamp: Callable[..., SimLamp],
                                                                observer: Observer) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(5), retain=True)
    lamp = night_lamp(make_lamp)
    observer.wait(lambda: any(r[10] == 5 and r[7] == 100 for r in observer.readings("L1")), 20, "cv 5 at 100 %")
    dimmed = [[[codec.ANCHOR_SUNSET, 0, 40, 0], [codec.ANCHOR_SUNRISE, 0, 0, 0]]]
    observer.publish("L1", codec.KIND_CONFIG, config(6, prof=dimmed), retain=True)
    observer.wait(lambda: any(r[10] == 6 and r[7] == 40 for r in observer.readings("L1")), 20, "cv 6 at 40 %")
    lamp.wait_status(lambda s: s["cv"] == 6 and s["out"] == 4000)  # what the driver is actually given


def test_operator_override_holds_until_its_expiry(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    lamp = night_lamp(make_lamp, speed=40)
    lamp.wait_status(lambda s: s.get("connected") and s.get("level") == 100)
    until = int(lamp.world()) + 60  # a minute of the lamp's time: 1.5 seconds of ours
    cmd(observer, "L1", 11, "level", lvl=30, until=until)
    assert outcome(observer, "L1", 11)["res"] == "ok"
    st = lamp.wait_status(lambda s: s["level"] == 30, 10)
    assert st["world"] < until
    st = lamp.wait_status(lambda s: s["level"] == 100, 20)
    assert st["world"] >= until
    overridden = [r for r in observer.readings("L1") if r[7] == 30]
    assert overridden and all(r[9] & codec.F_OVERRIDE for r in overridden)
    assert all(r[1] <= until + 10 for r in overridden)


def test_resume_cancels_an_override(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    lamp = night_lamp(make_lamp)
    lamp.wait_status(lambda s: s.get("connected") and s.get("level") == 100)
    cmd(observer, "L1", 21, "level", lvl=10, until=int(lamp.world()) + 86400)
    lamp.wait_status(lambda s: s["level"] == 10)
    cmd(observer, "L1", 22, "resume")
    assert outcome(observer, "L1", 22)["res"] == "ok"
    lamp.wait_status(lambda s: s["level"] == 100)


def test_commands_are_answered_with_outcomes(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    lamp = night_lamp(make_lamp)
    lamp.wait_status(lambda s: s.get("connected"))
    cmd(observer, "L1", 31, "ping")
    cmd(observer, "L1", 32, "identify", s=5)
    observer.publish("L1", codec.KIND_CMD, codec.encode_cmd(
        {"id": 33, "op": "ping", "exp": codec.TS_MIN + 1}))  # expired long ago
    cmd(observer, "L1", 34, "ota", url="http://127.0.0.1:9/x", size=10, sha256="0" * 64, sig="00", ver="9.9.9")
    ping = outcome(observer, "L1", 31)
    assert ping["res"] == "ok" and abs(ping["now"] - lamp.world()) < 60
    assert outcome(observer, "L1", 32)["res"] == "ok"
    assert outcome(observer, "L1", 33)["res"] == "expired"
    assert outcome(observer, "L1", 34)["res"] == "unsupported"  # not provisioned with a fleet key


def test_duplicate_command_is_executed_once(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    lamp = night_lamp(make_lamp)
    lamp.wait_status(lambda s: s.get("connected"))
    cmd(observer, "L1", 41, "ping")
    cmd(observer, "L1", 41, "ping")  # a QoS 1 redelivery
    outcome(observer, "L1", 41)
    time.sleep(1.0)
    assert len([e for e in observer.events("L1", "cmd") if e["id"] == 41]) == 1


def test_time_command_sets_the_clock(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    lamp = night_lamp(make_lamp, control={"ntp": False, "rtc_battery": False})
    lamp.wait_status(lambda s: s.get("connected") and s["rtc"] == -1)
    now = int(lamp.world())
    cmd(observer, "L1", 51, "time", now=now)
    assert outcome(observer, "L1", 51)["res"] == "ok"
    st = lamp.wait_status(lambda s: s["rtc"] > 0)
    assert abs(st["rtc"] - st["world"]) <= 5 * SPEED


def test_reboot_command_restarts_the_controller(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    lamp = night_lamp(make_lamp)
    lamp.wait_status(lambda s: s.get("connected"))
    cmd(observer, "L1", 61, "reboot")
    assert outcome(observer, "L1", 61)["res"] == "ok"
    observer.wait(lambda: len(observer.events("L1", "boot")) >= 2, 20, "second boot")
    assert [e["rc"] for e in observer.events("L1", "boot")] == ["power_on", "soft"]
    assert lamp.exits[:1] == [3]


def test_no_server_contact_beyond_the_timeout_gives_the_default_level(
    make_lamp: Callable[..., SimLamp], observer: Observer
) -> None:
    dimmed = [[[codec.ANCHOR_SUNSET, 0, 40, 0], [codec.ANCHOR_SUNRISE, 0, 0, 0]]]
    observer.publish("L1", codec.KIND_CONFIG, config(2, prof=dimmed, fb=60, default=90), retain=True)
    lamp = night_lamp(make_lamp, speed=60)
    # The retained config is the broker speaking, not the server: only live messages count as contact.
    server = FakeServer(observer, "L1").start()
    try:
        st = lamp.wait_status(lambda s: s.get("level") == 40 and s.get("wm", 0) > 0, 20)
        server.enabled = False
        silent_from = lamp.world()
        st = lamp.wait_status(lambda s: s["level"] == 90, 30)
        # Not before the timeout: contact ended at most one report (10 s) before silent_from, and the
        # status file may lag by ~0.4 s of our time (24 s of the lamp's).
        assert st["world"] - silent_from >= 60 - 10 - 24
        assert st["flags"] & codec.F_FALLBACK
        server.enabled = True
        cmd(observer, "L1", 71, "ping")  # the server is back
        lamp.wait_status(lambda s: s["level"] == 40 and not s["flags"] & codec.F_FALLBACK, 20)
    finally:
        server.stop()


def test_without_valid_time_the_photocell_decides(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    # A power cut without RTC backup and no time server: the lamp cannot know it is night.
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    lamp = night_lamp(make_lamp, control={"ntp": False, "rtc_battery": False, "lux": 2})
    st = lamp.wait_status(lambda s: s.get("level") == 100 and s.get("connected"), 20)
    assert st["rtc"] == -1
    assert st["flags"] & codec.F_NO_TIME and st["flags"] & codec.F_PHOTOCELL
    lamp.control(lux=20000)
    lamp.wait_status(lambda s: s["level"] == 0 and s["relay"] is False, 20)
    lamp.control(lux=3)
    lamp.wait_status(lambda s: s["level"] == 100, 20)
    observer.wait(lambda: observer.readings("L1"), 20, "a reading")
    assert all(r[9] & codec.F_NO_TIME for r in observer.readings("L1"))


def test_without_valid_time_or_photocell_the_lamp_is_full_on(make_lamp: Callable[..., SimLamp],
                                                             observer: Observer) -> None:
    lamp = make_lamp(control=world_control(timika(2, 12), SPEED, ntp=False, rtc_battery=False, photocell=False))
    st = lamp.wait_status(lambda s: s.get("level") == 100 and "why" in s, 20)
    assert st["why"] == "no_time"


def test_dead_lamp_raises_a_fault_event_and_flag(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    lamp = night_lamp(make_lamp, speed=60)
    lamp.wait_status(lambda s: s.get("level") == 100 and s.get("connected"))
    lamp.control(lamp_failed=True)
    ev = observer.wait(lambda: [e for e in observer.events("L1", "fault") if e["on"] & codec.F_LAMP_FAILURE],
                       30, "lamp failure event")[0]
    assert ev["f"] & codec.F_LAMP_FAILURE
    observer.wait(lambda: any(r[9] & codec.F_LAMP_FAILURE for r in observer.readings("L1")), 20, "flagged reading")
    lamp.control(lamp_failed=False)  # the crew replaced the LED module
    observer.wait(lambda: [e for e in observer.events("L1", "fault") if e["off"] & codec.F_LAMP_FAILURE],
                  30, "fault cleared")


def test_mains_over_voltage_is_flagged(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    lamp = night_lamp(make_lamp, speed=60, control={"mains_v": 255.0})
    observer.wait(lambda: [e for e in observer.events("L1", "fault") if e["on"] & codec.F_OVER_VOLTAGE],
                  30, "over-voltage event")
    lamp.wait_status(lambda s: s["faults"] & codec.F_OVER_VOLTAGE)


def test_mains_loss_sends_a_last_gasp(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    lamp = night_lamp(make_lamp)
    lamp.wait_status(lambda s: s.get("connected"))
    lamp.control(mains_v=0.0)  # the cabinet's breaker tripped
    gasp = observer.wait(lambda: observer.events("L1", "gasp"), 15, "last gasp")[0]
    assert gasp["e"] >= 0


def test_hung_firmware_is_reset_by_the_watchdog(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    lamp = night_lamp(make_lamp, wdt_ms=1500)
    lamp.wait_status(lambda s: s.get("connected"))
    lamp.control(hang=1)  # the event loop stops: no task runs, nothing feeds the watchdog
    observer.wait(lambda: len(observer.events("L1", "boot")) >= 2, 20, "a second boot")
    assert observer.events("L1", "boot")[-1]["rc"] == "wdt"
    assert lamp.exits == [-9]


def test_boot_loop_enters_safe_mode_and_leaves_it_once_healthy(
    make_lamp: Callable[..., SimLamp], observer: Observer
) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    lamp = night_lamp(make_lamp, control={"crash_boots": 3})
    st = lamp.wait_status(lambda s: s.get("connected"), 30)
    assert st["safe"] is True and st["flags"] & codec.F_SAFE_MODE
    assert lamp.exits == [1, 1, 1]
    assert observer.events("L1", "boot")[0]["rc"] == "safe_mode"
    assert st["level"] == 100  # still lighting the street: fallback rules, built-in defaults
    lamp.kill()  # next power cycle: the safe boot proved itself, so this boot is normal
    lamp.wait_status(lambda s: s.get("connected") and s.get("safe") is False and s.get("cv") == 1, 30)


def test_config_command_confirms_the_version_in_effect(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    lamp = night_lamp(make_lamp)
    lamp.wait_status(lambda s: s.get("connected"))
    observer.publish("L1", codec.KIND_CONFIG, config(4), retain=True)
    cmd(observer, "L1", 91, "config", cv=4)
    cmd(observer, "L1", 92, "config", cv=9)  # a version the broker does not hold
    assert outcome(observer, "L1", 91)["res"] == "ok"
    assert outcome(observer, "L1", 92)["res"] == "failed"


def test_older_config_version_is_ignored(make_lamp: Callable[..., SimLamp], observer: Observer) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(7), retain=True)
    lamp = night_lamp(make_lamp)
    lamp.wait_status(lambda s: s.get("cv") == 7)
    dimmed = [[[codec.ANCHOR_SUNSET, 0, 10, 0], [codec.ANCHOR_SUNRISE, 0, 0, 0]]]
    observer.publish("L1", codec.KIND_CONFIG, config(6, prof=dimmed), retain=True)
    time.sleep(1.0)
    st = lamp.wait_status(lambda s: s.get("connected"))
    assert st["cv"] == 7 and st["level"] == 100
