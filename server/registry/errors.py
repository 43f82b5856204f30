"""Registry errors, raised by data access and mapped to HTTP status codes only in the API layer."""

from __future__ import annotations

import psycopg


class RegistryError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(RegistryError):
    pass


class Conflict(RegistryError):
    pass


class InvalidReference(RegistryError):
    """A referenced row does not exist (or belongs to another site)."""


class InvalidValue(RegistryError):
    pass


def _constraint_field(constraint: str | None, table: str | None, suffix: str) -> str | None:
    """``lamps_cabinet_fkey`` -> ``cabinet``; ``lamps_rated_w_check`` -> ``rated_w``."""
    if not constraint or not table or not constraint.startswith(table + "_") or not constraint.endswith(suffix):
        return None
    return constraint[len(table) + 1 : -len(suffix)]


def translate(exc: psycopg.Error, *, entity: str, ident: str | None = None) -> RegistryError:
    """Turns a constraint violation into a registry error naming the offending field."""
    diag = exc.diag
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return Conflict(f"{entity} {ident!r} already exists", field="id")
    if isinstance(exc, psycopg.errors.RestrictViolation) or (
        isinstance(exc, psycopg.errors.ForeignKeyViolation)
        and diag.message_primary
        and "update or delete" in diag.message_primary
    ):
        referrer = (diag.message_primary or "").rsplit(" on table ", 1)[-1].strip('"')
        return Conflict(f"{entity} {ident!r} is still referenced by {referrer}")
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):
        name = _constraint_field(diag.constraint_name, diag.table_name, "_fkey")
        field = None if name is None else name if name.endswith("_id") else name + "_id"
        detail = diag.message_detail or "the referenced row does not exist"
        return InvalidReference(f"{field or 'reference'}: {detail}", field=field)
    if isinstance(exc, psycopg.errors.CheckViolation):
        field = _constraint_field(diag.constraint_name, diag.table_name, "_check")
        return InvalidValue(f"{field or 'value'}: out of range ({diag.constraint_name})", field=field)
    return RegistryError(diag.message_primary or str(exc))
