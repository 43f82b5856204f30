"""The ack watermark never passes a gap."""

from __future__ import annotations

import pytest

from server.ingest.watermark import advance, missing_ranges, skip_lost


@pytest.mark.parametrize(
    ("ack", "pending", "stored", "expected"),
    [
        (0, [], [1, 2], (2, [])),
        (2, [], [3], (3, [])),
        (2, [], [5, 6], (2, [5, 6])),
        (2, [5, 6], [3, 4], (6, [])),
        (2, [5, 6], [4], (2, [4, 5, 6])),
        (2, [], [1, 2], (2, [])),
        (10, [12], [12, 12], (10, [12])),
    ],
    ids=["contiguous", "next", "gap", "gap-filled", "gap-half-filled", "old-replay", "duplicate"],
)
def test_advance(ack: int, pending: list[int], stored: list[int], expected: tuple[int, list[int]]) -> None:
    assert advance(ack, pending, stored) == expected


def test_missing_ranges_names_each_gap_oldest_first() -> None:
    assert missing_ranges(2, [5, 6, 9]) == [[3, 4], [7, 8]]


def test_missing_ranges_is_bounded() -> None:
    assert len(missing_ranges(0, list(range(2, 100, 2)), limit=3)) == 3


def test_lost_range_at_the_frontier_moves_the_watermark_through_pending() -> None:
    assert skip_lost(2, [8, 9], 3, 7) == (9, [])


def test_lost_range_beyond_a_gap_waits_for_the_gap() -> None:
    assert skip_lost(2, [], 5, 6) == (2, [5, 6])
