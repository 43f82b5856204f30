"""Access commands: ``terang user``, ``terang token``, ``terang broker config``, ``terang device``
and ``terang tls``. They work on the database directly, so they make the first administrator."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    import psycopg

    from server.settings import Settings

T = TypeVar("T")
ROLES_HELP = "admin, operator, technician, crew or viewer; repeat for several"
SERVER_ACCOUNT = "terang-server"


def _load_settings() -> Settings:
    from server.cli_server import _settings
    from server.settings import Settings

    settings = _settings()
    assert isinstance(settings, Settings)
    return settings


def _database_url(settings: Settings) -> str:
    """The configured database (embedded when unset), migrated."""
    from server import services
    from server.db.migrate import migrate

    resolved = services.resolve(settings.model_copy(update={"mqtt_url": settings.mqtt_url or "mqtt://unused"}))
    migrate(resolved.database_url, storage_mode=settings.storage_mode)
    return resolved.database_url


def run_db(database_url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]], *,
           audit_what: str | None = None) -> T:
    """Runs ``work`` on one connection; records ``audit_what`` in the audit log (via "cli")."""
    import psycopg

    from server.auth import audit

    async def main() -> T:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            result = await work(conn)
            if audit_what is not None:
                await audit.record(conn, entry=audit.Entry(actor=f"cli:{getpass.getuser()}", via="cli",
                                                           client="localhost", method="CLI", path=audit_what,
                                                           query="", status=0))
            return result

    return asyncio.run(main())


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(2)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    env = os.environ.get("TERANG_NEW_PASSWORD")
    if env:
        return env
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    assert isinstance(password, str)
    return password


# -- users -------------------------------------------------------------------------------------

def user_create(
    username: Annotated[str, typer.Argument(help="Lower case login name")],
    role: Annotated[list[str], typer.Option("--role", "-r", help=ROLES_HELP)],
    crew_id: Annotated[str | None, typer.Option(help="The crew of a crew-role user")] = None,
    display_name: Annotated[str | None, typer.Option(help="Full name")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                  help="Read the password from standard input")] = False,
) -> None:
    """Create a user (the first administrator too). The password is prompted for, read from
    standard input, or taken from TERANG_NEW_PASSWORD."""
    from rich.console import Console

    from server.auth import users
    from server.registry.errors import RegistryError

    password = _read_password(password_stdin)
    url = _database_url(_load_settings())
    try:
        user = run_db(url, lambda conn: users.create(conn, username=username, password=password, roles=role,
                                                     display_name=display_name, crew_id=crew_id),
                      audit_what=f"user create {username} roles={','.join(sorted(role))}")
    except RegistryError as exc:
        raise _fail(f"cannot create user {username!r}: {exc.message}") from None
    Console().print(f"created user [bold]{user.username}[/] with roles {', '.join(user.roles)}")


def user_list() -> None:
    """Users and their roles, as a table."""
    from rich.console import Console
    from rich.table import Table

    from server.auth import users

    url = _database_url(_load_settings())
    rows, _ = run_db(url, lambda conn: users.list_users(conn, limit=10_000, offset=0))
    table = Table(title="Users")
    for column in ("username", "roles", "crew", "disabled", "last login"):
        table.add_column(column)
    for u in rows:
        table.add_row(u.username, ", ".join(u.roles), u.crew_id or "", "yes" if u.disabled else "",
                      u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never")
    Console().print(table)


# -- tokens ------------------------------------------------------------------------------------

def token_create(
    username: Annotated[str, typer.Argument(help="The user the token acts as")],
    name: Annotated[str, typer.Option(help="What the token is for (shown in listings)")],
    scope: Annotated[list[str] | None, typer.Option("--scope", "-s", help="Roles the token may use; "
                                                    "default: all of the user's. " + ROLES_HELP)] = None,
    days: Annotated[int | None, typer.Option(min=0, help="Lifetime in days; 0: no expiry "
                                                          "[default: TERANG_API_TOKEN_DEFAULT_TTL_DAYS]")] = None,
) -> None:
    """Create a long-lived API token and print it (it is shown only this once)."""
    from datetime import timedelta

    from server.auth import token_store
    from server.registry.errors import RegistryError

    settings = _load_settings()
    days = settings.api_token_default_ttl_days if days is None else days
    url = _database_url(settings)
    try:
        secret, info = run_db(url, lambda conn: token_store.create(
            conn, username=username, kind="api", name=name, scopes=scope or None,
            ttl=timedelta(days=days) if days else None), audit_what=f"token create {username} name={name}")
    except RegistryError as exc:
        raise _fail(f"cannot create a token for {username!r}: {exc.message}") from None
    typer.echo(secret)
    expiry = info.expires_at.isoformat(timespec="seconds") if info.expires_at else "never"
    typer.secho(f"token {info.id} for {username} (expires {expiry}); use it as 'Authorization: Bearer <token>'",
                err=True, fg="green")


def token_revoke(token_id: Annotated[int, typer.Argument(help="The token's id (see the API's GET /tokens)")]) -> None:
    """Revoke an API token now."""
    from server.auth import token_store
    from server.registry.errors import RegistryError

    url = _database_url(_load_settings())
    try:
        run_db(url, lambda conn: token_store.revoke(conn, token_id=token_id), audit_what=f"token revoke {token_id}")
    except RegistryError as exc:
        raise _fail(exc.message) from None
    typer.echo(f"token {token_id} revoked")


# -- devices and the broker --------------------------------------------------------------------

def device_credentials(
    kind: Annotated[str, typer.Argument(help="lamp or gw")],
    device_id: Annotated[str, typer.Argument(help="The registered lamp or gateway id")],
    broker: Annotated[str | None, typer.Option(help="Broker URL devices reach [default: TERANG_DEVICE_MQTT_URL, "
                                                     "else TERANG_MQTT_URL]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts)")] = False,
) -> None:
    """Issue (or rotate) a device's MQTT credentials; run `terang broker config --reload` afterwards."""
    from server.broker import accounts
    from server.registry.errors import RegistryError

    settings = _load_settings()
    broker_url = broker or settings.device_mqtt_url or settings.mqtt_url
    if broker_url is None:
        raise _fail("give --broker or set TERANG_DEVICE_MQTT_URL")
    url = _database_url(settings)
    try:
        creds = run_db(url, lambda conn: accounts.issue(conn, kind=kind, device_id=device_id, broker_url=broker_url),
                       audit_what=f"device credentials {kind} {device_id}")
    except RegistryError as exc:
        raise _fail(exc.message) from None
    if as_json:
        typer.echo(json.dumps(creds.__dict__))
        return
    typer.echo(f"username  {creds.username}\npassword  {creds.password}\nclient id {creds.client_id}\n"
               f"broker    {creds.mqtt_url}")


