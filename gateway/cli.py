"""Sub-commands contributed to ``terang``: the gateway service, the LoRa tools, the gateway benchmark."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

lora_app = typer.Typer(help="LoRa planning and the simulated radio medium.", no_args_is_help=True)


def gateway(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="gateway.toml")] = None,
    example: Annotated[bool, typer.Option("--example-config", help="Print a commented gateway.toml and exit.")]
    = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error")] = "info",
) -> None:
    """Run the edge gateway: LoRa and local MQTT in, disk-backed store-and-forward to the centre."""
    import asyncio
    import logging

    from gateway.config import ConfigError, example_config, load_config
    from gateway.service import run_gateway

    if example:
        typer.echo(example_config(), nl=False)
        return
    if config is None:
        raise typer.BadParameter("give --config gateway.toml (or --example-config for a template)")
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_gateway(cfg))


@lora_app.command("plan")
def lora_plan(
    lamps: Annotated[int, typer.Option(help="Lamps reporting through one gateway.")],
    sf: Annotated[int, typer.Option(help="Spreading factor 7..12.")],
    payload_bytes: Annotated[int, typer.Option("--bytes", help="Application payload per frame.")] = 11,
    interval: Annotated[float, typer.Option(help="Seconds between a lamp's frames.")] = 300.0,
    channels: Annotated[int, typer.Option(help="Uplink channels (AS923-2 plan: 8).")] = 8,
    duty_cycle: Annotated[float, typer.Option(help="Duty-cycle limit per transmitter.")] = 0.01,
    no_dwell: Annotated[bool, typer.Option("--no-dwell", help="Ignore the 400 ms dwell limit.")] = False,
    downlinks_per_day: Annotated[float, typer.Option(help="Gateway downlinks per lamp per day.")] = 4.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Time on air, channel load, pure-ALOHA collision probability and duty-cycle headroom."""
    from gateway.plan import PlanInput, plan

    try:
        inp = PlanInput(lamps=lamps, sf=sf, app_bytes=payload_bytes, interval_s=interval, channels=channels,
                        duty_cycle=duty_cycle, dwell=not no_dwell, downlinks_per_lamp_per_day=downlinks_per_day)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    result = plan(inp)
    if as_json:
        typer.echo(json.dumps({"input": inp.__dict__, "result": result.as_dict()}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{lamps} lamps, SF{sf} (DR{result.data_rate}), {payload_bytes} B every {interval:g} s, "
                    f"{channels} channels")
    t.add_column("figure")
    t.add_column("value", justify="right")
    cap = "not allowed" if result.max_app_bytes is None else f"{result.max_app_bytes} B"
    rows = [
        ("time on air per frame", f"{result.time_on_air_s * 1000:.1f} ms ({result.phy_bytes} B on air)"),
        ("max payload at this DR" + ("" if no_dwell else " (400 ms dwell)"), cap),
        ("payload fits", "yes" if result.fits_payload else "NO"),
        ("frames per hour (all lamps)", f"{result.frames_per_hour:,.0f}"),
        ("channel load G per channel", f"{result.channel_load_erlang:.4f} Erlang"),
        ("collision probability (pure ALOHA)", f"{result.collision_probability:.2%}"),
        ("frames delivered per hour", f"{result.delivered_per_hour:,.0f}"),
        ("lamp duty cycle used", f"{result.lamp_duty_cycle:.3%} of {duty_cycle:.0%}"),
        ("duty-cycle headroom", f"{result.lamp_duty_headroom:.1f}x (shortest interval {result.min_interval_s:.0f} s)"),
        ("lamps for <= 1 % collisions", f"{result.max_lamps_1pct_collisions:,}"),
        ("lamps for <= 10 % collisions", f"{result.max_lamps_10pct_collisions:,}"),
        ("gateway downlink airtime per hour",
         f"{result.gateway_downlink_s_per_hour:.1f} s of {result.gateway_downlink_budget_s_per_hour:.0f} s "
         f"({result.gateway_downlink_headroom:.1f}x headroom)"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    Console().print(t)


@lora_app.command("medium")
def lora_medium(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="UDP port.")] = 1700,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    loss: Annotated[float, typer.Option(help="Probability a frame is lost per receiver.")] = 0.0,
    duty_cycle: Annotated[float, typer.Option(help="Duty-cycle limit per transmitter.")] = 0.01,
    no_dwell: Annotated[bool, typer.Option("--no-dwell", help="Do not refuse frames over 400 ms.")] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed for loss.")] = None,
) -> None:
    """Run the simulated LoRa medium (datagrams in docs/lora.md) until Ctrl-C."""
    import asyncio

    from firmware.device.airtime import DWELL_LIMIT_S
    from gateway.medium import MediumSettings, serve

    settings = MediumSettings(speed=speed, duty_cycle=duty_cycle, loss=loss, seed=seed,
                              dwell_limit_s=None if no_dwell else DWELL_LIMIT_S)

    async def main() -> None:
        transport, _ = await serve(settings, host, port)
        typer.echo(f"LoRa medium on udp://{host}:{port} (speed {speed:g}x, loss {loss:.0%})")
        try:
            await asyncio.Event().wait()
        finally:
            transport.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def gateway_bench(
    lamps: Annotated[int, typer.Option(help="Lamps in the backlog.")] = 1000,
    readings_per_lamp: Annotated[int, typer.Option(help="Backlog per lamp (288 = 24 h every 5 min).")] = 288,
    sustained: Annotated[int, typer.Option(help="Live uplinks for the sustained-rate phase.")] = 20_000,
    centre: Annotated[str, typer.Option(help="'server' (real server + PostgreSQL) or 'stub'.")] = "server",
    database_url: Annotated[str | None, typer.Option(envvar="TERANG_DATABASE_URL",
                                                     help="PostgreSQL for the server; embedded if unset.")] = None,
    report: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("reports/gateway-bench.json"),
) -> None:
    """Gateway benchmark: sustained uplinks/s forwarded, and replay rate after an outage."""
    from gateway.bench import BenchOptions, print_table, run

    result = run(BenchOptions(lamps=lamps, readings_per_lamp=readings_per_lamp, sustained=sustained,
                              centre=centre, database_url=database_url))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    typer.echo(f"report: {report}")


def register(app: typer.Typer) -> None:
    """Adds this part's commands to the root ``terang`` app."""
    app.command("gateway")(gateway)
    app.add_typer(lora_app, name="lora")


def register_bench(bench: typer.Typer) -> None:
    bench.command("gateway")(gateway_bench)
