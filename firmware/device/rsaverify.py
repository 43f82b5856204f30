# Firmware signature check: RSA (3072-bit fleet key, e = 65537) with PKCS#1 v1.5 padding over
# SHA-256, i.e. RSASSA-PKCS1-v1_5 as in RFC 8017 section 8.2.
#
# Why this algorithm: the ESP32 port of MicroPython has hashlib.sha256 and arbitrary-precision
# integers with three-argument pow, and verifying RSA with e = 65537 costs 17 modular
# multiplications, a few milliseconds on a PC and well under a second on an ESP32. Ed25519 or
# ECDSA would need hundreds of big-number point operations written in Python (seconds to tens of
# seconds on the ESP32, and more code to get wrong). Signing stays on the host, with the
# `cryptography` package (terang firmware sign).
#
# The check rebuilds the whole expected encoded block and compares it as one integer, so there is
# no padding parser to fool (the Bleichenbacher-2006 family of forgeries needs one).

import hashlib

# DER prefix of DigestInfo for SHA-256 (RFC 8017, section 9.2, note 1).
_SHA256_PREFIX = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"


def manifest(version: str, size: int, digest_hex: str) -> bytes:
    """What the fleet key signs: binds the image digest to its size and version, so a server
    cannot relabel an old signed image as a new version."""
    return ("terang-ota-1\n" + version + "\n" + str(size) + "\n" + digest_hex + "\n").encode()


def verify(message: bytes, signature: bytes, n: int, e: int = 65537) -> bool:
    k = (len("%x" % n) + 1) // 2  # MicroPython ints have no bit_length()
    if len(signature) != k or k < 128:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    h = hashlib.sha256(message).digest()
    t = _SHA256_PREFIX + h
    if k < len(t) + 11:
        return False
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return pow(s, e, n) == int.from_bytes(em, "big")
