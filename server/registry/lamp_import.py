"""Bulk lamp import from GeoJSON or CSV: parse, validate every row, report every bad row at once."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from server.registry.models import LampCreate

CSV_COLUMNS = ("id", "site_id", "district_id", "cabinet_id", "gateway_id", "name", "lat", "lon", "rated_w",
               "radio", "report_interval_s", "lamp_type")
# A whole Kabupaten's lamps in one request, but not an unbounded one.
MAX_ROWS = 100_000


@dataclass(frozen=True)
class RowError:
    index: int
    id: str | None
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "field": self.field, "message": self.message}


class ImportFormatError(ValueError):
    """The document as a whole is unreadable (not GeoJSON / not CSV)."""


def rows_from_geojson(body: bytes) -> list[dict[str, Any]]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ImportFormatError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ImportFormatError("body must be a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise ImportFormatError("features: must be an array")
    rows: list[dict[str, Any]] = []
    for feature in features:
        row: dict[str, Any] = {}
        if isinstance(feature, dict):
            props = feature.get("properties")
            if isinstance(props, dict):
                row.update(props)
            geometry = feature.get("geometry")
            if isinstance(geometry, dict) and geometry.get("type") == "Point":
                coords = geometry.get("coordinates")
                if isinstance(coords, list) and len(coords) >= 2:
                    row["lon"], row["lat"] = coords[0], coords[1]
        row.setdefault("__geometry_ok", "lat" in row and "lon" in row)
        rows.append(row)
    return rows


def rows_from_csv(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(f"CSV is not UTF-8 (byte {exc.start})") from exc
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise ImportFormatError("CSV has no header row")
    unknown = [c for c in reader.fieldnames if c not in CSV_COLUMNS]
    if unknown:
        raise ImportFormatError(f"CSV has unknown columns: {', '.join(unknown)}")
    missing = [c for c in ("id", "site_id", "lat", "lon", "rated_w", "radio") if c not in reader.fieldnames]
    if missing:
        raise ImportFormatError(f"CSV lacks required columns: {', '.join(missing)}")
    rows = []
    for rec in reader:
        rows.append({k: (v if v != "" else None) for k, v in rec.items() if k is not None})
    return rows


def validate(rows: list[dict[str, Any]]) -> tuple[list[LampCreate], list[RowError]]:
    if len(rows) > MAX_ROWS:
        return [], [RowError(0, None, "features", f"{len(rows)} rows; at most {MAX_ROWS} per import")]
    lamps: list[LampCreate] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        ident = row.get("id") if isinstance(row.get("id"), str) else None
        geometry_ok = row.pop("__geometry_ok", True)
        if not geometry_ok:
            errors.append(RowError(index, ident, "geometry", "a Point geometry [lon, lat] is required"))
            continue
        clean = {k: v for k, v in row.items() if v is not None}
        try:
            lamp = LampCreate.model_validate(clean)
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "row"
                errors.append(RowError(index, ident, field, err["msg"]))
            continue
        if lamp.id in seen:
            errors.append(RowError(index, lamp.id, "id", f"duplicate of row {seen[lamp.id]}"))
            continue
        seen[lamp.id] = index
        lamps.append(lamp)
    return lamps, errors
