# The firmware bundle: the compiled modules of one firmware version in one file, so that an
# application image can be signed, downloaded into an OTA slot and unpacked by the boot loader.
#
#   b"TRB1"  u16 count  then count x ( u8 name_len, name (ASCII), u32 size, data )
#
# little-endian; names are flat file names ("journal.mpy"), never paths.

import struct

MAGIC = b"TRB1"


class BundleError(ValueError):
    pass


def pack(entries: list[tuple[str, bytes]]) -> bytes:
    """entries: list of (name, data) pairs."""
    parts = [MAGIC, struct.pack("<H", len(entries))]
    for name, data in entries:
        raw = name.encode()
        if not raw or len(raw) > 255 or "/" in name or name.startswith("."):
            raise BundleError("bad entry name: " + name)
        parts.append(struct.pack("<B", len(raw)))
        parts.append(raw)
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def _readexact(f: object, n: int) -> bytes:
    b = f.read(n)  # type: ignore[attr-defined]
    if b is None or len(b) != n:
        raise BundleError("bundle truncated")
    return bytes(b)


def entries(f: object) -> list[tuple[str, int, int]]:
    """[(name, size, offset)] of an open bundle file; validates the structure."""
    if _readexact(f, 4) != MAGIC:
        raise BundleError("not a firmware bundle")
    (count,) = struct.unpack("<H", _readexact(f, 2))
    out = []
    pos = 6
    for _ in range(count):
        (n,) = struct.unpack("<B", _readexact(f, 1))
        name = _readexact(f, n).decode()
        if "/" in name or name.startswith("."):
            raise BundleError("bad entry name in bundle")
        (size,) = struct.unpack("<I", _readexact(f, 4))
        pos += 1 + n + 4
        out.append((name, size, pos))
        f.seek(pos + size)  # type: ignore[attr-defined]
        pos += size
    return out


def extract(path: str, dest: str, limit: int = -1) -> list[str]:
    """Unpacks the bundle at `path` into directory `dest` (which must exist); returns the names.
    `limit` bounds the bytes read (an OTA slot is larger than the image in it)."""
    buf = bytearray(512)
    names = []
    with open(path, "rb") as f:
        for name, size, off in entries(f):
            if limit >= 0 and off + size > limit:
                raise BundleError("bundle entry beyond image end")
            f.seek(off)
            with open(dest + "/" + name, "wb") as out:
                left = size
                while left > 0:
                    n = f.readinto(buf)
                    if not n:
                        raise BundleError("bundle truncated")
                    if n > left:
                        n = left
                    out.write(memoryview(buf)[:n])
                    left -= n
            names.append(name)
    return names
