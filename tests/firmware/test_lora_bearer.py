"""The firmware's LoRa bearer on real MicroPython: the real controller over a scripted radio, so each
test says what the air answers and checks the frames the lamp sent (decoded as a gateway would)."""

from __future__ import annotations

from typing import Any

from tests.firmware.conftest import mpy_json

# MicroPython side: the controller with device.json asking for LoRa, in the snippet's own directory.
PRELUDE = '''
import asyncio, json, time
import airtime, app, codec, hal, hal_sim, lorawire, store

class ScriptedRadio(hal.LoraRadio):
    def __init__(self, h):
        self.h = h
        self.sent = []
        self.at = []
        self.replies = []
        self.auto_ack = None
        self.status = hal.RADIO_OK

    async def exchange(self, frame, freq, sf, out):
        out[hal.R_STATUS] = self.status
        out[hal.R_WAIT_MS] = 1000
        out[hal.R_AIRTIME_US] = 0
        if self.status != hal.RADIO_OK:
            return None
        self.sent.append(bytes(frame))
        self.at.append(self.h.ticks_ms())
        out[hal.R_AIRTIME_US] = int(airtime.time_on_air(len(frame), sf) * 1000000)
        if self.replies:
            return self.replies.pop(0)
        b = self.auto_ack
        if b is not None and frame[0] == lorawire.MTYPE_CONFIRMED_UP:
            # The gateway commits the frame before it answers: its watermark includes what it carried.
            last = b.first + b.count - 1 if b.what in (5, 6) else b.sent
            return down(b, codec.encode_lora_ack(max(last, b.sent)), ack=True)
        return None

def lamp(sf=10, clock=True, speed=1, **lora):
    lora["sf"] = sf
    lora.setdefault("confirm", 1000)
    if speed != 1:
        import os
        os.mkdir("sim")
        store.save("sim/control.json", {"speed": speed})
    h = hal_sim.HalSim("")
    if clock:
        h.rtc.set(int(time.time()))
    h.radio = ScriptedRadio(h)
    ctl = app.Controller(h, {"lamp": "L1", "site": "s1", "broker": "mqtt://127.0.0.1:1", "bearer": "lora",
                             "lora": lora})
    return ctl, ctl.lora, h.radio

def readings(ctl, n, age_s=0):
    for _ in range(n):
        ctl._reading(ctl.now())
        if age_s:
            j = ctl.journal
            seq = j.next_seq - 1
            r = j.read(seq)
            j.next_seq = seq
            j.append(r[1] - age_s, 0, 2200, 0, 0, 0, 0, -32768, r[9], -1)

async def steps(b, n):
    done = 0
    while done < n and b._next():
        await b._exchange()
        done += 1
    return done

def run(n):
    return asyncio.run(steps(B, n))

def frames(radio):
    out = []
    for frame in radio.sent:
        mtype, _a, _c, _f, fport, payload = lorawire.parse_phy(frame)
        out.append([mtype == lorawire.MTYPE_CONFIRMED_UP, fport, payload.hex()])
    return out

def decoded(radio, seq=0, e=0):
    ref = codec.LoraRef(rx=int(time.time()), seq=seq, e=e)
    out = []
    for frame in radio.sent:
        _m, _a, _c, _f, fport, payload = lorawire.parse_phy(frame)
        if fport != lorawire.FPORT_CODEC or not payload:
            out.append(["port", fport])
            continue
        kind, rs, obj = codec.decode_lora(payload, ref)
        ref.update(kind, rs, obj)
        if rs:
            out.append([kind, [r[0] for r in rs], len(payload), rs[0][9]])
        elif kind == codec.KIND_STATE:
            out.append([kind, obj.get("cv")])
        else:
            out.append([kind, dict((k, v) for k, v in obj.items() if k != "ts")])
    return out

def down(b, payload, ack=False, pending=False):
    return lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_DOWN, b.devaddr, 1, lorawire.FPORT_CODEC, payload,
                              ack=ack, pending=pending)

def config(cv, level=100, rules=0):
    cal = [[0, 127, 20260101 + k, 20260101 + k] for k in range(rules)]
    return {"cv": cv, "loc": [-4.55, 136.88], "tz": 540, "prof": [[[1, 0, level, 0], [2, 0, 0, 0]]],
            "cal": cal, "def": 100, "fb": 3600, "ri": 300}

def booted(**kw):
    global CTL, B, R
    CTL, B, R = lamp(**kw)
    run(3)
    R.sent = []
    return CTL, B, R

def show(x):
    print(json.dumps(x))
'''


