"""Mosquitto configuration for production, and writing it with the password and ACL files.

Files are replaced atomically (temp file + rename) so a broker reloading at that moment reads
either the old or the new version, never half of one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from server.broker.accounts import BrokerState
from server.broker.acl import acl_text, password_text
from server.embedded.broker import MAX_INFLIGHT_MESSAGES, MAX_QUEUED_MESSAGES

PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
CONF_FILE = "mosquitto.conf"
PID_FILE = "mosquitto.pid"


@dataclass(frozen=True)
class ListenerTls:
    cafile: Path
    certfile: Path
    keyfile: Path
    # Ask devices for a client certificate too (mutual TLS) on top of their password.
    require_certificate: bool = False


@dataclass(frozen=True)
class ConfOptions:
    config_dir: Path
    data_dir: Path
    # The port devices connect to; TLS on it when ``tls`` is given.
    port: int = 8883
    bind: str = "0.0.0.0"
    tls: ListenerTls | None = None
    # A plain listener for server processes on the same host (None: none).
    local_port: int | None = 1883
    local_bind: str = "127.0.0.1"
    write_pid_file: bool = True
    # Mosquitto started as root drops to this user before it reads the password file, so that file
    # (mode 0600) is handed to it when these files are written as root.
    broker_user: str = "mosquitto"


def conf_text(opts: ConfOptions) -> str:
    d = opts.config_dir
    lines = [
        "# Written by `terang broker config`. Reload (SIGHUP) after re-running it: Mosquitto then re-reads",
        "# the password and ACL files and disconnects clients whose account is gone.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {d / PASSWORD_FILE}",
        f"acl_file {d / ACL_FILE}",
        "",
        "# Nothing is lost: sessions and queued QoS 1 messages survive a restart, and the per-client",
        "# queue is far above the default of 1000, which silently drops messages for a slow subscriber.",
        "persistence true",
        f"persistence_location {opts.data_dir}/",
        "autosave_interval 60",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        "max_queued_bytes 0",
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        "# Controllers that vanish for good do not keep queues forever.",
        "persistent_client_expiration 14d",
        "# $SYS counters (dropped messages among them) every 10 s, read by the ingestion worker.",
        "sys_interval 10",
        "set_tcp_nodelay true",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
    ]
    if opts.write_pid_file:
        lines.append(f"pid_file {d / PID_FILE}")
    lines += ["", f"listener {opts.port} {opts.bind}"]
    if opts.tls is not None:
        lines += [
            f"cafile {opts.tls.cafile}",
            f"certfile {opts.tls.certfile}",
            f"keyfile {opts.tls.keyfile}",
            "tls_version tlsv1.2",
            f"require_certificate {'true' if opts.tls.require_certificate else 'false'}",
        ]
    if opts.local_port is not None:
        lines += ["", "# Server processes on this host.", f"listener {opts.local_port} {opts.local_bind}"]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Written:
    password_file: Path
    acl_file: Path
    conf_file: Path | None
    accounts: int


def write_files(state: BrokerState, opts: ConfOptions, *, with_conf: bool = True) -> Written:
    opts.config_dir.mkdir(parents=True, exist_ok=True)
    # The hashes are slow to attack but not meant to be read by anyone but the broker.
    _write_atomic(opts.config_dir / PASSWORD_FILE, password_text(state.hashes), 0o600)
    give_to_broker(opts.config_dir / PASSWORD_FILE, opts.broker_user)
    _write_atomic(opts.config_dir / ACL_FILE, acl_text(state.accounts, state.gateway_lamps), 0o644)
    conf = None
    if with_conf:
        conf = opts.config_dir / CONF_FILE
        _write_atomic(conf, conf_text(opts), 0o644)
    return Written(opts.config_dir / PASSWORD_FILE, opts.config_dir / ACL_FILE, conf, len(state.accounts))


def give_to_broker(path: Path, user: str) -> None:
    """Makes ``path`` the broker user's when running as root and that user exists."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(user)
    except KeyError:
        return
    shutil.chown(path, user=user)


def reload_broker(pid_file: Path) -> int:
    """Sends SIGHUP to the Mosquitto whose pid is in ``pid_file``; returns the pid."""
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGHUP)
    return pid
