"""Sub-commands contributed to ``terang``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this part's commands to the root ``terang`` app."""
