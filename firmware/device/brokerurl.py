# Broker URL parsing shared by the device and every host-side client, so that a URL
# written into a controller's config means exactly what it means to the server.
#
#   mqtt://[user[:password]@]host[:port]     plain TCP, default port 1883
#   mqtts://[user[:password]@]host[:port]    TLS, default port 8883
#
# MicroPython subset: no typing, no dataclasses.


class BrokerURLError(ValueError):
    pass


def _unquote(s: str) -> str:
    # Percent-decoding, so that passwords may contain ':' or '@'.
    if "%" not in s:
        return s
    out = bytearray()
    i = 0
    raw = s.encode()
    while i < len(raw):
        c = raw[i]
        if c == 0x25 and i + 2 < len(raw):
            try:
                out.append(int(raw[i + 1 : i + 3].decode(), 16))
            except ValueError:
                raise BrokerURLError("bad percent-escape in broker URL")
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode()


def parse(url: str) -> tuple[bool, str, int, str | None, str | None]:
    """Returns (tls, host, port, user, password); user/password are None when absent."""
    if not isinstance(url, str) or "://" not in url:
        raise BrokerURLError("broker URL must look like mqtt://host:port")
    scheme, rest = url.split("://", 1)
    if scheme == "mqtt":
        tls = False
        port = 1883
    elif scheme == "mqtts":
        tls = True
        port = 8883
    else:
        raise BrokerURLError("broker URL scheme must be mqtt or mqtts, not " + scheme)
    rest = rest.split("/", 1)[0]
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        cred, rest = rest.rsplit("@", 1)
        if ":" in cred:
            user, password = cred.split(":", 1)
            password = _unquote(password)
        else:
            user = cred
        user = _unquote(user)
    host = rest
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise BrokerURLError("unterminated IPv6 address in broker URL")
        host = rest[1:end]
        rest = rest[end + 1 :]
        if rest.startswith(":"):
            port = _port(rest[1:])
    elif ":" in rest:
        host, p = rest.rsplit(":", 1)
        port = _port(p)
    if not host:
        raise BrokerURLError("broker URL has no host")
    return tls, host, port, user, password


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise BrokerURLError("broker URL port is not a number: " + text)
    if not 0 < port < 65536:
        raise BrokerURLError("broker URL port out of range: " + text)
    return port