def device_revoke(username: Annotated[str, typer.Argument(help="The MQTT account, e.g. lamp.mimika.L00042")]) -> None:
    """Revoke a device's MQTT account; it is refused after `terang broker config --reload`."""
    from server.broker import accounts
    from server.registry.errors import RegistryError

    url = _database_url(_load_settings())
    try:
        run_db(url, lambda conn: accounts.revoke(conn, username=username), audit_what=f"device revoke {username}")
    except RegistryError as exc:
        raise _fail(exc.message) from None
    typer.echo(f"{username} revoked; run `terang broker config --reload` to apply it")


def broker_config(
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Output directory [default: TERANG_BROKER_CONFIG_DIR, else <data_dir>/broker-config]")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Mosquitto persistence directory "
                                                   "[default: <dir>/data]")] = None,
    port: Annotated[int, typer.Option(help="Device listener port")] = 8883,
    local_port: Annotated[int | None, typer.Option(help="Plain listener on 127.0.0.1 for server processes; "
                                                         "0: none")] = 1883,
    tls_ca: Annotated[Path | None, typer.Option(help="CA certificate for the device listener")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Broker certificate")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Broker private key")] = None,
    reload: Annotated[bool, typer.Option("--reload", help="SIGHUP the broker (pid file) after writing")] = False,
) -> None:
    """Write Mosquitto's password file, ACL file and a production mosquitto.conf from the database.

    The first run also creates the server's own account and writes its TERANG_MQTT_URL to
    server.env (mode 0600) in the same directory."""
    from rich.console import Console

    from server.broker import accounts, mosquitto_conf

    settings = _load_settings()
    out = directory or settings.broker_config_dir or Path(settings.data_dir) / "broker-config"
    tls = None
    if tls_ca or tls_cert or tls_key:
        if not (tls_ca and tls_cert and tls_key):
            raise _fail("--tls-ca, --tls-cert and --tls-key go together")
        tls = mosquitto_conf.ListenerTls(tls_ca.resolve(), tls_cert.resolve(), tls_key.resolve())
    opts = mosquitto_conf.ConfOptions(config_dir=out.resolve(), data_dir=(data_dir or out / "data").resolve(),
                                      port=port, tls=tls, local_port=local_port or None)
    url = _database_url(settings)
    console = Console()
    env_file = out / "server.env"

    async def work(conn: psycopg.AsyncConnection[Any]) -> accounts.BrokerState:
        if not env_file.exists():
            local = f"mqtt://127.0.0.1:{local_port}" if local_port else f"mqtts://localhost:{port}"
            creds = await accounts.issue_service(conn, name=SERVER_ACCOUNT, broker_url=local)
            out.mkdir(parents=True, exist_ok=True)
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"TERANG_MQTT_URL={creds.mqtt_url}\n")
            console.print(f"created the server's MQTT account {SERVER_ACCOUNT}; its URL is in {env_file}")
        return await accounts.broker_state(conn)

    state = run_db(url, work, audit_what=f"broker config {out}")
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    mosquitto_conf.give_to_broker(opts.data_dir, opts.broker_user)
    written = mosquitto_conf.write_files(state, opts)
    console.print(f"{written.accounts} accounts -> {written.password_file}, {written.acl_file}, {written.conf_file}")
    if reload:
        pid_file = out / mosquitto_conf.PID_FILE
        try:
            pid = mosquitto_conf.reload_broker(pid_file)
        except (OSError, ValueError) as exc:
            raise _fail(f"cannot reload the broker via {pid_file}: {exc}") from None
        console.print(f"reloaded Mosquitto (pid {pid})")


