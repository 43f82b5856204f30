"""Sub-commands contributed to ``terang``: ``simulate``, ``demo`` and ``eval faults``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_API_URL = "http://127.0.0.1:8000"


def register(app: typer.Typer) -> None:
    """Adds this part's commands to the root ``terang`` app."""
    app.command("simulate")(simulate)
    app.command("demo")(demo)
    evaluate = typer.Typer(help="Evaluations against simulated ground truth.", no_args_is_help=True)
    evaluate.command("faults")(eval_faults)
    app.add_typer(evaluate, name="eval")


def simulate(
    api: Annotated[str, typer.Option(help="Server base URL; the topology is registered through its API.")] = (
        DEFAULT_API_URL
    ),
    mqtt: Annotated[
        str | None, typer.Option(help="Broker URL [default: $TERANG_MQTT_URL or mqtt://127.0.0.1:1883].")
    ] = None,
    lamps: Annotated[int, typer.Option(min=1, help="Lamps in the fleet.")] = 100,
    interval: Annotated[int, typer.Option(min=1, help="Seconds of simulated time between a lamp's readings.")] = 60,
    speed: Annotated[float, typer.Option(min=0.001, help="Simulated seconds per real second.")] = 1.0,
    duration: Annotated[
        float | None, typer.Option(min=1, help="Simulated seconds to run (wall time = duration / speed); "
                                               "omit to run until Ctrl-C.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the topology and the electrical model.")] = 1,
    site: Annotated[str, typer.Option(help="Site id (prefixes every generated id).")] = "mimika",
    batch: Annotated[int, typer.Option(min=1, max=500, help="Readings per message (journal-style batches).")] = 1,
    backfill: Annotated[
        float, typer.Option(min=0, help="Without --duration: start this many simulated seconds in the past.")
    ] = 0.0,
    resend_after: Annotated[
        float, typer.Option(min=0.1, help="Re-send readings still unacknowledged after this many seconds.")
    ] = 30.0,
    drain: Annotated[float, typer.Option(min=0, help="Seconds to wait for the last acks at the end.")] = 30.0,
    state: Annotated[
        Path | None, typer.Option(help="File keeping sequence/energy counters and the journal between runs.")
    ] = None,
    do_register: Annotated[bool, typer.Option("--register/--no-register", help="Register through the API.")] = True,
    lora_via_gateway: Annotated[
        bool, typer.Option("--lora-via-gateway", help="LoRa lamps talk through a simulated radio medium to a "
                                                      "terang gateway process per topology gateway.")
    ] = False,
    lora_speed: Annotated[
        float | None, typer.Option(min=1, help="Medium time per real second [default: --speed, at most 20].")
    ] = None,
    gateway_dir: Annotated[
        Path | None, typer.Option(help="Where the gateways keep their queues [default: a temporary directory].")
    ] = None,
    api_token: Annotated[
        str | None, typer.Option(envvar="TERANG_API_TOKEN", help="API token of a technician or admin "
                                 "(`terang token create`) for --register.")
    ] = None,
    faults: Annotated[
        int, typer.Option(min=0, max=100, help="Incidents to inject once simulated time has caught up with the "
                                               "clock: lamp failures, a feeder outage, an under-voltage feeder, a "
                                               "comm loss, a day burner (docs/simulator.md).")
    ] = 0,
    faults_truth: Annotated[
        Path | None, typer.Option(help="Ground truth of --faults (JSON) [default: faults-truth.json beside "
                                       "--state, else in the current directory].")
    ] = None,
) -> None:
    """Simulate a Mimika street-lighting fleet publishing telemetry through the broker."""
    from simulator.runner import SimulationConfig

    try:
        config = SimulationConfig(
            mqtt_url=mqtt or os.environ.get("TERANG_MQTT_URL") or DEFAULT_MQTT_URL,
            api_url=api if do_register else None,
            api_token=api_token,
            lamps=lamps,
            interval_s=interval,
            speed=speed,
            duration_s=duration,
            backfill_s=backfill,
            seed=seed,
            site_id=site,
            batch=batch,
            resend_after_s=resend_after,
            drain_s=drain,
            state_path=state,
            lora_via_gateway=lora_via_gateway,
            lora_speed=lora_speed,
            gateway_dir=gateway_dir,
            faults=faults,
            faults_truth_path=faults_truth,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    _run_with_progress(config)


# Demo defaults: 2,000 lamps reporting every 5 minutes like Wi-Fi controllers; at 60x a 12-hour
# night replays in 12 minutes (about 400 readings/s), then the fleet runs in real time.
def demo(
    lamps: Annotated[int, typer.Option(min=1, help="Lamps in the simulated fleet.")] = 2_000,
    speed: Annotated[float, typer.Option(min=1, help="Simulated seconds per real second until caught up.")] = 60.0,
    interval: Annotated[int, typer.Option(min=1, help="Seconds of simulated time between readings.")] = 300,
    port: Annotated[
        int | None, typer.Option(help="HTTP port [default: $TERANG_HTTP_PORT or 8000, else a free one].")
    ] = None,
    lora_via_gateway: Annotated[
        bool, typer.Option("--lora-via-gateway/--lora-direct",
                           help="LoRa lamps through simulated air and terang gateway processes, or straight "
                                "to the broker.")
    ] = True,
    faults: Annotated[
        int, typer.Option(min=0, max=100, help="Incidents to inject once the fleet runs in real time (0: none).")
    ] = 6,
) -> None:
    """Embedded PostgreSQL + broker + server + a simulated Mimika fleet; Ctrl-C stops everything."""
    import time

    from rich.console import Console

    from server.auth.bootstrap import ensure_demo_login
    from simulator.demo import AlertWatch, DemoError, ServerThread, demo_backfill_s, demo_settings, wait_healthy
    from simulator.runner import SimulationConfig

    console = Console()

    def note(msg: str) -> None:
        console.print(f"[dim]·[/dim] {msg}")

    settings = demo_settings(port)
    # The fault engine starts once the replayed night has caught up with the clock (simulator/demo.py).
    server = ServerThread(settings, hold_faults=settings.faults_enabled)
    try:
        note(f"starting the server (data in {settings.data_dir}): database, broker, migrations, API, ingestion")
        running = server.start()
        health = wait_healthy(running.api_url)
        url = running.api_url
        login = ensure_demo_login(running.database_url)
        console.print(f"\n[bold]Terang is running[/bold] (storage: {health.get('storage_mode', running.storage_mode)})")
        console.print(f"  API   {url}/api/v1   e.g. {url}/api/v1/lamps?limit=5")
        console.print(f"  Docs  {url}/docs")
        console.print(f"  Login [bold]{login.username}[/bold] / [bold]{login.password}[/bold] (administrator; "
                      "a new password each run): POST /api/v1/auth/login, then 'Authorization: Bearer <token>'")
        console.print(f"  MQTT  {running.mqtt_url}")
        console.print(f"  Alerts {url}/api/v1/alerts?status=open, live: {url}/api/v1/alerts/stream (SSE); "
                      "the fault engine starts once the fleet has caught up with the clock")
        console.print("  Ctrl-C stops the simulator, the server and the embedded services.\n")
        config = SimulationConfig(
            mqtt_url=running.mqtt_url,
            api_url=url,
            api_token=login.token,
            lamps=lamps,
            interval_s=interval,
            speed=speed,
            backfill_s=demo_backfill_s(time.time()),
            site_id="mimika",
            state_path=Path(settings.data_dir) / "simulator" / "state.json",
            demo_schedule=True,
            demo_crews=True,
            lora_via_gateway=lora_via_gateway,
            gateway_dir=Path(settings.data_dir) / "gateways",
            faults=faults,
        )
        with AlertWatch(server, url, login.token) as watch:
            _run_with_progress(config, console=console, note=note, watch=watch)
        open_now = "" if watch.open is None else f"{watch.open:,} open; "
        console.print(f"Alerts: {open_now}GET {url}/api/v1/alerts (filters: status, fault_type, crew_id...), "
                      f"live: {url}/api/v1/alerts/stream (SSE). They stay in the database for the next run.")
    except DemoError as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        pass
    finally:
        note("stopping the server and the services it started")
        server.stop()
    console.print("stopped")


def _run_with_progress(config: Any, console: Any = None, note: Any = None, watch: Any = None) -> None:
    from rich.console import Console
    from rich.live import Live

    from simulator.publisher import PublisherError
    from simulator.registry import RegistrationError
    from simulator.report import progress_view, summary_table
    from simulator.runner import Progress, run

    console = console or Console()
    note = note or (lambda msg: console.print(f"[dim]·[/dim] {msg}"))
    live = Live(console=console, refresh_per_second=4, transient=True)

    def on_progress(p: Progress) -> None:
        if watch is not None:
            watch.progress(p)
        if not live.is_started:
            live.start()
        live.update(progress_view(p, None if watch is None else watch.open))

    def on_note(msg: str) -> None:
        if live.is_started:
            live.console.print(f"[dim]·[/dim] {msg}")
        else:
            note(msg)

    try:
        summary = run(config, on_progress=on_progress, on_note=on_note)
    except (RegistrationError, PublisherError) as exc:
        console.print(f"[red]simulation failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        if live.is_started:
            live.stop()
    console.print(summary_table(summary))


def eval_faults(
    scenario: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Scenario file (TOML), e.g. "
                                           "tests/scenarios/mixed.toml.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table.")] = False,
    report_dir: Annotated[Path, typer.Option(help="Where the JSON report and the ground truth go.")] = Path("reports"),
    check: Annotated[bool, typer.Option(help="Exit with status 1 when the scenario's bar is missed.")] = False,
    database_url: Annotated[
        str | None, typer.Option(envvar="TERANG_DATABASE_URL",
                                 help="PostgreSQL server to create the run's own database on "
                                      "[default: the embedded one in the data directory].")
    ] = None,
    faults_config: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Fault thresholds (TOML) for the engine "
                                                                   "[default: the engine's defaults].")
    ] = None,
    keep_db: Annotated[bool, typer.Option(help="Keep the run's database afterwards (to look at the alerts).")] = False,
) -> None:
    """Inject faults and noise into a simulated fleet, run the fault engine on simulated time, score its alerts."""
    import orjson
    from rich.console import Console
    from rich.live import Live

    from simulator.fault_eval import EvalError, EvalProgress, run
    from simulator.fault_report import progress_view, report, table
    from simulator.scenario import ScenarioError, load

    out = Console()
    err = Console(stderr=True)
    try:
        spec = load(scenario)
    except ScenarioError as exc:
        err.print(f"[red]bad scenario:[/red] {exc}")
        raise typer.Exit(2) from exc
    server_url = database_url or _embedded_postgres()
    live = Live(console=err, refresh_per_second=4, transient=True)

    def on_progress(p: EvalProgress) -> None:
        if not live.is_started:
            live.start()
        live.update(progress_view(p))

    truth = report_dir / f"fault-eval-{spec.name}-truth.json"
    try:
        result = run(spec, server_url, faults_config=faults_config, keep_database=keep_db, truth_path=truth,
                     on_progress=on_progress)
    except (EvalError, ScenarioError) as exc:
        err.print(f"[red]evaluation failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        if live.is_started:
            live.stop()
    body = report(result)
    body["ground_truth"] = str(truth)
    path = report_dir / f"fault-eval-{spec.name}.json"
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    if as_json:
        out.print_json(orjson.dumps(body).decode())
    else:
        out.print(table(result))
        for miss in result.bar.misses:
            out.print(f"[red]✗[/red] {miss}")
        out.print(f"[dim]report {path}, ground truth {truth}[/dim]")
    if check and not result.bar.passed:
        raise typer.Exit(1)


def _embedded_postgres() -> str:
    """The embedded PostgreSQL the rest of the CLI uses (server.services), started if needed."""
    from server.embedded.postgres import start_embedded_postgres
    from server.settings import Settings

    return start_embedded_postgres(Settings().data_dir / "pgdata")
