"""``gateway.toml``: the gateway's whole configuration, validated at start.

A bad file stops the gateway with one line per problem naming the field (``central.url: ...``).
docs/gateway.md lists every key; ``example_config()`` is the commented template.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from firmware.device import airtime, brokerurl

_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


class ConfigError(ValueError):
    """The configuration is unusable; the message names each offending field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_url(value: str) -> str:
    try:
        brokerurl.parse(value)
    except brokerurl.BrokerURLError as exc:
        raise ValueError(str(exc)) from exc
    return value


class GatewaySection(_Section):
    id: str = Field(pattern=_ID_PATTERN)
    site: str = Field(pattern=_ID_PATTERN)
    data_dir: Path = Path("gateway-data")


class CentralSection(_Section):
    url: str
    username: str | None = None
    password: str | None = None
    # For mqtts:// URLs: the CA that signed the broker's certificate (a private CA); default: the
    # system's trust store. Relative to the config file.
    ca_file: Path | None = None
    client_id: str | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # Readings per published batch; the server refuses batches over its cap (500 by default).
    batch_max: int = Field(default=500, ge=1, le=500)
    # Batches published but not yet covered by the server's watermark (at most one per lamp); keeps
    # the broker's per-client queue for the server (1000 on a stock Mosquitto) from overflowing.
    inflight_max: int = Field(default=500, ge=1, le=10_000)
    # A batch not acknowledged by the watermark after this long is published again.
    resend_after_s: float = Field(default=30.0, gt=0)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)
    health_interval_s: float = Field(default=60.0, gt=0)
    # What the backhaul is, as reported in the gateway's state (codec.BEARERS).
    bearer: Literal["4g", "eth", "wifi"] = "4g"

    _url_ok = field_validator("url")(_check_url)


class LocalSection(_Section):
    enabled: bool = True
    url: str = "mqtt://127.0.0.1:1883"
    client_id: str | None = None
    # The gateway acknowledges each local lamp's readings from its own disk queue, at most this often.
    ack_interval_s: float = Field(default=1.0, ge=0)

    _url_ok = field_validator("url")(_check_url)


class RadioSection(_Section):
    kind: Literal["none", "udp"] = "none"
    # host:port of the simulated medium (gateway.medium); a concentrator driver would add a kind.
    medium: str = "127.0.0.1:1700"
    channels: list[int] = Field(default_factory=lambda: list(airtime.AS923_2_CHANNELS))
    duty_cycle: float = Field(default=airtime.DUTY_CYCLE, gt=0, le=1)
    # Lamps may announce their id in a HELLO frame (FPort 2); off, only ``devices`` are accepted.
    accept_hello: bool = True
    # DevAddr (8 hex digits) -> lamp id.
    devices: dict[str, str] = Field(default_factory=dict)

    @field_validator("medium")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port")
        return value

    @field_validator("devices")
    @classmethod
    def _devaddrs(cls, value: dict[str, str]) -> dict[str, str]:
        for addr, lamp in value.items():
            if not re.fullmatch(r"[0-9A-Fa-f]{8}", addr):
                raise ValueError(f"DevAddr {addr!r} is not 8 hex digits")
            if not re.fullmatch(_ID_PATTERN, lamp):
                raise ValueError(f"lamp id {lamp!r} for {addr} is not a valid id")
        return value

    @property
    def medium_address(self) -> tuple[str, int]:
        host, _, port = self.medium.rpartition(":")
        return host, int(port)


class QueueSection(_Section):
    # Items (readings, events, states) held at most; beyond it the documented drop order applies.
    max_items: int = Field(default=2_000_000, ge=10)
    # FULL: every commit is fsynced before the uplink is acknowledged (survives power loss).
    # NORMAL: survives a crash or SIGKILL of the gateway, not a power cut; faster on slow flash.
    sync: Literal["full", "normal"] = "full"
    # Downlinks older than this are dropped even when the server gave no expiry.
    downlink_max_age_s: float = Field(default=3600.0, gt=0)


class GatewayConfig(_Section):
    gateway: GatewaySection
    central: CentralSection
    local: LocalSection = LocalSection(enabled=False)
    radio: RadioSection = RadioSection()
    queue: QueueSection = QueueSection()

    @model_validator(mode="after")
    def _some_source(self) -> GatewayConfig:
        if not self.local.enabled and self.radio.kind == "none":
            raise ValueError("no uplink source: enable [local] or set radio.kind")
        return self

    @property
    def database_path(self) -> Path:
        return self.gateway.data_dir / "queue.sqlite3"


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def parse_config(data: dict[str, object]) -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_config(path: Path) -> GatewayConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    cfg = parse_config(data)
    if not cfg.gateway.data_dir.is_absolute():
        # Relative data directories are relative to the config file, not to wherever we were started.
        section = cfg.gateway.model_copy(update={"data_dir": path.parent / cfg.gateway.data_dir})
        cfg = cfg.model_copy(update={"gateway": section})
    if cfg.central.ca_file is not None and not cfg.central.ca_file.is_absolute():
        central = cfg.central.model_copy(update={"ca_file": path.parent / cfg.central.ca_file})
        cfg = cfg.model_copy(update={"central": central})
    return cfg


def example_config() -> str:
    return """\
# Terang edge gateway. Every key is described in docs/gateway.md.
[gateway]
id = "gw-kuala-kencana-01"     # [A-Za-z0-9_-]{1,32}
site = "mimika"
data_dir = "gateway-data"      # the SQLite queue lives here; relative to this file

[central]
url = "mqtts://broker.terang.example:8883"
username = "gw.mimika.gw-kuala-kencana-01"  # from `terang device credentials gw gw-kuala-kencana-01`
password = "change-me"
# ca_file = "ca.crt"           # the CA of a private broker certificate (`terang tls issue`)
batch_max = 500                # readings per published batch
inflight_max = 500             # batches awaiting the server's watermark (one per lamp)
resend_after_s = 30
health_interval_s = 60

[local]
enabled = true
url = "mqtt://127.0.0.1:1883"  # the broker Wi-Fi/4G controllers in this area connect to

[radio]
kind = "udp"                   # "udp": the simulated medium; "none": no LoRa
medium = "127.0.0.1:1700"
duty_cycle = 0.01
accept_hello = true
[radio.devices]                # DevAddr -> lamp id (lamps may also announce themselves)
"26011F01" = "KK-0001"

[queue]
max_items = 2000000
sync = "full"
downlink_max_age_s = 3600
"""
