from __future__ import annotations

from simulator.journal import Journal


def readings(*seqs: int) -> list[tuple[int, ...]]:
    return [(s, 1_750_000_000 + s) for s in seqs]


def seqs_of(rs: list[tuple[int, ...]]) -> list[int]:
    return [r[0] for r in rs]


def test_ack_trims_everything_up_to_the_watermark() -> None:
    j = Journal(2, resend_after_s=10)
    j.record(0, readings(1, 2, 3), now=0)
    j.ack(0, 2, None, now=1)
    assert seqs_of(j.pending(0)) == [3]
    assert j.stats.acked == 2
    assert j.unacked() == 1


def test_nothing_is_resent_before_the_timeout() -> None:
    j = Journal(1, resend_after_s=10)
    j.record(0, readings(1, 2), now=0)
    assert j.due(now=9.9) == {}


def test_silent_lamp_resends_everything_from_the_watermark() -> None:
    j = Journal(1, resend_after_s=10)
    j.record(0, readings(1, 2, 3), now=0)
    j.ack(0, 1, None, now=2)
    assert seqs_of(j.due(now=12)[0]) == [2, 3]
    assert j.stats.resent == 2


def test_a_lamp_still_sending_is_not_yet_overdue() -> None:
    # Like the firmware: the wait runs from the lamp's last send or ack, not from the oldest reading.
    j = Journal(1, resend_after_s=10)
    j.record(0, readings(1), now=0)
    j.record(0, readings(2), now=8)
    assert j.due(now=12) == {}
    assert seqs_of(j.due(now=18)[0]) == [1, 2]


def test_timeout_doubles_while_the_server_stays_silent() -> None:
    j = Journal(1, resend_after_s=10)
    j.record(0, readings(1), now=0)
    assert 0 in j.due(now=10)
    assert j.due(now=29) == {}  # now waits 20 s
    assert 0 in j.due(now=30)
    assert j.due(now=69) == {}  # then 40 s
    assert 0 in j.due(now=70)


def test_timeout_never_grows_past_its_cap() -> None:
    j = Journal(1, resend_after_s=10, max_resend_after_s=25)
    j.record(0, readings(1), now=0)
    j.due(now=10)
    j.due(now=30)
    assert 0 in j.due(now=55)


def test_any_ack_resets_the_timeout() -> None:
    j = Journal(1, resend_after_s=10)
    j.record(0, readings(1, 2), now=0)
    j.due(now=10)  # the wait is now 20 s
    j.ack(0, 1, None, now=11)
    assert seqs_of(j.due(now=21)[0]) == [2]


def test_server_request_for_a_missing_range_is_answered_at_once() -> None:
    j = Journal(1, resend_after_s=60)
    j.record(0, readings(1, 2, 3, 4, 5), now=0)
    again = j.ack(0, 1, [[3, 4]], now=1)
    assert seqs_of(again) == [3, 4]
    assert j.stats.resent == 2


def test_reconnect_resends_every_unacknowledged_reading() -> None:
    j = Journal(3, resend_after_s=60)
    j.record(0, readings(1, 2), now=0)
    j.record(2, readings(7), now=0)
    j.ack(0, 1, None, now=1)
    everything = j.everything(now=2)
    assert {lamp: seqs_of(rs) for lamp, rs in everything.items()} == {0: [2], 2: [7]}


def test_fully_acknowledged_lamp_no_longer_waits() -> None:
    j = Journal(3, resend_after_s=10)
    j.record(1, readings(7, 8), now=0)
    assert j.waiting_lamps() == 1
    j.ack(1, 8, None, now=1)
    assert j.waiting_lamps() == 0
    assert j.due(now=100) == {}


def test_older_ack_does_not_lower_the_watermark() -> None:
    j = Journal(1, resend_after_s=10)
    j.ack(0, 9, None, now=0)
    j.ack(0, 4, None, now=1)
    assert j.watermark[0] == 9


def test_readings_already_below_the_watermark_are_not_journaled() -> None:
    j = Journal(1, resend_after_s=10)
    j.ack(0, 5, None, now=0)
    j.record(0, readings(4, 5, 6), now=1)
    assert seqs_of(j.pending(0)) == [6]
    assert j.stats.recorded == 1
