"""The server's one settings object. Every tunable is read here, from ``TERANG_*`` variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from firmware.device import brokerurl


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "terang"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TERANG_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default_factory=_default_data_dir)

    # None means: start the embedded default (PostgreSQL from the wheel, a local broker).
    database_url: str | None = None
    mqtt_url: str | None = None
    mqtt_client_id: str = "terang-server"

    http_host: str = "127.0.0.1"
    # 0 picks a free port (tests).
    http_port: int = Field(default=8000, ge=0, le=65535)

    # Ingestion
    ingest_enabled: bool = True
    # MQTT v5 shared-subscription group; several workers with the same group split the load.
    ingest_share_group: str | None = None
    # Sites whose topics this worker subscribes to; empty means every site (a "+" wildcard).
    ingest_sites: list[str] = Field(default_factory=list)
    ingest_batch_readings: int = Field(default=10_000, ge=1)
    ingest_flush_ms: int = Field(default=100, ge=1)
    ingest_max_payload_bytes: int = Field(default=64 * 1024, ge=256)
    ingest_max_batch_readings: int = Field(default=500, ge=1)
    ingest_future_tolerance_s: int = Field(default=86_400, ge=0)
    # Acks are cumulative, so coalescing them per lamp loses nothing and saves a publish per reading.
    ack_min_interval_ms: int = Field(default=1_000, ge=0)
    dead_letter_payload_cap: int = Field(default=4_096, ge=64)

    # Storage: "auto" uses TimescaleDB when the extension can be created, plain PostgreSQL otherwise.
    storage_mode: Literal["auto", "timescaledb", "postgres"] = "auto"
    retention_days: int = Field(default=400, ge=1)
    partitions_ahead_days: int = Field(default=7, ge=1)
    maintenance_interval_s: float = Field(default=60.0, gt=0)

    # API
    api_page_max: int = Field(default=1_000, ge=1)
    api_body_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Schedules and control (issue 5). The pusher handles the sites in ``ingest_sites`` (all when empty).
    schedule_enabled: bool = True
    # Pusher passes: re-sends, overrides that end, a new day. Changes themselves are pushed at once (NOTIFY).
    schedule_interval_s: float = Field(default=30.0, gt=0)
    # A config not in effect this long after it was published is sent again; the wait doubles per
    # attempt up to the cap (a lamp that is off the network gets the retained config when it returns).
    schedule_resend_after_s: float = Field(default=300.0, gt=0)
    schedule_resend_max_s: float = Field(default=3600.0, gt=0)
    # Special days (holidays) are written into configs for this many days from the first of the month.
    schedule_horizon_days: int = Field(default=400, ge=31, le=3650)
    # No server contact for this long: the lamp runs its calendar's fallback level (config "fb").
    schedule_fallback_s: int = Field(default=86_400, ge=60, le=2_592_000)
    # An emergency "all on" given no end lasts this long.
    emergency_default_s: int = Field(default=12 * 3600, ge=60, le=30 * 86_400)

    # --- Faults and alerts (issue 6) ---------------------------------------------------------
    # The fault engine handles the sites in ``ingest_sites`` (all when empty), one tick per interval.
    faults_enabled: bool = True
    faults_interval_s: float = Field(default=60.0, gt=0)
    # Thresholds per lamp type, bearer intervals and alert timings (TOML, docs/faults.md); None: defaults.
    faults_config_file: Path | None = None

    # --- Alert notifications (issue 6) ------------------------------------------------------
    # The notifier turns alert history into deliveries (webhook, e-mail, MQTT) for crews' subscriptions
    # and sends those of the sites in ``ingest_sites`` (all when empty). docs/faults.md, "Notifications".
    notify_enabled: bool = True
    # New history is picked up at once (NOTIFY); a pass also runs this often, so nothing waits longer.
    notify_poll_s: float = Field(default=5.0, gt=0)
    # A failed delivery is tried again after base * 2^(attempt-1) seconds (at most max), each wait
    # spread by +-jitter (a fraction) so receivers coming back are not hit by every sender at once;
    # after max_attempts it is given up ("dead").
    notify_max_attempts: int = Field(default=10, ge=1, le=100)
    notify_backoff_base_s: float = Field(default=30.0, gt=0)
    notify_backoff_max_s: float = Field(default=3600.0, gt=0)
    notify_backoff_jitter: float = Field(default=0.2, ge=0, le=1)
    notify_webhook_timeout_s: float = Field(default=10.0, gt=0)
    # E-mail: without a host, e-mail deliveries wait (status pending, last_error says why).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_from: str = "Terang <terang@localhost>"
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0)

    # --- Security and access (issue 7) -------------------------------------------------------
    # Lifetime of the token a password login returns.
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    # Default lifetime of a long-lived API token when its creator names none; 0 = no expiry.
    api_token_default_ttl_days: int = Field(default=365, ge=0)
    # Login throttling: failed logins per username / per client address within the window.
    login_max_failures_per_user: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=30, ge=1)
    login_window_s: int = Field(default=900, ge=1)
    # TLS towards the broker (mqtts:// URLs): CA bundle to trust instead of the system's, and an
    # optional client certificate for brokers that require one.
    mqtt_ca_file: Path | None = None
    mqtt_client_cert_file: Path | None = None
    mqtt_client_key_file: Path | None = None
    # HTTPS for the API: both set, or neither (then run behind a TLS-terminating proxy).
    https_cert_file: Path | None = None
    https_key_file: Path | None = None
    # The broker URL written into device configs at provisioning (the address devices reach, e.g.
    # mqtts://mqtt.lampu.mimikakab.go.id:8883); defaults to mqtt_url without its credentials.
    device_mqtt_url: str | None = None
    # Where `terang broker config` writes the Mosquitto password, ACL and conf files.
    broker_config_dir: Path | None = None

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                brokerurl.parse(value)
            except brokerurl.BrokerURLError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("device_mqtt_url")
    @classmethod
    def _device_mqtt_url_parses(cls, value: str | None) -> str | None:
        return cls._mqtt_url_parses(value)

    @model_validator(mode="after")
    def _tls_files_come_in_pairs(self) -> Settings:
        if (self.https_cert_file is None) != (self.https_key_file is None):
            raise ValueError("https_cert_file and https_key_file: set both or neither")
        if (self.mqtt_client_cert_file is None) != (self.mqtt_client_key_file is None):
            raise ValueError("mqtt_client_cert_file and mqtt_client_key_file: set both or neither")
        if self.environment == "production" and self.mqtt_url is not None:
            user = brokerurl.parse(self.mqtt_url)[3]
            if not user:
                raise ValueError("mqtt_url: production brokers refuse anonymous clients; give the server's "
                                 "account as mqtt(s)://user:password@host")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
