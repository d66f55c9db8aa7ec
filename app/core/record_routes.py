"""The routes every kind of record has — read one, delete, restore, history — declared once.

A domain's router adds them with `add_record_routes(router, LEADS, caller=Member,
id_name="lead_id")` (and `writer=Admin` where only admins may delete and restore) and writes
only the routes that carry its own rules (list, create, update, and what else it does).
Their texts name the record (`Get a lead`); a domain adds its own word on an operation
through `notes`, and a domain rule on restore through `restore`.
"""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from app.core import records
from app.core.concurrency import IfMatch
from app.core.context import Ctx
from app.core.errors import DELETE_ERRORS, READ_ERRORS, Forbidden, problems
from app.core.history import History, HistoryQueryParams
from app.core.models import RecordMixin
from app.core.records import Patched, Resource

M = TypeVar("M", bound=RecordMixin)
R = TypeVar("R", bound=BaseModel)
Restore = Callable[[Ctx, uuid.UUID], Awaitable[Patched[M]]]


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def add_record_routes(
    router: APIRouter,
    resource: Resource[M, R],
    *,
    caller: Any,
    writer: Any = None,
    id_name: str,
    restore: Restore[M] | None = None,
    notes: Mapping[str, str] | None = None,
) -> None:
    """Add `GET /{id}`, `DELETE /{id}`, `POST /{id}/restore` and `GET /{id}/history` for
    `resource` to `router`. `caller` is the dependency that authenticates and authorises (an
    `Annotated[Ctx, Depends(...)]`); `writer`, when given, the stricter one delete and
    restore take instead (its refusal, a 403, is then in their contract); `id_name` the path
    parameter's name in the contract; `notes` a domain's extra word per operation (`get`,
    `delete`, `restore`, `history`)."""
    name, notes = resource.name, notes or {}
    refused: tuple[type[Forbidden], ...] = () if writer is None else (Forbidden,)
    writer = caller if writer is None else writer
    record_id = Annotated[uuid.UUID, Path(alias=id_name, description=f"The {name}'s id.")]
    not_found = resource.not_found
    path = f"/{{{id_name}}}"

    async def get_record(ident: record_id, ctx: caller, response: Response) -> Any:
        obj = await records.get(ctx, resource, ident)
        return await records.read_with_etag(ctx, resource, obj, response)

    async def delete_record(ident: record_id, ctx: writer, if_match: IfMatch = None) -> None:
        await records.soft_delete(ctx, resource, ident, if_match=if_match)

    async def restore_record(ident: record_id, ctx: writer, response: Response) -> Any:
        if restore is not None:
            restored = await restore(ctx, ident)
        else:
            restored = await records.restore(ctx, resource, ident)
        return await records.read_with_etag(ctx, resource, restored.record, response)

    async def record_history(
        ident: record_id,
        ctx: caller,
        query: HistoryQueryParams,
    ) -> History:
        return await records.history(ctx, resource, ident, query)

    read_errors = problems(*READ_ERRORS, not_found)
    routes: list[tuple[str, str, str, Callable[..., Any], str, str, str, dict[str, Any]]] = [
        # (`notes` key, method, path, handler, operation id, summary, description, options)
        (
            "get", "GET", path, get_record, f"get_{name}", f"Get {_a(name)}",
            f"The {name}, with its version as `ETag` for a later `If-Match`.",
            {"response_model": resource.read, "responses": read_errors},
        ),
        (
            "delete", "DELETE", path, delete_record, f"delete_{name}", f"Delete {_a(name)}",
            f"A soft delete: the {name} leaves lists (see `include_deleted`) and can be "
            "restored.",
            {
                "status_code": status.HTTP_204_NO_CONTENT,
                "responses": problems(*DELETE_ERRORS, *refused, not_found),
            },
        ),
        (
            "restore", "POST", f"{path}/restore", restore_record, f"restore_{name}",
            f"Restore a deleted {name}",
            f"Brings a soft-deleted {name} back; restoring a live one changes nothing.",
            {
                "response_model": resource.read,
                "responses": problems(*READ_ERRORS, *refused, not_found),
            },
        ),
        (
            "history", "GET", f"{path}/history", record_history, f"get_{name}_history",
            f"{_a(name).capitalize()}'s change history",
            "Every change, oldest first, by cursor: who, when, which fields, old → new.",
            {"responses": read_errors},
        ),
    ]  # fmt: skip
    for key, method, route_path, handler, operation, summary, standard, options in routes:
        note = notes.get(key)
        router.add_api_route(
            route_path,
            handler,
            methods=[method],
            name=operation,
            summary=summary,
            description=f"{standard} {note}" if note else standard,
            **options,
        )
