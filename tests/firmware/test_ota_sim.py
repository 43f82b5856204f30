"""OTA end to end: the real firmware downloads a signed bundle built by `terang firmware build`,
boots it on trial, and keeps it only if the new image passes its health check."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from firmware.device import codec
from firmware.tools.build import build
from firmware.tools.signing import Manifest, sign_image
from firmware.tools.simrun import SimLamp
from tests.firmware.conftest import Observer, config, timika, world_control
from tests.firmware.imageserver import ImageServer

NEW = "0.2.0"


@pytest.fixture(scope="module")
def fleet_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory, fleet_key: rsa.RSAPrivateKey) -> tuple[bytes, Manifest]:
    b = build(tmp_path_factory.mktemp("build"), NEW, "sim")
    data = b.bundle_path.read_bytes()
    return data, sign_image(data, NEW, fleet_key)


@pytest.fixture
def images() -> Iterator[ImageServer]:
    srv = ImageServer().start()
    yield srv
    srv.stop()


def ota_lamp(make_lamp: Callable[..., SimLamp], key: rsa.RSAPrivateKey, **control: Any) -> SimLamp:
    return make_lamp("L1", control=world_control(timika(2, 20), 40, **control),
                     ota_key=format(key.public_key().public_numbers().n, "x"), ota_health_s=60)


def send_ota(obs: Observer, cid: int, url: str, m: Manifest, **override: Any) -> None:
    body = {"id": cid, "op": "ota", "exp": int(time.time()) + 86400, "url": url, "size": m.size,
            "sha256": m.sha256, "sig": m.sig, "ver": m.ver, **override}
    obs.publish("L1", codec.KIND_CMD, codec.encode_cmd(body))


def results(obs: Observer, cid: int) -> list[str]:
    return [str(e["res"]) for e in obs.events("L1", "cmd") if e["id"] == cid]


def test_good_image_is_installed_and_reports_its_version(
    make_lamp: Callable[..., SimLamp], observer: Observer, fleet_key: Any, release: Any, images: ImageServer
) -> None:
    data, m = release
    images.files["/fw.bundle"] = data
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    lamp = ota_lamp(make_lamp, fleet_key)
    lamp.wait_status(lambda s: s.get("connected"), 20)
    send_ota(observer, 81, images.url + "/fw.bundle", m)
    observer.wait(lambda: "ok" in results(observer, 81), 40, "ok from the new image")
    assert results(observer, 81) == ["running", "ok"]
    st = lamp.wait_status(lambda s: s.get("fw") == NEW and s.get("trial") is False)
    assert st["slot"] == "a"
    online = [codec.decode_state(p) for p in observer.of("L1", codec.KIND_STATE)]
    assert online[-1]["fw"] == NEW
    assert observer.events("L1", "boot")[-1]["rc"] == "ota"


def test_image_with_a_bad_signature_is_refused(
    make_lamp: Callable[..., SimLamp], observer: Observer, fleet_key: Any, release: Any, images: ImageServer
) -> None:
    data, m = release
    images.files["/fw.bundle"] = data
    lamp = ota_lamp(make_lamp, fleet_key)
    lamp.wait_status(lambda s: s.get("connected"), 20)
    forged = bytearray(bytes.fromhex(m.sig))
    forged[-1] ^= 1
    send_ota(observer, 82, images.url + "/fw.bundle", m, sig=forged.hex())
    observer.wait(lambda: len(results(observer, 82)) == 2, 30, "outcome")
    assert results(observer, 82) == ["running", "bad_signature"]
    assert lamp.status()["fw"] == "0.1.0" and lamp.exits == []


def test_failing_health_check_rolls_back(
    make_lamp: Callable[..., SimLamp], observer: Observer, fleet_key: Any, release: Any, images: ImageServer
) -> None:
    data, m = release
    images.files["/fw.bundle"] = data
    lamp = ota_lamp(make_lamp, fleet_key)
    lamp.wait_status(lambda s: s.get("connected"), 20)
    lamp.control(meter_dead=True)  # the new image will find no sane meter readings
    send_ota(observer, 83, images.url + "/fw.bundle", m)
    observer.wait(lambda: len(results(observer, 83)) == 2, 60, "outcome after the rollback")
    assert results(observer, 83) == ["running", "health_failed"]
    st = lamp.wait_status(lambda s: s.get("slot") == "factory" and s.get("fw") == "0.1.0")
    assert st["trial"] is False
    assert [e["rc"] for e in observer.events("L1", "boot")] == ["power_on", "ota", "rollback"]
