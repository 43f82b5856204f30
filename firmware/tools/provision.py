"""``terang firmware provision``: one controller's ``device.json`` and its registration with the server.

``device.json`` is the controller's identity and wiring, written once by the technician and never by
the firmware: lamp id, site, broker URL (with the device's credentials), network credentials,
coordinates, time zone, rated power, meter calibration, the fleet's OTA public key. What the server
decides (schedule, dimming limits, report interval) comes later over MQTT as the retained config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.device import brokerurl, codec
from firmware.tools.simrun import DeviceConfig

RADIOS = {"wifi": "wifi", "4g": "cellular", "lora": "lora"}


class ProvisionError(ValueError):
    pass


@dataclass(frozen=True)
class Registration:
    created: bool
    status: int


def make_config(
    *,
    lamp: str,
    site: str,
    broker: str,
    lat: float,
    lon: float,
    tz_min: int = 540,
    rated_w: float = 100.0,
    wifi_ssid: str | None = None,
    wifi_password: str | None = None,
    apn: str | None = None,
    cal_v: float = 1.0,
    cal_i: float = 1.0,
    cal_p: float = 1.0,
    ota_key: str | None = None,
    board: dict[str, Any] | None = None,
    ca_pem: str | None = None,
    lora: dict[str, Any] | None = None,
) -> DeviceConfig:
    """Validates everything a technician types before it reaches a pole."""
    for what, value in (("lamp id", lamp), ("site id", site)):
        if not codec.valid_id(value):
            raise ProvisionError(f"{what} {value!r} must be 1-32 characters of A-Z a-z 0-9 _ -")
    try:
        tls, _host, _port, _user, _password = brokerurl.parse(broker)
    except brokerurl.BrokerURLError as exc:
        raise ProvisionError(str(exc)) from exc
    if ca_pem and not tls:
        raise ProvisionError("a CA certificate only makes sense with an mqtts:// broker URL")
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise ProvisionError("latitude must be within ±90 and longitude within ±180")
    if not -720 <= tz_min <= 840:
        raise ProvisionError("time-zone offset must be within -720..840 minutes")
    if not 0 < rated_w <= 2000:
        raise ProvisionError("rated power must be within 0..2000 W")
    for name, k in (("voltage", cal_v), ("current", cal_i), ("power", cal_p)):
        if not 0.5 <= k <= 2.0:
            raise ProvisionError(f"{name} calibration factor {k} is outside 0.5..2.0")
    if ota_key is not None:
        try:
            n = int(ota_key, 16)
        except ValueError as exc:
            raise ProvisionError("OTA key must be the fleet modulus in hex (terang firmware keygen)") from exc
        if n.bit_length() < 2048:
            raise ProvisionError("OTA key must be at least 2048 bits")
    extra: dict[str, Any] = {}
    if lora is not None:
        extra = {"bearer": "lora", "lora": check_lora(lora)}
    return DeviceConfig(
        lamp=lamp, site=site, broker=broker, lat=lat, lon=lon, tz=tz_min, rated_w=rated_w,
        wifi_ssid=wifi_ssid, wifi_password=wifi_password, apn=apn,
        cal={"v": cal_v, "i": cal_i, "p": cal_p}, ota_key=ota_key.lower() if ota_key else None,
        board=board, ca=ca_pem, extra=extra,
    )


def check_lora(lora: dict[str, Any]) -> dict[str, Any]:
    """The device.json "lora" object (firmware/device/lorabearer.py), checked: a lamp that cannot
    be heard is found on the pole, not at the desk."""
    out = {k: v for k, v in lora.items() if v is not None}
    sf = out.get("sf", 10)
    if not isinstance(sf, int) or not 7 <= sf <= 10:
        raise ProvisionError("LoRa spreading factor must be 7..10 (SF11/SF12 break the 400 ms dwell limit)")
    devaddr = out.get("devaddr")
    if devaddr is not None:
        try:
            value = int(str(devaddr), 16)
        except ValueError:
            raise ProvisionError("LoRa DevAddr must be 8 hex digits, e.g. 26011f01") from None
        if not 0 < value <= 0xFFFFFFFF or len(str(devaddr)) != 8:
            raise ProvisionError("LoRa DevAddr must be 8 hex digits, e.g. 26011f01")
        out["devaddr"] = str(devaddr).lower()
    medium = out.get("medium")
    if medium is not None and not str(medium).rpartition(":")[2].isdigit():
        raise ProvisionError("LoRa medium must be host:port (the simulated radio medium)")
    return out


def register(api_url: str, cfg: DeviceConfig, *, radio: str = "wifi", report_interval_s: int = 300,
             token: str | None = None, timeout: float = 15.0) -> Registration:
    """Creates the lamp on the server, or updates its position and rating if it exists."""
    import httpx

    if radio not in RADIOS:
        raise ProvisionError(f"radio must be one of {', '.join(RADIOS)}")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"id": cfg.lamp, "site_id": cfg.site, "lat": cfg.lat, "lon": cfg.lon, "rated_w": cfg.rated_w,
            "radio": RADIOS[radio], "report_interval_s": report_interval_s}
    with httpx.Client(base_url=api_url, timeout=timeout, headers=headers) as client:
        r = client.post("/api/v1/lamps", json=body)
        if r.status_code == 409:
            update = {k: v for k, v in body.items() if k not in ("id", "site_id")}
            r = client.patch(f"/api/v1/lamps/{cfg.lamp}", json=update)
            _raise(r)
            return Registration(False, r.status_code)
        _raise(r)
        return Registration(True, r.status_code)


def issue_credentials(api_url: str, cfg: DeviceConfig, *, token: str | None = None,
                      timeout: float = 15.0) -> DeviceConfig:
    """Asks the server for the lamp's own MQTT account (docs/security.md, "Device MQTT accounts":
    a technician's or admin's token) and returns the config with those credentials in its broker
    URL. Asking again rotates the password; the broker takes it at its next reload."""
    import dataclasses

    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=api_url, timeout=timeout, headers=headers) as client:
        r = client.post("/api/v1/mqtt-accounts", json={"kind": "lamp", "device_id": cfg.lamp})
    _raise(r)
    creds = r.json()
    tls, host, port, _user, _password = brokerurl.parse(cfg.broker)
    shown = "[" + host + "]" if ":" in host else host
    broker = f"{'mqtts' if tls else 'mqtt'}://{creds['username']}:{creds['password']}@{shown}:{port}"
    return dataclasses.replace(cfg, broker=broker)


def _raise(r: Any) -> None:
    if r.status_code >= 400:
        try:
            detail = json.dumps(r.json())
        except ValueError:
            detail = r.text
        raise ProvisionError(f"server refused the lamp ({r.status_code}): {detail[:400]}")


def write(cfg: DeviceConfig, out: Path) -> Path:
    """Writes device.json (into `out` if it is a directory)."""
    path = out / "device.json" if out.is_dir() else out
    cfg.write(path)
    return path
