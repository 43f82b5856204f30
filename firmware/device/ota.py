# Over-the-air update into the inactive A/B slot.
#
#   download  ranged HTTP GETs, resumed from the last whole block after a dropped connection or a
#             reboot (progress is kept in <root>ota.json every RESUME_EVERY blocks)
#   check     SHA-256 of what actually landed in the slot against the command, then the fleet
#             key's signature over manifest(version, size, digest) (rsaverify.py)
#   stage     the slot boots next, on trial; the controller resets
#   trial     the new image must pass the health check (broker reached, meter sane, dimmer
#             answers) within the configured time; it then marks itself valid. Otherwise it rolls
#             back, and the old image reports the failed update when it comes up again.
#
# Outcome codes are the protocol's command results: bad_args, download_failed (unreachable,
# truncated or oversized image), hash_mismatch, bad_signature; health_failed and rolled_back are
# reported by the old image after a failed trial, ok by the new one once valid. same_version is
# this module's own: the caller answers it with ok.

import asyncio
import binascii
import hashlib

import httpget
import rsaverify
import store

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this; it never runs (MicroPython has no typing module)
    from typing import Any

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

ATTEMPTS = const(8)
RESUME_EVERY = const(16)  # blocks between progress saves: bounded flash writes
MAX_IMAGE = const(4 * 1024 * 1024)


class OtaError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Sink:
    """Gathers the body into whole blocks and writes each to the slot once."""

    def __init__(self, slots: object, block: int, off: int, size: int, beat: object = None) -> None:
        self.slots = slots
        self.beat = beat  # called per block written: a slow link must not look like a hang
        self.buf = bytearray(block)
        self.fill = 0
        self.off = off  # slot offset of buf[0]; always block-aligned
        self.size = size
        self.overflow = False

    def __call__(self, piece: object) -> None:
        mv = memoryview(piece)  # type: ignore[arg-type]
        n = len(mv)
        if self.off + self.fill + n > self.size:
            self.overflow = True
            n = self.size - self.off - self.fill
        i = 0
        block = len(self.buf)
        while i < n:
            k = block - self.fill
            if k > n - i:
                k = n - i
            self.buf[self.fill : self.fill + k] = mv[i : i + k]
            self.fill += k
            i += k
            if self.fill == block:
                self.slots.write(self.off, self.buf)  # type: ignore[attr-defined]
                if self.beat:
                    self.beat()  # type: ignore[operator]
                self.off += block
                self.fill = 0

    def finish(self) -> None:
        if self.fill:
            for k in range(self.fill, len(self.buf)):
                self.buf[k] = 0xFF  # erased-flash value, as a partition would read
            self.slots.write(self.off, self.buf)  # type: ignore[attr-defined]
            self.off += self.fill
            self.fill = 0


def check_job(job: "dict[str, Any]", running_version: str) -> None:
    try:
        url = job["url"]
        size = int(job["size"])
        sha = job["sha256"]
        sig = job["sig"]
        ver = job["ver"]
    except (KeyError, TypeError, ValueError):
        raise OtaError("bad_args")
    if not isinstance(url, str) or not isinstance(sha, str) or len(sha) != 64:
        raise OtaError("bad_args")
    if not isinstance(sig, str) or not isinstance(ver, str) or not 0 < size <= MAX_IMAGE:
        raise OtaError("bad_args")
    if ver == running_version:
        raise OtaError("same_version")


def _sig_bytes(sig: str) -> bytes:
    try:
        if len(sig) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in sig):
            return binascii.unhexlify(sig)
        return binascii.a2b_base64(sig)
    except ValueError:
        raise OtaError("bad_signature")


class Updater:
    def __init__(self, slots: object, root: str, pubkey: int, version: str) -> None:
        self.slots = slots
        self.path = root + "ota.json"
        self.pubkey = pubkey
        self.version = version
        self.progress = 0  # bytes in the slot so far
        self.attempts = ATTEMPTS  # fetches in a row without a new whole block before giving up
        self.retry_ms = 500  # pause after a fruitless fetch, times the count of them

    def saved(self) -> "dict[str, Any]":
        d = store.load(self.path, {})
        return d if isinstance(d, dict) else {}

    def forget(self) -> None:
        store.remove(self.path)

    async def update(self, job: "dict[str, Any]", beat: object = None) -> None:
        """Downloads, checks and stages `job` (the ota command's fields plus its id); raises
        OtaError with the outcome code. On return the slot boots next; the caller resets."""
        check_job(job, self.version)
        size = int(job["size"])
        old = self.saved()
        same = old.get("state") == "download" and old.get("sha256") == job["sha256"] and old.get("url") == job["url"]
        block = self.slots.begin(size) if not same else 4096  # type: ignore[attr-defined]
        off = int(old.get("off", 0)) if same else 0
        off -= off % block
        state = {"state": "download", "id": job.get("id"), "url": job["url"], "size": size,
                 "sha256": job["sha256"], "sig": job["sig"], "ver": job["ver"], "off": off}
        store.save(self.path, state)
        sink = _Sink(self.slots, block, off, size, beat)
        rx = bytearray(1024)
        idle = 0
        saved_at = off
        while True:
            if beat:
                beat()  # type: ignore[operator]
            before = sink.off
            try:
                total, _ = await httpget.get(job["url"], sink.off, sink, rx)
            except (OSError, httpget.HTTPError, ValueError) as e:
                total = -1
                print("ota: download:", repr(e))
            if total >= 0 and total < size:
                raise OtaError("download_failed")  # the server's image is shorter than announced
            if total > size or sink.overflow:
                raise OtaError("download_failed")  # ... or longer
            self.progress = sink.off + sink.fill
            if sink.off + sink.fill >= size:
                break
            # Only whole written blocks count; the partial one is fetched again on resume.
            sink.fill = 0
            if sink.off == before:
                idle += 1
                if idle >= self.attempts:
                    raise OtaError("download_failed")
                await asyncio.sleep_ms(self.retry_ms * idle)
            else:
                idle = 0
            if sink.off - saved_at >= RESUME_EVERY * block:
                state["off"] = sink.off
                store.save(self.path, state)
                saved_at = sink.off
        sink.finish()
        self.verify(size, job["sha256"], job["sig"], job["ver"])
        self.slots.activate()  # type: ignore[attr-defined]
        state["state"] = "staged"
        state["off"] = size
        store.save(self.path, state)

    def verify(self, size: int, sha_hex: str, sig: str, ver: str) -> None:
        h = hashlib.sha256()
        buf = bytearray(4096)
        off = 0
        while off < size:
            n = self.slots.readinto(off, buf)  # type: ignore[attr-defined]
            if n <= 0:
                raise OtaError("download_failed")
            if n > size - off:
                n = size - off
            h.update(memoryview(buf)[:n])
            off += n
        digest = binascii.hexlify(h.digest()).decode()
        if digest != sha_hex.lower():
            raise OtaError("hash_mismatch")
        if not rsaverify.verify(rsaverify.manifest(ver, size, digest), _sig_bytes(sig), self.pubkey):
            raise OtaError("bad_signature")
