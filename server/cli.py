"""The ``terang`` command line. Each part of the system contributes its own sub-commands.

Sub-command modules import their heavy dependencies inside the commands, so ``terang --help``
stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="terang",
    help="Terang smart street lighting: server, gateway, simulator and firmware tools.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _register() -> None:
    from firmware.tools import cli as firmware_cli
    from gateway import cli as gateway_cli
    from server import cli_server
    from simulator import cli as simulator_cli

    bench = typer.Typer(help="Benchmarks: print a table and write a JSON report under reports/.",
                        no_args_is_help=True)
    app.add_typer(bench, name="bench")
    for part in (cli_server, gateway_cli, simulator_cli, firmware_cli):
        part.register(app)
        register_bench = getattr(part, "register_bench", None)
        if register_bench is not None:
            register_bench(bench)
    benches = [(c.name, c.callback) for c in bench.registered_commands if c.callback is not None]

    @bench.command("all")
    def bench_all() -> None:
        """Every benchmark with its default settings, one after another."""
        for name, callback in benches:
            typer.secho(f"== terang bench {name}", bold=True)
            callback()


_register()

if __name__ == "__main__":
    app()
