"""OTA on MicroPython: download into the inactive slot (resumable), SHA-256 and signature checks,
and the boot selector's trial/rollback rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from firmware.device import bundle
from firmware.tools.signing import Manifest, sign_image
from tests.firmware.conftest import mpy_json
from tests.firmware.imageserver import ImageServer


@pytest.fixture(scope="module")
def fleet_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def images() -> Iterator[ImageServer]:
    srv = ImageServer().start()
    yield srv
    srv.stop()


IMAGE = bundle.pack([("app.mpy", b"M\x06" + bytes(range(256)) * 40), ("version.mpy", b"M\x06v" * 10)])


def pubhex(key: rsa.RSAPrivateKey) -> str:
    return format(key.public_key().public_numbers().n, "x")


def update(tmp: Path, key: rsa.RSAPrivateKey, job: dict[str, Any]) -> Any:
    """Runs the updater on MicroPython against file-system slots; returns (outcome, otadata)."""
    return mpy_json(f'''
import asyncio, json, fsslots, ota, store
slots = fsslots.FileSlots({str(tmp) + "/"!r}, "factory")
u = ota.Updater(slots, {str(tmp) + "/"!r}, int({pubhex(key)!r}, 16), "1.0.0")
u.retry_ms = 20
async def main():
    try:
        await u.update(json.loads({json.dumps(json.dumps(job))}))
        return "staged"
    except ota.OtaError as e:
        return e.code
res = asyncio.run(main())
print(json.dumps([res, store.load({str(tmp / "ota" / "otadata.json")!r})]))
''', timeout=120)


def job_for(m: Manifest, url: str, **override: Any) -> dict[str, Any]:
    return {"id": 42, "op": "ota", "exp": 4000000000, "url": url, "size": m.size, "sha256": m.sha256,
            "sig": m.sig, "ver": m.ver, **override}


def test_good_image_is_accepted_and_staged_on_trial(tmp_path: Path, fleet_key: Any, images: ImageServer) -> None:
    images.files["/fw.bin"] = IMAGE
    m = sign_image(IMAGE, "1.1.0", fleet_key)
    res, otadata = update(tmp_path, fleet_key, job_for(m, images.url + "/fw.bin"))
    assert res == "staged"
    assert otadata == {"boot": "a", "state": "new", "prev": "factory"}
    assert (tmp_path / "ota" / "a.bin").read_bytes()[: len(IMAGE)] == IMAGE


def test_download_resumes_after_the_connection_drops(tmp_path: Path, fleet_key: Any, images: ImageServer) -> None:
    big = bundle.pack([("app.mpy", bytes(range(256)) * 200)])  # 51 kB: several 4 kB blocks
    images.files["/fw.bin"] = big
    images.drop_after, images.drops_left = 9000, 3
    m = sign_image(big, "1.1.0", fleet_key)
    res, _ = update(tmp_path, fleet_key, job_for(m, images.url + "/fw.bin"))
    assert res == "staged"
    assert "bytes=8192-" in images.requests  # resumed from the last whole block, not from zero


def test_bad_signature_is_rejected(tmp_path: Path, fleet_key: Any, images: ImageServer) -> None:
    images.files["/fw.bin"] = IMAGE
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    m = sign_image(IMAGE, "1.1.0", other)  # signed, but not by the fleet
    res, otadata = update(tmp_path, fleet_key, job_for(m, images.url + "/fw.bin"))
    assert (res, otadata) == ("bad_signature", None)


def test_relabelled_version_breaks_the_signature(tmp_path: Path, fleet_key: Any, images: ImageServer) -> None:
    images.files["/fw.bin"] = IMAGE
    m = sign_image(IMAGE, "1.1.0", fleet_key)
    res, _ = update(tmp_path, fleet_key, job_for(m, images.url + "/fw.bin", ver="9.9.9"))
    assert res == "bad_signature"


def test_bad_hash_is_rejected(tmp_path: Path, fleet_key: Any, images: ImageServer) -> None:
    tampered = bytearray(IMAGE)
    tampered[100] ^= 1
    images.files["/fw.bin"] = bytes(tampered)
    m = sign_image(IMAGE, "1.1.0", fleet_key)
    res, otadata = update(tmp_path, fleet_key, job_for(m, images.url + "/fw.bin"))
    assert (res, otadata) == ("hash_mismatch", None)


def test_truncated_download_is_rejected(tmp_path: Path, fleet_key: Any, images: ImageServer) -> None:
    images.files["/fw.bin"] = IMAGE[:-500]  # the server's copy is cut short
    m = sign_image(IMAGE, "1.1.0", fleet_key)
    res, otadata = update(tmp_path, fleet_key, job_for(m, images.url + "/fw.bin"))
    assert (res, otadata) == ("download_failed", None)


def test_unreachable_image_server_fails_the_download(tmp_path: Path, fleet_key: Any) -> None:
    m = sign_image(IMAGE, "1.1.0", fleet_key)
    res, _ = update(tmp_path, fleet_key, job_for(m, "http://127.0.0.1:9/fw.bin"))
    assert res == "download_failed"


def test_same_version_is_not_downloaded(tmp_path: Path, fleet_key: Any, images: ImageServer) -> None:
    m = sign_image(IMAGE, "1.0.0", fleet_key)
    res, _ = update(tmp_path, fleet_key, job_for(m, images.url + "/fw.bin"))
    assert res == "same_version"
    assert images.requests == []


def boot(tmp: Path, factory: Path, then: str = "") -> Any:
    """One boot through the selector; `then` runs as the chosen image (slots available)."""
    return mpy_json(f'''
import json, bootsel, fsslots
run = bootsel.select({str(tmp) + "/"!r}, {str(factory)!r})
slots = fsslots.FileSlots({str(tmp) + "/"!r}, bootsel.SLOT)
pending = slots.pending()
{then}
import store
print(json.dumps([bootsel.SLOT, run.rsplit("/", 1)[-1], pending, store.load({str(tmp / "ota" / "otadata.json")!r})]))
''')


def stage(tmp: Path) -> None:
    (tmp / "ota").mkdir(exist_ok=True)
    (tmp / "ota" / "a.bin").write_bytes(bundle.pack([("app.mpy", b"x"), ("version.mpy", b"y")]))
    (tmp / "ota" / "otadata.json").write_text(json.dumps({"boot": "a", "state": "new", "prev": "factory"}))


def test_staged_image_boots_once_on_trial(tmp_path: Path) -> None:
    stage(tmp_path)
    slot, run, pending, otadata = boot(tmp_path, tmp_path / "factory")
    assert (slot, run, pending) == ("a", "run_a", True)
    assert otadata["state"] == "pending"
    assert sorted(p.name for p in (tmp_path / "ota" / "run_a").iterdir()) == ["app.mpy", "version.mpy"]


def test_image_that_marks_itself_valid_keeps_booting(tmp_path: Path) -> None:
    stage(tmp_path)
    boot(tmp_path, tmp_path / "factory", then="slots.mark_valid()")
    slot, _run, pending, otadata = boot(tmp_path, tmp_path / "factory")
    assert (slot, pending, otadata["state"]) == ("a", False, "valid")


def test_reset_during_trial_rolls_back(tmp_path: Path) -> None:
    stage(tmp_path)
    boot(tmp_path, tmp_path / "factory")  # on trial, then reset without marking itself valid
    slot, run, _pending, otadata = boot(tmp_path, tmp_path / "factory")
    assert (slot, run) == ("factory", "factory")
    assert otadata == {"boot": "factory", "state": "valid", "prev": "a", "rolled_back": "a"}


def test_failed_health_check_rolls_back_explicitly(tmp_path: Path) -> None:
    stage(tmp_path)
    boot(tmp_path, tmp_path / "factory", then="slots.rollback()")
    slot, _run, _pending, otadata = boot(tmp_path, tmp_path / "factory")
    assert slot == "factory"
    assert otadata["rolled_back"] == "a"


def test_signature_check_accepts_fleet_signature_on_cpython_and_micropython(fleet_key: Any) -> None:
    from firmware.device import rsaverify

    m = sign_image(IMAGE, "1.1.0", fleet_key)
    msg = rsaverify.manifest(m.ver, m.size, m.sha256)
    n = fleet_key.public_key().public_numbers().n
    sig = bytes.fromhex(m.sig)
    assert rsaverify.verify(msg, sig, n)
    assert not rsaverify.verify(msg + b"x", sig, n)
    bad = sig[:-1] + b"x"
    out = mpy_json(f"import json, rsaverify\nn = int({format(n, 'x')!r}, 16)\n"
                   f"print(json.dumps([rsaverify.verify({msg!r}, {sig!r}, n), rsaverify.verify({msg!r}, {bad!r}, n)]))")
    assert out == [True, False]
