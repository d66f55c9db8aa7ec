"""The routes every kind of record has — read one, delete, restore, history — declared once.

A domain's router adds them with `add_record_routes(router, LEADS, caller=Member,
id_name="lead_id")` and writes only the routes that carry its own rules (list, create,
update, and what else it does). Their texts name the record (`Get a lead`); a domain adds its
own word on an operation through `notes`, a domain rule on restore through `restore`, and a
stricter caller for delete and restore (setup only admins change) through `writer`.
"""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel

from app.core import records
from app.core.concurrency import IfMatch
from app.core.context import Ctx
from app.core.errors import DELETE_ERRORS, READ_ERRORS, Forbidden, SenError, problems
from app.core.history import History, HistoryQueryParams
from app.core.models import RecordMixin
from app.core.records import Patched, Resource

M = TypeVar("M", bound=RecordMixin)
R = TypeVar("R", bound=BaseModel)
IncludeDeleted = Annotated[
    bool, Query(description="Also a deleted record (one merged into another, say).")
]
Restore = Callable[[Ctx, uuid.UUID], Awaitable[Patched[M]]]


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def add_record_routes(
    router: APIRouter,
    resource: Resource[M, R],
    *,
    caller: Any,
    id_name: str,
    writer: Any = None,
    restore: Restore[M] | None = None,
    notes: Mapping[str, str] | None = None,
    caller_refuses: bool = False,
) -> None:
    """Add `GET /{id}`, `DELETE /{id}`, `POST /{id}/restore` and `GET /{id}/history` for
    `resource` to `router`. `caller` is the dependency that authenticates and authorises (an
    `Annotated[Ctx, Depends(...)]`), `writer` the one for delete and restore when stricter
    (their 403 is then declared); `id_name` the path parameter's name in the contract;
    `notes` a domain's extra word per operation (`get`, `delete`, `restore`, `history`);
    `caller_refuses` when `caller` itself refuses some members (setup only admins see), so
    every route declares its 403."""
    name, notes = resource.name.replace("_", " "), notes or {}
    operation_name = resource.name
    refused: tuple[type[SenError], ...] = ()
    if writer is None:
        writer = caller
    elif writer is not caller:
        refused = (Forbidden,)
    record_id = Annotated[uuid.UUID, Path(alias=id_name, description=f"The {name}'s id.")]
    not_found = resource.not_found
    path = f"/{{{id_name}}}"

    async def get_record(
        ident: record_id,
        ctx: caller,
        response: Response,
        include_deleted: IncludeDeleted = False,
    ) -> Any:
        obj = await records.get(ctx, resource, ident, include_deleted=include_deleted)
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

    readers_refused: tuple[type[SenError], ...] = (Forbidden,) if caller_refuses else ()
    if caller_refuses:
        refused = (Forbidden,)
    read_errors = problems(*READ_ERRORS, *readers_refused, not_found)
    merged = (records.RecordAlreadyMerged,) if "merged_into_id" in resource.table.c else ()
    restore_errors = problems(*READ_ERRORS, *refused, not_found, *merged)
    routes: list[tuple[str, str, str, Callable[..., Any], str, str, str, dict[str, Any]]] = [
        # (`notes` key, method, path, handler, operation id, summary, description, options)
        (
            "get", "GET", path, get_record, f"get_{operation_name}", f"Get {_a(name)}",
            f"The {name}, with its version as `ETag` for a later `If-Match`; a deleted one "
            "only with `include_deleted=true`.",
            {"response_model": resource.read, "responses": read_errors},
        ),
        (
            "delete", "DELETE", path, delete_record, f"delete_{operation_name}",
            f"Delete {_a(name)}",
            f"A soft delete: the {name} leaves lists (see `include_deleted`) and can be "
            "restored.",
            {
                "status_code": status.HTTP_204_NO_CONTENT,
                "responses": problems(*DELETE_ERRORS, *refused, not_found),
            },
        ),
        (
            "restore", "POST", f"{path}/restore", restore_record, f"restore_{operation_name}",
            f"Restore a deleted {name}",
            f"Brings a soft-deleted {name} back; restoring a live one changes nothing.",
            {"response_model": resource.read, "responses": restore_errors},
        ),
        (
            "history", "GET", f"{path}/history", record_history, f"get_{operation_name}_history",
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
