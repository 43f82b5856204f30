"""Server sub-commands: ``terang server`` and ``terang db``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Database schema and maintenance.", no_args_is_help=True)
    app.add_typer(db, name="db")
