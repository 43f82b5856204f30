"""The flash journal, exercised on MicroPython: a ring of checksummed records that survives power
loss, is trimmed only by the server's watermark and counts what it had to drop."""

from __future__ import annotations

from pathlib import Path

from tests.firmware.conftest import mpy_json

APPEND = (
    "def add(j, n):\n"
    "    for k in range(n):\n"
    "        j.append(1700000000 + k, 1000 + k, 2200, 450, 950, 10 * k, 100, 285, 0, 7)\n"
)


def run(tmp: Path, body: str) -> object:
    return mpy_json(f"import json, journal\nP = {str(tmp / 'journal.bin')!r}\n{APPEND}{body}")


def test_journal_numbers_readings_from_one(tmp_path: Path) -> None:
    out = run(tmp_path, "j = journal.Journal(P, 16)\nadd(j, 3)\nprint(json.dumps([j.next_seq, j.pending()]))")
    assert out == [4, 3]


def test_journal_reads_back_the_reading_as_the_codec_tuple(tmp_path: Path) -> None:
    out = run(tmp_path, "j = journal.Journal(P, 16)\nadd(j, 2)\nprint(json.dumps(j.read(2)))")
    assert out == [2, 1700000001, 100.1, 220.0, 0.45, 0.95, 1.0, 100, 28.5, 0, 7]


def test_journal_replays_after_power_loss(tmp_path: Path) -> None:
    run(tmp_path, "j = journal.Journal(P, 16)\nadd(j, 5)\nj.ack(2)\nj.persist(True)\nprint(1)")
    # A new process is a reboot: nothing was closed cleanly.
    out = run(tmp_path, "j = journal.Journal(P, 16)\n"
                        "print(json.dumps([j.next_seq, j.watermark, j.oldest(), j.read(5)[0]]))")
    assert out == [6, 2, 3, 5]


def test_journal_ignores_a_record_torn_by_power_loss(tmp_path: Path) -> None:
    run(tmp_path, "j = journal.Journal(P, 16)\nadd(j, 4)\nprint(1)")
    path = tmp_path / "journal.bin"
    data = bytearray(path.read_bytes())
    rec4 = 16 + 4 * 48
    data[rec4 + 20] ^= 0xFF  # the cut hit the newest record mid-write
    path.write_bytes(bytes(data))
    out = run(tmp_path, "j = journal.Journal(P, 16)\nprint(json.dumps([j.next_seq, j.read(4), j.read(3)[0]]))")
    assert out == [4, [], 3]


def test_journal_is_trimmed_only_up_to_the_watermark(tmp_path: Path) -> None:
    out = run(tmp_path, "j = journal.Journal(P, 16)\nadd(j, 10)\nj.ack(6)\nj.ack(4)\n"
                        "print(json.dumps([j.pending(), j.watermark, j.oldest()]))")
    assert out == [4, 6, 7]


def test_journal_counts_and_names_what_it_dropped_when_full(tmp_path: Path) -> None:
    out = run(tmp_path, "j = journal.Journal(P, 8)\nadd(j, 8)\nj.ack(2)\nadd(j, 5)\n"
                        "print(json.dumps([j.dropped, list(j.lost()), j.oldest(), j.read(3), j.read(6)[0]]))")
    # 13 readings in 8 slots, 2 acknowledged: 3..5 were overwritten before the server had them.
    assert out == [3, [3, 5], 6, [], 6]


def test_journal_overwrites_acknowledged_records_without_counting_a_drop(tmp_path: Path) -> None:
    out = run(tmp_path, "j = journal.Journal(P, 8)\nadd(j, 8)\nj.ack(8)\nadd(j, 8)\n"
                        "print(json.dumps([j.dropped, list(j.lost())]))")
    assert out == [0, [0, 0]]


def test_journal_file_never_grows(tmp_path: Path) -> None:
    run(tmp_path, "j = journal.Journal(P, 8)\nprint(1)")
    size = (tmp_path / "journal.bin").stat().st_size
    run(tmp_path, "j = journal.Journal(P, 8)\nadd(j, 50)\nprint(1)")
    assert (tmp_path / "journal.bin").stat().st_size == size == 16 + 8 * 48


def test_journal_continues_after_a_watermark_from_a_wiped_device(tmp_path: Path) -> None:
    # The server remembers seq 500 for this lamp but the flash was replaced: do not reuse seqs.
    run(tmp_path, "j = journal.Journal(P, 8)\nadd(j, 2)\nj.ack(500)\nprint(1)")
    out = run(tmp_path, "j = journal.Journal(P, 8)\nadd(j, 1)\nprint(json.dumps([j.next_seq, j.pending()]))")
    assert out == [502, 1]


def test_journal_keeps_optional_fields_absent(tmp_path: Path) -> None:
    out = run(tmp_path, "j = journal.Journal(P, 8)\n"
                        "j.append(1700000000, 0, 2200, 0, 0, 0, 0, journal.T_NONE, 0, -1)\n"
                        "r = j.read(1)\nprint(json.dumps([r[8], r[10]]))")
    assert out == [None, None]
