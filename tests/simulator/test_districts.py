from __future__ import annotations

from simulator.districts import DISTRICTS

# Kabupaten Mimika's 18 distrik (see the sources cited in simulator/districts.py).
OFFICIAL = {
    "Mimika Baru", "Kwamki Narama", "Wania", "Iwaka", "Kuala Kencana", "Mimika Timur", "Mimika Timur Jauh",
    "Mimika Tengah", "Mimika Barat", "Amar", "Mimika Barat Tengah", "Mimika Barat Jauh", "Jita", "Agimuga",
    "Jila", "Alama", "Hoya", "Tembagapura",
}


def test_mimika_has_its_eighteen_districts() -> None:
    assert {d.name for d in DISTRICTS} == OFFICIAL
    assert len(DISTRICTS) == 18


def test_district_codes_are_unique_three_letter_ids() -> None:
    codes = [d.code for d in DISTRICTS]
    assert len(set(codes)) == 18
    assert all(len(c) == 3 and c.isalpha() and c.isupper() for c in codes)


def test_districts_lie_within_the_regency() -> None:
    # Mimika spans roughly 134.5-138.5 E and 4.0-5.3 S.
    for d in DISTRICTS:
        assert -5.3 <= d.lat <= -4.0, d
        assert 134.5 <= d.lon <= 138.5, d


def test_timika_holds_the_largest_share_of_lamps() -> None:
    assert max(DISTRICTS, key=lambda d: d.share).name == "Mimika Baru"
