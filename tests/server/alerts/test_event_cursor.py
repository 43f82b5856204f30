"""The event cursor never skips an id that commits late, and gives up a hole after its grace."""

from __future__ import annotations

from server.alerts.event_cursor import EventCursor


def test_contiguous_ids_move_the_floor() -> None:
    cursor = EventCursor(floor=10)
    cursor.mark([11, 12, 13], now=0)
    assert (cursor.floor, cursor.handled) == (13, set())


def test_a_hole_holds_the_floor_while_later_ids_are_handled() -> None:
    cursor = EventCursor(floor=10, grace_s=60)
    cursor.mark([11, 13, 14], now=0)
    assert (cursor.floor, cursor.handled) == (11, {13, 14})


def test_an_id_committed_late_fills_the_hole() -> None:
    cursor = EventCursor(floor=10, grace_s=60)
    cursor.mark([11, 13], now=0)
    cursor.mark([12], now=5)
    assert (cursor.floor, cursor.handled) == (13, set())


def test_a_hole_is_given_up_after_the_grace_period() -> None:
    cursor = EventCursor(floor=10, grace_s=60)
    cursor.mark([11, 13], now=0)
    cursor.mark([], now=59)
    assert cursor.floor == 11
    cursor.mark([], now=60)
    assert (cursor.floor, cursor.handled) == (13, set())


def test_a_newer_hole_gets_its_own_grace_period() -> None:
    cursor = EventCursor(floor=10, grace_s=60)
    cursor.mark([11, 13], now=0)
    cursor.mark([15], now=30)  # 14 goes missing after the first hole was seen
    cursor.mark([], now=60)  # 12 given up; 14 has waited only 30 s
    assert (cursor.floor, cursor.handled) == (13, {15})
    cursor.mark([], now=120)
    assert (cursor.floor, cursor.handled) == (15, set())


def test_ids_at_or_below_the_floor_are_ignored() -> None:
    cursor = EventCursor(floor=10)
    cursor.mark([9, 10], now=0)
    assert (cursor.floor, cursor.handled) == (10, set())