def lora(body: str, **kw: Any) -> Any:
    return mpy_json(PRELUDE + body, **kw)


def test_after_boot_the_lamp_says_hello_then_sync_then_boot() -> None:
    out = lora("CTL, B, R = lamp()\nrun(5)\nshow([frames(R)[0], decoded(R)[1:]])")
    hello, rest = out
    assert hello == [False, 2, b"L1".hex()]  # FPort 2: the lamp id binds the DevAddr at the gateway
    assert [k for k, _ in rest] == ["event", "event"]
    assert rest[0][1]["ev"] == "sync" and rest[0][1]["seq"] == 0
    assert rest[1][1]["ev"] == "boot" and rest[1][1]["rc"] == "power_on"


def test_hello_is_skipped_when_the_gateway_is_given_the_address() -> None:
    out = lora("CTL, B, R = lamp(hello=False)\nrun(2)\nshow(decoded(R))")
    assert [o[1]["ev"] for o in out] == ["sync", "boot"]


def test_each_reading_goes_as_an_11_byte_frame_at_sf10() -> None:
    out = lora("booted(sf=10)\nreadings(CTL, 3)\nrun(3)\nshow(decoded(R))")
    assert out == [["telemetry", [1], 11, 0], ["telemetry", [2], 11, 0], ["telemetry", [3], 11, 0]]


def test_a_backlog_goes_in_batch_frames_filled_to_the_payload_limit_at_sf7() -> None:
    out = lora("booted(sf=7)\nreadings(CTL, 30)\nrun(2)\nshow(decoded(R))")
    assert [o[1] for o in out] == [list(range(1, 23)), list(range(23, 31))]
    assert [o[2] for o in out] == [14 + 22 * 10, 14 + 8 * 10]  # 234 <= 242 bytes, the SF7 limit


def test_a_backlog_goes_three_readings_a_frame_at_sf9() -> None:
    out = lora("booted(sf=9)\nreadings(CTL, 5)\nrun(2)\nshow(decoded(R))")
    assert [(o[1], o[2]) for o in out] == [([1, 2, 3], 44), ([4, 5], 34)]  # 53 bytes at most


def test_the_lamp_keeps_silent_for_99_times_each_frames_airtime() -> None:
    out = lora("booted(sf=10)\nreadings(CTL, 1)\nt0 = CTL.hal.ticks_ms()\nrun(1)\n"
               "air_ms = int(airtime.time_on_air(len(R.sent[0]), 10) * 1000)\n"
               "show([time.ticks_diff(B.free_at, t0), air_ms])")
    quiet, air_ms = out
    assert 100 * air_ms <= quiet <= 103 * air_ms  # 1 %, and a small margin for clocks that disagree


def test_frames_in_a_running_lamp_are_spaced_by_the_duty_cycle() -> None:
    # 1000x time: 2 s of real time are half an hour of the lamp's, against 37 s of silence per frame.
    out = lora("CTL, B, R = lamp(sf=10, speed=1000)\nreadings(CTL, 200)\n"
               "async def main():\n"
               "    t = asyncio.create_task(B.run(lambda: None))\n"
               "    await asyncio.sleep_ms(2000)\n"
               "    t.cancel()\n"
               "asyncio.run(main())\n"
               "air = [int(airtime.time_on_air(len(f), 10) * 1000) for f in R.sent]\n"
               "gaps = [time.ticks_diff(R.at[k + 1], R.at[k]) for k in range(len(R.at) - 1)]\n"
               "show([air, gaps])")
    air, gaps = out
    assert len(gaps) >= 10
    assert all(gap >= 100 * a for gap, a in zip(gaps, air, strict=False))


