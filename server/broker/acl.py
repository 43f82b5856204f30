"""The topic ACL: who may publish and subscribe where. Pure: accounts in, Mosquitto ACL text out.

- a lamp publishes only its own telemetry/event/state and reads only its own cmd/config/ack;
- a gateway does the same for every lamp assigned to it (lamps.gateway_id), plus its own gw topics;
- only service accounts (the server) may publish cmd, config and ack, and read ``$SYS``.
Mosquitto denies whatever the file does not grant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from firmware.device import codec

UPLINK = (codec.KIND_TELEMETRY, codec.KIND_EVENT, codec.KIND_STATE)
DOWNLINK = (codec.KIND_CMD, codec.KIND_CONFIG, codec.KIND_ACK)
GATEWAY_UPLINK = (codec.KIND_STATE, codec.KIND_EVENT, codec.KIND_TELEMETRY)


@dataclass(frozen=True)
class Account:
    username: str
    kind: str  # "lamp", "gw", "service"
    site_id: str | None = None
    device_id: str | None = None


@dataclass(frozen=True)
class Grant:
    access: str  # "read", "write", "readwrite"
    topic: str


def lamp_grants(site_id: str, lamp_id: str) -> list[Grant]:
    return ([Grant("write", codec.lamp_topic(site_id, lamp_id, k)) for k in UPLINK]
            + [Grant("read", codec.lamp_topic(site_id, lamp_id, k)) for k in DOWNLINK])


def grants_for(account: Account, gateway_lamps: Mapping[tuple[str, str], Iterable[str]]) -> list[Grant]:
    if account.kind == "service":
        return [Grant("readwrite", f"{codec.TOPIC_ROOT}/#"),
                # The broker's counters, among them the messages it had to drop.
                Grant("read", "$SYS/#")]
    assert account.site_id is not None and account.device_id is not None
    if account.kind == "lamp":
        return lamp_grants(account.site_id, account.device_id)
    if account.kind == "gw":
        own = ([Grant("write", codec.gw_topic(account.site_id, account.device_id, k)) for k in GATEWAY_UPLINK]
               + [Grant("read", codec.gw_topic(account.site_id, account.device_id, k)) for k in DOWNLINK])
        lamps = sorted(gateway_lamps.get((account.site_id, account.device_id), ()))
        return own + [g for lamp in lamps for g in lamp_grants(account.site_id, lamp)]
    raise ValueError(f"unknown account kind {account.kind!r}")


def acl_text(accounts: Iterable[Account], gateway_lamps: Mapping[tuple[str, str], Iterable[str]]) -> str:
    lines = ["# Written by `terang broker config`; edits are overwritten. Anything not granted is denied.", ""]
    for account in sorted(accounts, key=lambda a: a.username):
        lines.append(f"user {account.username}")
        lines.extend(f"topic {g.access} {g.topic}" for g in grants_for(account, gateway_lamps))
        lines.append("")
    return "\n".join(lines)


def password_text(hashes: Iterable[tuple[str, str]]) -> str:
    """``username:hash`` lines; revoked accounts are simply absent."""
    return "".join(f"{user}:{digest}\n" for user, digest in sorted(hashes))
