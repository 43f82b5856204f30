"""The per-lamp acknowledgement watermark: the highest seq below which nothing is missing.

A device trims its journal only up to the watermark, so the watermark must never pass a gap:
readings stored above a gap wait in ``pending`` until the gap is filled (or the device reports
that it lost those readings for good), and the ack asks the device to re-send the gaps.
"""

from __future__ import annotations

from collections.abc import Iterable

# Gaps named in one ack message; the device re-sends these first.
MAX_MISSING_RANGES = 8


def advance(ack: int, pending: Iterable[int], stored: Iterable[int]) -> tuple[int, list[int]]:
    """Merges newly stored seqs; returns the new watermark and the seqs still waiting above it."""
    waiting = {s for s in pending if s > ack}
    waiting.update(s for s in stored if s > ack)
    while ack + 1 in waiting:
        ack += 1
        waiting.discard(ack)
    return ack, sorted(waiting)


def skip_lost(ack: int, pending: Iterable[int], first: int, last: int) -> tuple[int, list[int]]:
    """Treats seqs ``first..last`` as settled because the device reported them lost."""
    if last < first or last <= ack:
        return ack, sorted(s for s in pending if s > ack)
    if first <= ack + 1:
        return advance(last, pending, ())
    # A lost range beyond a gap: remember its seqs like stored ones (bounded by the journal size).
    return advance(ack, pending, range(first, last + 1))


def missing_ranges(ack: int, pending: list[int], limit: int = MAX_MISSING_RANGES) -> list[list[int]]:
    """The gaps between the watermark and the highest pending seq, oldest first."""
    ranges: list[list[int]] = []
    expected = ack + 1
    for seq in pending:
        if seq > expected:
            ranges.append([expected, seq - 1])
            if len(ranges) >= limit:
                break
        expected = seq + 1
    return ranges