def test_an_ack_trims_the_journal_and_the_gap_it_names_goes_first() -> None:
    out = lora("booted()\nreadings(CTL, 4)\n"
               "R.replies = [None, None, None, down(B, codec.encode_lora_ack(2, [[3, 3]]), ack=True)]\n"
               "run(4)\nR.sent = []\nreadings(CTL, 1)\nrun(2)\n"
               "show([CTL.journal.watermark, CTL.journal.pending(), [o[1] for o in decoded(R, 4, 0)]])")
    assert out == [2, 3, [[3], [5]]]


def test_an_ack_below_what_was_sent_without_a_gap_sends_again_from_the_watermark() -> None:
    # After an outage the gateway holds nothing beyond its watermark: the lamp replays from there.
    out = lora("booted()\nreadings(CTL, 3)\n"
               "R.replies = [None, None, down(B, codec.encode_lora_ack(1), ack=True)]\n"
               "run(3)\nR.sent = []\nrun(5)\nshow([o[1] for o in decoded(R, 1, 0)])")
    assert out == [[2], [3]]


def test_every_fourth_uplink_is_confirmed() -> None:
    out = lora("CTL, B, R = lamp(confirm=4)\nR.auto_ack = B\nreadings(CTL, 8)\nrun(11)\n"
               "show([f[0] for f in frames(R)])")
    assert out == [False, False, False, True, False, False, False, True, False, False, False]


def test_unanswered_confirmed_uplinks_are_asked_for_ever_more_rarely() -> None:
    # A gateway out of its own 1 % cannot answer: asking it harder would only make that worse.
    out = lora("CTL, B, R = lamp(confirm=1)\nrun(3)\nR.sent = []\nreadings(CTL, 7)\nrun(7)\n"
               "show([f[0] for f in frames(R)])")
    assert out == [True, False, True, False, False, False, True]  # gaps of 1, 2, 4 uplinks


def test_unanswered_confirmed_uplinks_make_the_lamp_introduce_itself_again() -> None:
    out = lora("CTL, B, R = lamp(confirm=1)\nrun(3)\nR.sent = []\nreadings(CTL, 7)\nrun(9)\n"
               "show([f[1] for f in frames(R)])")
    assert out[:7] == [1] * 7
    assert out[7] == 2  # HELLO after three confirmed uplinks went unanswered


def test_an_answer_brings_the_confirm_cadence_back() -> None:
    out = lora("CTL, B, R = lamp(confirm=1)\nrun(3)\nR.sent = []\nreadings(CTL, 2)\nrun(1)\n"
               "R.auto_ack = B\nrun(1)\nR.sent = []\nreadings(CTL, 2)\nrun(2)\nshow([f[0] for f in frames(R)])")
    assert out == [True, True]


def test_a_command_is_answered_with_a_sync_then_its_outcome() -> None:
    out = lora("booted()\nnow = int(time.time())\n"
               "R.replies = [down(B, codec.encode_lora_cmd({'id': 7, 'op': 'ping', 'exp': now + 60}, now))]\n"
               "B.poll = True\nrun(1)\n"
               "asyncio.run(CTL._command(CTL.cmds.pop(0)))\nR.sent = []\nrun(2)\nshow(decoded(R))")
    sync, outcome = out
    assert sync[1]["ev"] == "sync"
    assert outcome[1]["ev"] == "cmd" and outcome[1]["id"] == 7 and outcome[1]["res"] == "ok"


def test_the_gateway_holding_more_makes_the_lamp_poll_with_an_empty_frame() -> None:
    out = lora("booted()\nreadings(CTL, 1)\nR.replies = [down(B, codec.encode_lora_ack(1), ack=True, pending=True)]\n"
               "run(2)\nshow(frames(R)[1])")
    assert out == [False, None, ""]


