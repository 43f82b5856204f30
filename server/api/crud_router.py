"""Builds the create/read/list/update/delete routes of a registry resource.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at run
time, and they name the model classes passed into the factory.
"""

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, create_model

from server.api.access import READ, Role, allow
from server.api.deps import ConnDep, PagingDep
from server.registry import crud


def filter_params(table: crud.Table) -> Callable[..., dict[str, Any]]:
    """A dependency whose query parameters are exactly the table's filter columns."""

    def collect(**kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in kwargs.items() if v is not None}

    collect.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=Query(None, max_length=32),
                              annotation=str | None)
            for name in table.filters
        ]
    )
    return collect


def page_model(public: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        f"{public.__name__.removesuffix('Public')}Page",
        items=(list[public], ...),  # type: ignore[valid-type]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )


def crud_router(
    *,
    table: crud.Table,
    prefix: str,
    tag: str,
    create_model_: type[BaseModel],
    update_model: type[BaseModel],
    public_model: type[BaseModel],
    write_roles: tuple[Role, ...],
) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=[tag])
    page = page_model(public_model)
    entity = table.entity

    read = [allow(*READ)]
    write = [allow(*write_roles)]

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=public_model, dependencies=write,
                 summary=f"Create a {entity}", responses={409: {"description": "Already exists"}})
    async def create_item(body: create_model_, conn: ConnDep) -> Any:  # type: ignore[valid-type]
        return await crud.create(conn, table=table, values=body.model_dump())  # type: ignore[attr-defined]

    @router.get("", response_model=page, summary=f"List {entity}s", dependencies=read)
    async def list_items(
        conn: ConnDep, paging: PagingDep, filters: Annotated[dict[str, Any], Depends(filter_params(table))]
    ) -> Any:
        rows, total = await crud.list_rows(conn, table=table, filters=filters, limit=paging.limit,
                                           offset=paging.offset)
        return {"items": rows, "total": total, "limit": paging.limit, "offset": paging.offset}

    @router.get("/{item_id}", response_model=public_model, summary=f"Get a {entity}", dependencies=read)
    async def get_item(item_id: str, conn: ConnDep) -> Any:
        return await crud.get(conn, table=table, ident=item_id)

    @router.patch("/{item_id}", response_model=public_model, summary=f"Update a {entity}", dependencies=write)
    async def update_item(item_id: str, body: update_model, conn: ConnDep) -> Any:  # type: ignore[valid-type]
        values = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        return await crud.update(conn, table=table, ident=item_id, values=values)

    @router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Delete a {entity}",
                   dependencies=write,
                   responses={409: {"description": "Still referenced"}})
    async def delete_item(item_id: str, conn: ConnDep) -> Response:
        await crud.delete(conn, table=table, ident=item_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
