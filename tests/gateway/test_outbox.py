"""The disk queue: durability, de-duplication, watermarks, the drop order when full."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.outbox import Item, ItemClass, Outbox


def reading(lamp: str, seq: int) -> Item:
    return Item(lamp, "telemetry", ItemClass.READING, b'{"seq":%d}' % seq, seq)


def event(lamp: str, cls: ItemClass, tag: str = "x") -> Item:
    return Item(lamp, "state" if cls is ItemClass.STATE else "event", cls, tag.encode())


@pytest.fixture
def outbox(tmp_path: Path):
    box = Outbox(tmp_path / "q.sqlite3", max_items=100, sync="normal")
    yield box
    box.close()


def test_readings_survive_closing_and_reopening(tmp_path):
    box = Outbox(tmp_path / "q.sqlite3")
    box.put([reading("L1", s) for s in range(1, 6)])
    box.close()
    again = Outbox(tmp_path / "q.sqlite3")
    assert [s for s, _ in again.readings_after("L1", None, 100)] == [1, 2, 3, 4, 5]
    assert again.depth == 5
    assert again.marks("L1").held_wm == 5
    again.close()


def test_same_reading_twice_is_queued_once(outbox):
    first = outbox.put([reading("L1", 1), reading("L1", 2)])
    again = outbox.put([reading("L1", 2), reading("L1", 1)])
    assert (first.stored, again.stored, again.duplicates) == (2, 0, 2)
    assert outbox.depth == 2


def test_server_ack_trims_only_the_readings_it_covers(outbox):
    outbox.put([reading("L1", s) for s in range(1, 11)] + [reading("L2", 1)])
    assert outbox.server_ack("L1", 7) == 7
    assert [s for s, _ in outbox.readings_after("L1", None, 100)] == [8, 9, 10]
    assert outbox.readings_after("L2", None, 100) != []
    assert outbox.counters()["forwarded_readings"] == 7


def test_reading_the_server_already_has_is_not_queued(outbox):
    outbox.server_ack("L1", 50)
    result = outbox.put([reading("L1", 49), reading("L1", 50), reading("L1", 51)])
    assert (result.stored, result.duplicates) == (1, 2)


def test_held_watermark_of_a_new_lamp_waits_for_its_earlier_readings_like_the_server(outbox):
    outbox.put([reading("L1", 4)])
    assert outbox.marks("L1").held_wm == 0
    assert outbox.missing_above_held("L1") == [[1, 3]]


def test_held_watermark_starts_at_the_server_watermark_when_known(outbox):
    outbox.server_ack("L1", 30)
    outbox.put([reading("L1", 35)])
    assert outbox.marks("L1").held_wm == 30
    assert outbox.missing_above_held("L1") == [[31, 34]]


def test_held_watermark_stops_at_a_gap_and_moves_when_it_is_filled(outbox):
    outbox.put([reading("L1", 1), reading("L1", 2), reading("L1", 4), reading("L1", 7)])
    assert outbox.marks("L1").held_wm == 2
    assert outbox.missing_above_held("L1") == [[3, 3], [5, 6]]
    result = outbox.put([reading("L1", 3)])
    assert "L1" in result.advanced
    assert outbox.marks("L1").held_wm == 4


def test_server_ack_above_the_held_watermark_lifts_it(outbox):
    outbox.put([reading("L1", 1), reading("L1", 5)])
    outbox.server_ack("L1", 4)
    assert outbox.marks("L1").held_wm == 5


@pytest.mark.parametrize(
    ("queued", "arriving", "victim"),
    [
        ([ItemClass.ALARM, ItemClass.STATE, ItemClass.READING, ItemClass.DIAGNOSTIC], ItemClass.ALARM,
         ItemClass.DIAGNOSTIC),
        ([ItemClass.ALARM, ItemClass.STATE, ItemClass.READING], ItemClass.ALARM, ItemClass.READING),
        ([ItemClass.ALARM, ItemClass.STATE], ItemClass.ALARM, ItemClass.STATE),
        ([ItemClass.ALARM], ItemClass.ALARM, ItemClass.ALARM),
        ([ItemClass.ALARM, ItemClass.STATE], ItemClass.DIAGNOSTIC, ItemClass.DIAGNOSTIC),
        ([ItemClass.ALARM, ItemClass.READING], ItemClass.STATE, ItemClass.READING),
    ],
)
def test_full_queue_drops_in_the_documented_order(tmp_path, queued, arriving, victim):
    box = Outbox(tmp_path / "q.sqlite3", max_items=len(queued) * 3, sync="normal")
    seq = 0
    items = []
    for cls in queued:
        for _ in range(3):
            seq += 1
            items.append(reading("L1", seq) if cls is ItemClass.READING else event("L1", cls, str(seq)))
    box.put(items)
    result = box.put([reading("L1", 999) if arriving is ItemClass.READING else event("L1", arriving, "new")])
    assert result.dropped == {victim: 1}
    assert box.depth == len(queued) * 3
    assert box.counters()[f"dropped_{victim.name.lower()}"] == 1
    box.close()


def test_oldest_item_of_the_victim_class_goes_first(tmp_path):
    box = Outbox(tmp_path / "q.sqlite3", max_items=3, sync="normal")
    box.put([event("L1", ItemClass.STATE, "a"), event("L1", ItemClass.STATE, "b"), event("L1", ItemClass.STATE, "c")])
    box.put([event("L1", ItemClass.STATE, "d")])
    assert [body for _, _, _, body in box.others_after(0, 10)] == [b"b", b"c", b"d"]
    box.close()


def test_alarms_are_dropped_only_when_nothing_else_is_left(tmp_path):
    box = Outbox(tmp_path / "q.sqlite3", max_items=10, sync="normal")
    box.put([event("L1", ItemClass.ALARM, f"a{i}") for i in range(5)])
    box.put([reading("L1", s) for s in range(1, 41)])
    assert box.depth_by_class()[ItemClass.ALARM] == 5
    box.put([event("L1", ItemClass.ALARM, f"b{i}") for i in range(10)])
    assert box.depth_by_class() == {c: (10 if c is ItemClass.ALARM else 0) for c in ItemClass}
    assert box.counters()["dropped_reading"] == 40
    assert box.counters()["dropped_alarm"] == 5
    box.close()


def test_dropped_readings_are_reported_as_one_range_per_lamp(tmp_path):
    box = Outbox(tmp_path / "q.sqlite3", max_items=10, sync="normal")
    box.put([reading("L1", s) for s in range(1, 31)])
    assert box.pending_drops() == [("L1", 1, 20)]
    assert box.marks("L1").held_wm == 30
    box.drop_reported("L1", 1, 20)
    assert box.pending_drops() == []
    box.close()


def test_drop_counts_survive_a_restart(tmp_path):
    box = Outbox(tmp_path / "q.sqlite3", max_items=5, sync="normal")
    box.put([reading("L1", s) for s in range(1, 9)])
    box.close()
    again = Outbox(tmp_path / "q.sqlite3", max_items=5, sync="normal")
    assert again.counters()["dropped_reading"] == 3
    assert again.pending_drops() == [("L1", 1, 3)]
    again.close()


def test_other_items_leave_when_removed(outbox):
    outbox.put([event("L1", ItemClass.ALARM, "a"), event("L2", ItemClass.STATE, "b")])
    first_id = outbox.others_after(0, 10)[0][0]
    outbox.remove(first_id)
    assert [body for *_, body in outbox.others_after(0, 10)] == [b"b"]
    assert outbox.depth == 1


def test_lamps_with_readings_come_oldest_first(outbox):
    outbox.put([reading("B", 1)])
    outbox.put([reading("A", 1), reading("B", 2)])
    assert outbox.lamps_with_readings() == ["B", "A"]


def test_downlinks_are_kept_per_lamp_in_order(outbox):
    a = outbox.put_downlink("L1", "cmd", b"1", cmd_id="c1", expires_at=100.0, now=1.0)
    outbox.put_downlink("L2", "cmd", b"2", cmd_id=None, expires_at=100.0, now=1.0)
    outbox.put_downlink("L1", "cmd", b"3", cmd_id="c3", expires_at=100.0, now=2.0)
    assert [d.body for d in outbox.downlinks_for("L1")] == [b"1", b"3"]
    outbox.downlink_done(a, "expired")
    assert [d.body for d in outbox.downlinks_for("L1")] == [b"3"]
    assert outbox.counters()["downlink_expired"] == 1


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gateway.outbox import Item, ItemClass, Outbox
    box = Outbox(Path(sys.argv[1]), sync="full")
    seq = 0
    while True:
        batch = []
        for _ in range(7):
            seq += 1
            batch.append(Item("L1", "telemetry", ItemClass.READING, b"r", seq))
        box.put(batch)
        print(seq, flush=True)   # the acknowledgement: only after put() returned
    """
)


def test_every_acknowledged_reading_survives_sigkill(tmp_path):
    db = tmp_path / "q.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[2])
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        acked = int(line)
        if acked >= 700:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    box = Outbox(db)
    seqs = [s for s, _ in box.readings_after("L1", None, 1_000_000)]
    box.close()
    assert seqs[: acked] == list(range(1, acked + 1))
    assert seqs == list(range(1, len(seqs) + 1))