def test_a_config_missing_a_fragment_is_not_applied() -> None:
    out = lora("booted()\nfr = codec.encode_config_delta(None, config(5, rules=20))\n"
               "R.replies = [down(B, fr[0], pending=True), down(B, fr[2], pending=True)]\n"
               "B.poll = True\nrun(2)\nshow([len(fr), CTL.cv(), len(B.frags)])")
    n, cv, held = out
    assert n >= 3
    assert cv is None and held == 0


def test_a_config_in_fragments_is_applied_whole_and_its_cv_reported() -> None:
    out = lora("booted()\nfr = codec.encode_config_delta(None, config(5, rules=20))\n"
               "R.replies = [down(B, f, pending=True) for f in fr]\n"
               "B.poll = True\nrun(len(fr))\nR.sent = []\nrun(1)\n"
               "show([CTL.cv(), B.last_delta, decoded(R), store.load('config.json')['cv']])")
    assert out == [5, "full", [["state", 5]], 5]


def test_a_config_delta_changes_the_running_config() -> None:
    out = lora("booted()\nCTL.take_config(codec.check_config(config(1, level=100)))\n"
               "fr = codec.encode_config_delta(config(1, level=100), config(2, level=60))\n"
               "R.replies = [down(B, fr[0])]\nB.poll = True\nrun(1)\n"
               "show([len(fr), CTL.cv(), CTL.cfg['prof'][0][0][2], B.last_delta])")
    assert out == [1, 2, 60, "delta"]


def test_a_delta_for_another_version_is_refused_and_the_running_cv_reported() -> None:
    out = lora("booted()\nCTL.take_config(codec.check_config(config(1)))\n"
               "fr = codec.encode_config_delta(config(5), config(6, level=50))\n"
               "R.replies = [down(B, fr[0])]\nB.poll = True\nrun(1)\nR.sent = []\nrun(1)\n"
               "show([CTL.cv(), decoded(R)])")
    assert out == [1, [["state", 1]]]


def test_readings_too_old_for_an_11_byte_frame_are_reported_dropped_at_sf10() -> None:
    out = lora("booted(sf=10)\nR.auto_ack = B\nreadings(CTL, 2, age_s=7200)\nreadings(CTL, 1)\nrun(2)\n"
               "show([decoded(R), B.too_old])")
    frames, too_old = out
    assert frames[0] == ["event", {"ev": "drop", "from": 1, "to": 2}]
    assert frames[1][:2] == ["telemetry", [3]]
    assert too_old == 2


def test_readings_too_old_for_an_11_byte_frame_go_in_a_batch_frame_at_sf9() -> None:
    out = lora("booted(sf=9)\nreadings(CTL, 1, age_s=7200)\nrun(1)\nshow(decoded(R))")
    assert out[0][:3] == ["telemetry", [1], 24]  # a batch of one carries the full time


def test_flags_a_reading_frame_cannot_carry_are_announced_by_a_fault_alarm_first() -> None:
    out = lora("booted(clock=False)\nR.auto_ack = B\nreadings(CTL, 1)\nrun(2)\nshow(decoded(R))")
    alarm, reading = out
    assert alarm[1]["ev"] == "fault" and alarm[1]["on"] & 256  # no_time, bit 8
    assert reading[:2] == ["telemetry", [1]] and reading[3] & 256  # the gateway rebuilds it


def test_a_refusal_by_the_air_sends_nothing_and_waits() -> None:
    out = lora("booted()\nreadings(CTL, 1)\nR.status = hal.RADIO_BUSY\nfc = B.fcnt\nt0 = CTL.hal.ticks_ms()\n"
               "run(1)\nshow([len(R.sent), B.fcnt - fc, B.refused, time.ticks_diff(B.free_at, t0) >= 1000])")
    assert out == [0, 0, 1, True]
