"""Maps errors to HTTP responses: every 4xx carries a message that names the offending field."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from server.auth.errors import AuthError, Throttled
from server.registry.errors import Conflict, InvalidReference, InvalidValue, NotFound, RegistryError


class ApiError(Exception):
    """Raised by routes for a 4xx the framework does not produce itself."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers


def _body(message: str, detail: list[dict[str, Any]]) -> dict[str, Any]:
    return {"message": message, "detail": detail}


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "lamps", 3, "rated_w") -> "lamps[3].rated_w"; the "body"/"query" prefix is noise.
    parts = [p for p in loc if p not in ("body", "query", "path")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"field": _loc(err["loc"]), "message": err["msg"], "type": err["type"]} for err in exc.errors()
    ]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in detail[:5])
    return JSONResponse(status_code=422, content=_body(message, detail))


_STATUS: dict[type[RegistryError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidReference: 422,
    InvalidValue: 422,
    AuthError: 401,
    Throttled: 429,
}

# RFC 6750: a 401 tells the client which scheme to use.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="terang"'}


def _headers(exc: RegistryError) -> dict[str, str] | None:
    if isinstance(exc, AuthError):
        return _CHALLENGE
    if isinstance(exc, Throttled):
        return {"Retry-After": str(max(1, round(exc.retry_after_s)))}
    return None


async def _registry(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    status = _STATUS.get(type(exc), 400)
    detail = [{"field": exc.field, "message": exc.message}] if exc.field else []
    return JSONResponse(status_code=status, content=_body(exc.message, detail), headers=_headers(exc))


async def _api(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    detail = [{"field": exc.field, "message": exc.message}] if exc.field else []
    headers = exc.headers if exc.headers is not None else _CHALLENGE if exc.status == 401 else None
    return JSONResponse(status_code=exc.status, content=_body(exc.message, detail), headers=headers)


async def _data(request: Request, exc: Exception) -> JSONResponse:
    # Values the database cannot hold (a NUL character in text, a year outside its range) that got
    # past validation: the caller's input, so a 422 rather than a 500.
    assert isinstance(exc, psycopg.DataError)
    reason = (exc.diag.message_primary if exc.diag else None) or str(exc).splitlines()[0]
    return JSONResponse(status_code=422, content=_body(f"a value cannot be stored or compared: {reason}", []))


class ErrorDetail(BaseModel):
    field: str | None = None
    message: str
    type: str | None = None


class ErrorBody(BaseModel):
    """Every 4xx this API sends (the framework's own 422 included)."""

    message: str
    detail: list[ErrorDetail]


def _document_errors(app: FastAPI) -> None:
    """FastAPI documents its default 422 body (loc/msg/type); this API answers with ErrorBody, so the
    document says so, and names 401/403 on the routes that have an access rule."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}))
        schemas["HTTPValidationError"] = body
        schemas.pop("ValidationError", None)
        ref = {"$ref": "#/components/schemas/HTTPValidationError"}
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if operation.get("security"):
                    responses.setdefault("401", {"description": "No valid token"})
                    responses.setdefault("403", {"description": "The caller lacks the role"})
                for code, response in responses.items():
                    if code.startswith("4"):
                        response.setdefault("content", {})["application/json"] = {"schema": ref}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RegistryError, _registry)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(psycopg.DataError, _data)
    _document_errors(app)
