"""Fleet signing key and OTA manifests (``terang firmware keygen`` / ``terang firmware sign``).

The device checks RSASSA-PKCS1-v1_5 / SHA-256 signatures with a 3072-bit key over
``rsaverify.manifest(version, size, sha256)`` (see ``firmware/device/rsaverify.py`` and
docs/ota.md). The private key never leaves the release machine; controllers carry the public
modulus in their device config (``ota_key``), written by ``terang firmware provision``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from firmware.device import rsaverify

# Protocol v1 carries at most 512 hex digits of signature (RSA-2048); the device verifies any size.
KEY_BITS = 2048
PUBLIC_EXPONENT = 65537


class SigningError(RuntimeError):
    pass


@dataclass(frozen=True)
class Manifest:
    """What an ``ota`` command carries besides its URL."""

    ver: str
    size: int
    sha256: str
    sig: str  # hex

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def generate_key(path: Path, bits: int = KEY_BITS) -> str:
    """Writes a new private key (PEM, mode 0600); returns the public modulus as hex."""
    if path.exists():
        raise SigningError(f"{path} exists; refusing to overwrite a fleet key")
    if bits not in (2048, 3072, 4096):
        raise SigningError("key size must be 2048, 3072 or 4096 bits")
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return public_hex(key)


def load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningError(f"{path} is not an RSA private key")
    if key.key_size < 2048 or key.public_key().public_numbers().e != PUBLIC_EXPONENT:
        raise SigningError("fleet key must be RSA >= 2048 bits with e = 65537")
    return key


def public_hex(key: rsa.RSAPrivateKey) -> str:
    return format(key.public_key().public_numbers().n, "x")


def sign_image(image: bytes, version: str, key: rsa.RSAPrivateKey) -> Manifest:
    digest = hashlib.sha256(image).hexdigest()
    message = rsaverify.manifest(version, len(image), digest)
    sig = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return Manifest(version, len(image), digest, sig.hex())


def sign_file(image_path: Path, version: str, key_path: Path) -> tuple[Manifest, Path]:
    """Signs an image file; writes ``<image>.manifest.json`` next to it."""
    manifest = sign_image(image_path.read_bytes(), version, load_key(key_path))
    out = image_path.with_name(image_path.name + ".manifest.json")
    out.write_text(manifest.to_json())
    return manifest, out
