"""MQTT over TLS when the device config says mqtts://: the broker's certificate is checked against
the CA provisioned into device.json."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firmware.device import codec
from firmware.tools.simrun import SimLamp
from server.embedded.broker import MosquittoBroker
from server.embedded.ports import free_port
from tests.firmware.conftest import Observer, timika, world_control


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(d: Path) -> tuple[bytes, bytes]:
    """(CA PEM, a second unrelated CA PEM); the broker's certificate is signed by the first."""
    now = dt.datetime.now(dt.UTC)
    cas = []
    for n in (1, 2):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(f"terang test CA {n}")
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(n).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        cas.append((key, cert))
    ca_key, ca = cas[0]
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(3).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "cert.pem").write_bytes(cert.public_bytes(pem))
    (d / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca.public_bytes(pem), cas[1][1].public_bytes(pem)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, int, bytes, bytes]]:
    ca, other = make_pki(tmp_path)
    port = free_port()
    extra = (f"listener {port} 127.0.0.1\ncafile {tmp_path / 'ca.pem'}\n"
             f"certfile {tmp_path / 'cert.pem'}\nkeyfile {tmp_path / 'key.pem'}\n")
    b = MosquittoBroker(tmp_path / "broker", extra_conf=extra).start()
    yield b, port, ca, other
    b.stop()


def test_lamp_connects_over_tls_with_the_provisioned_ca(
    make_lamp: Callable[..., SimLamp], tls_broker: tuple[MosquittoBroker, int, bytes, bytes], site: str
) -> None:
    broker, port, ca, _other = tls_broker
    obs = Observer(broker.url, site).start()  # the plain listener, for the test's own eyes
    try:
        make_lamp("L1", broker=f"mqtts://127.0.0.1:{port}", ca=ca.decode(), control=world_control(timika(2, 20), 20))
        obs.wait(lambda: obs.of("L1", codec.KIND_STATE), 20, "online over TLS")
        assert codec.decode_state(obs.of("L1", codec.KIND_STATE)[0])["st"] == "online"
    finally:
        obs.stop()


def test_lamp_refuses_a_broker_its_ca_did_not_sign(
    make_lamp: Callable[..., SimLamp], tls_broker: tuple[MosquittoBroker, int, bytes, bytes], site: str
) -> None:
    broker, port, _ca, other = tls_broker
    obs = Observer(broker.url, site).start()
    try:
        lamp = make_lamp("L1", broker=f"mqtts://127.0.0.1:{port}", ca=other.decode(),
                         control=world_control(timika(2, 20), 20))
        st = lamp.wait_status(lambda s: s.get("mqtt_error"), 20)
        assert not st["connected"] and obs.of("L1", codec.KIND_STATE) == []
    finally:
        obs.stop()
