"""The ACL and password files, as text: who is granted what."""

from __future__ import annotations

import pytest

from server.broker import mosquitto_hash
from server.broker.acl import Account, acl_text, grants_for, password_text

LAMP = Account("lamp.s1.L1", "lamp", "s1", "L1")
GATEWAY = Account("gw.s1.G1", "gw", "s1", "G1")
SERVER = Account("terang-server", "service")


def _granted(account: Account, gateway_lamps: dict[tuple[str, str], list[str]] | None = None) -> set[tuple[str, str]]:
    return {(g.access, g.topic) for g in grants_for(account, gateway_lamps or {})}


@pytest.mark.parametrize(("access", "topic", "granted"), [
    ("write", "terang/v1/s1/lamp/L1/telemetry", True),
    ("write", "terang/v1/s1/lamp/L1/event", True),
    ("write", "terang/v1/s1/lamp/L1/state", True),
    ("read", "terang/v1/s1/lamp/L1/cmd", True),
    ("read", "terang/v1/s1/lamp/L1/config", True),
    ("read", "terang/v1/s1/lamp/L1/ack", True),
    ("write", "terang/v1/s1/lamp/L1/cmd", False),
    ("write", "terang/v1/s1/lamp/L1/ack", False),
    ("write", "terang/v1/s1/lamp/L2/telemetry", False),
    ("read", "terang/v1/s1/lamp/L2/cmd", False),
    ("write", "terang/v1/s2/lamp/L1/telemetry", False),
])
def test_lamp_grants(access: str, topic: str, granted: bool) -> None:
    assert ((access, topic) in _granted(LAMP)) is granted


def test_lamp_grants_nothing_with_wildcards() -> None:
    assert not any("+" in t or "#" in t for _, t in _granted(LAMP))


def test_gateway_speaks_for_its_own_lamps_only() -> None:
    grants = _granted(GATEWAY, {("s1", "G1"): ["L7"], ("s1", "G2"): ["L8"]})
    assert ("write", "terang/v1/s1/lamp/L7/telemetry") in grants
    assert ("read", "terang/v1/s1/lamp/L7/cmd") in grants
    assert ("write", "terang/v1/s1/gw/G1/state") in grants
    assert not any("L8" in t for _, t in grants)
    assert not any(a != "read" and t.endswith(("/cmd", "/config", "/ack")) for a, t in grants)


def test_only_the_service_account_may_publish_downlinks_and_read_sys() -> None:
    assert ("readwrite", "terang/v1/#") in _granted(SERVER)
    assert ("read", "$SYS/#") in _granted(SERVER)


def test_acl_file_has_one_user_block_per_account() -> None:
    text = acl_text([LAMP, SERVER], {})
    assert text.count("\nuser ") == 2
    assert "user lamp.s1.L1\ntopic write terang/v1/s1/lamp/L1/telemetry" in text


def test_password_file_lines_verify_like_mosquitto_passwd() -> None:
    digest = mosquitto_hash.hash_password("s3cret")
    assert password_text([("lamp.s1.L1", digest)]) == f"lamp.s1.L1:{digest}\n"
    assert mosquitto_hash.verify(digest, "s3cret") and not mosquitto_hash.verify(digest, "s3creT")


def test_hash_matches_mosquitto_passwd_output() -> None:
    # Written by `mosquitto_passwd -b` 2.0.11 for the password "secret".
    stored = ("$7$101$ts2IruUT1AaC0D7I$Edn0Stx+jeohsbt5uH9iq1A3M0ATNeG170zCrStnU/3cI6vv3uYKWJr0w5AS1cTRy2yFo"
              "I6TAyKOcneRxBQANw==")
    assert mosquitto_hash.verify(stored, "secret")
