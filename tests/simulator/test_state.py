from __future__ import annotations

from pathlib import Path

from simulator.state import LampState, SimState, load, save


def test_state_round_trips_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "sim" / "state.json"
    state = SimState("mimika", sim_ts=1_750_000_000.5,
                     lamps={"L1": LampState(42, 1234.5, 1_750_000_000.0, [[41, 1_749_999_700, 90.1]])})
    save(path, state)
    assert load(path, "mimika") == state


def test_state_of_another_site_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save(path, SimState("mimika"))
    assert load(path, "other") is None


def test_missing_or_torn_state_means_a_fresh_start(tmp_path: Path) -> None:
    assert load(tmp_path / "absent.json", "mimika") is None
    torn = tmp_path / "torn.json"
    torn.write_bytes(b'{"format": 1, "site_id": "mim')
    assert load(torn, "mimika") is None


def test_saving_leaves_no_temporary_file(tmp_path: Path) -> None:
    save(tmp_path / "state.json", SimState("mimika"))
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