def tls_issue(
    directory: Annotated[Path, typer.Option("--dir", help="Where ca.crt/ca.key and the certificate go")],
    name: Annotated[list[str], typer.Option("--name", "-n", help="DNS name or IP address; repeat for several")],
    stem: Annotated[str, typer.Option(help="File name of the certificate and key")] = "server",
) -> None:
    """Create a private CA (once) and a server certificate for the broker and the API."""
    from server.certificates import issue_server_certificate

    issued = issue_server_certificate(directory, names=name, stem=stem)
    typer.echo(f"CA          {issued.ca_cert} (give this to devices and clients)\n"
               f"certificate {issued.cert}\nkey         {issued.key}")


def access_table() -> list[tuple[str, str, dict[str, bool] | None]]:
    """(method, path, role -> allowed) for every API route; None for a public route."""
    from fastapi.routing import APIRoute

    from server.api.access import Access, Role, rule_of
    from server.api.main import API_PREFIX, routers

    rows: list[tuple[str, str, dict[str, bool] | None]] = []
    for router in routers():
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            rule = rule_of(route.dependencies)
            allowed = {r.value: r in rule.roles for r in Role} if isinstance(rule, Access) else None
            rows.extend((method, API_PREFIX + route.path, allowed) for method in sorted(route.methods or ()))
    return rows


def user_roles() -> None:
    """Which roles may call which API route, as a table (from the routes' access rules)."""
    from rich.console import Console
    from rich.table import Table

    from server.api.access import Role

    table = Table(title="API access by role")
    table.add_column("method")
    table.add_column("path", overflow="fold")
    for role in Role:
        table.add_column(role.value, justify="center")
    for method, path, allowed in access_table():
        marks = ["public"] * len(Role) if allowed is None else ["✓" if allowed[r.value] else "" for r in Role]
        table.add_row(method, path, *marks)
    Console().print(table)


def bench_access(
    requests: Annotated[int, typer.Option(help="Requests per API measurement")] = 2000,
    logins: Annotated[int, typer.Option(help="Password logins")] = 50,
    accounts: Annotated[int, typer.Option(help="Device accounts in the broker's files")] = 10_000,
    connects: Annotated[int, typer.Option(help="Device connections to the broker")] = 500,
    out_dir: Annotated[Path, typer.Option(help="Where the JSON report goes")] = Path("reports"),
) -> None:
    """What access control costs: logins, authenticated requests, device connections, broker files.
    Uses TERANG_DATABASE_URL's server (a database of its own), else embedded PostgreSQL."""
    from rich.console import Console
    from rich.table import Table

    from server import services
    from server.auth import bench

    console = Console()
    settings = _load_settings()
    resolved = services.resolve(settings.model_copy(update={"mqtt_url": "mqtt://unused"}))
    with console.status("benchmarking access...") as status:
        report, path = bench.run(server_url=resolved.database_url, requests=requests, logins=logins,
                                 accounts=accounts, connects=connects, out_dir=out_dir,
                                 progress=lambda text: status.update(f"benchmarking access: {text}"))
    table = Table(title=f"Access control cost ({report.cpus} CPUs)")
    for column in ("measurement", "n", "s", "per s", "p50 ms", "p99 ms", "note"):
        table.add_column(column, justify="left" if column in ("measurement", "note") else "right")
    for r in report.results:
        table.add_row(r.name, f"{r.count:,}", f"{r.seconds:.2f}", f"{r.per_s:,.0f}",
                      "" if r.p50_ms is None else f"{r.p50_ms:.1f}", "" if r.p99_ms is None else f"{r.p99_ms:.1f}",
                      r.note)
    console.print(table)
    console.print(f"report: {path}")


def register_bench(bench: typer.Typer) -> None:
    bench.command("access")(bench_access)


def register(app: typer.Typer) -> None:
    user = typer.Typer(help="API users.", no_args_is_help=True)
    user.command("create")(user_create)
    user.command("list")(user_list)
    user.command("roles")(user_roles)
    app.add_typer(user, name="user")
    token = typer.Typer(help="Long-lived API tokens.", no_args_is_help=True)
    token.command("create")(token_create)
    token.command("revoke")(token_revoke)
    app.add_typer(token, name="token")
    device = typer.Typer(help="Device MQTT credentials.", no_args_is_help=True)
    device.command("credentials")(device_credentials)
    device.command("revoke")(device_revoke)
    app.add_typer(device, name="device")
    broker = typer.Typer(help="The MQTT broker's access files.", no_args_is_help=True)
    broker.command("config")(broker_config)
    app.add_typer(broker, name="broker")
    tls = typer.Typer(help="Certificates for TLS (MQTT and HTTPS).", no_args_is_help=True)
    tls.command("issue")(tls_issue)
    app.add_typer(tls, name="tls")
