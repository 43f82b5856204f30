# Just enough HTTP/1.1 to download a firmware image in ranges over asyncio: GET with a Range
# header, Content-Length / Content-Range, Connection: close. No redirects, no chunked encoding
# (the image server is ours and serves plain files); https when the URL says so.

import asyncio

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

TIMEOUT_MS = const(20000)


class HTTPError(Exception):
    pass


def split_url(url: str) -> tuple[bool, str, int, str]:
    """(tls, host, port, path)"""
    if url.startswith("http://"):
        tls = False
        rest = url[7:]
        port = 80
    elif url.startswith("https://"):
        tls = True
        rest = url[8:]
        port = 443
    else:
        raise HTTPError("unsupported URL scheme")
    slash = rest.find("/")
    hostport = rest if slash < 0 else rest[:slash]
    path = "/" if slash < 0 else rest[slash:]
    host = hostport
    if ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        port = int(p)
    if not host:
        raise HTTPError("URL has no host")
    return tls, host, port, path


async def get(url: str, start: int, sink: object, buf: bytearray) -> tuple[int, int]:
    """Fetches `url` from byte `start`, feeding each piece of the body to sink(memoryview).

    Returns (total, received): `total` is the size of the whole resource as the server states it
    (-1 if unknown), `received` the body bytes delivered. A connection that ends early just
    returns fewer bytes; the caller resumes from where it got to.
    """
    tls, host, port, path = split_url(url)
    if tls:
        r, w = await asyncio.wait_for_ms(
            asyncio.open_connection(host, port, ssl=True), TIMEOUT_MS)
    else:
        r, w = await asyncio.wait_for_ms(asyncio.open_connection(host, port), TIMEOUT_MS)
    try:
        req = "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%d-\r\nUser-Agent: terang-fw\r\nConnection: close\r\n\r\n"
        w.write((req % (path, host, start)).encode())
        await w.drain()
        line = await asyncio.wait_for_ms(r.readline(), TIMEOUT_MS)
        parts = line.split()
        if len(parts) < 2:
            raise HTTPError("bad status line")
        status = int(parts[1])
        length = -1
        total = -1
        first = 0
        while True:
            h = await asyncio.wait_for_ms(r.readline(), TIMEOUT_MS)
            if not h or h == b"\r\n":
                break
            k, _, v = h.decode().partition(":")
            k = k.strip().lower()
            v = v.strip()
            if k == "content-length":
                length = int(v)
            elif k == "content-range":
                # bytes a-b/total
                rng, _, tot = v.partition("/")
                first = int(rng.split()[-1].split("-")[0])
                total = int(tot) if tot and tot != "*" else -1
            elif k == "transfer-encoding" and v.lower() != "identity":
                raise HTTPError("chunked transfer encoding is not supported")
        if status == 416:
            return total, 0
        if status == 200:
            total = length
            first = 0
        elif status != 206:
            raise HTTPError("HTTP status %d" % status)
        skip = start - first  # a server that ignored Range sends everything again
        if skip < 0:
            raise HTTPError("server sent a range before the one asked for")
        got = 0
        mv = memoryview(buf)
        left = length
        while left != 0:
            n: "int | None" = await asyncio.wait_for_ms(r.readinto(buf), TIMEOUT_MS)
            if n is None:
                continue  # a TLS record is not complete yet
            if n == 0:
                break
            if left > 0:
                left -= n
            piece = mv[:n]
            if skip:
                if n <= skip:
                    skip -= n
                    continue
                piece = mv[skip:n]
                skip = 0
            sink(piece)  # type: ignore[operator]
            got += len(piece)
        return total, got
    finally:
        w.close()
