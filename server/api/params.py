"""Typed path and query parameters shared by routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

BIGINT_MAX = 2**63 - 1

# A row id (bigint identity) in the path or the query: out-of-range numbers are a 422, not a
# database error.
RowId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
RowIdQuery = Annotated[int | None, Query(ge=1, le=BIGINT_MAX)]
