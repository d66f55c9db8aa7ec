"""The routes every kind of record has — read one, delete, restore, history — declared once.

A domain's router adds them with `add_record_routes(router, LEADS, caller=Member,
id_name="lead_id")` and writes only the routes that carry its own rules (list, create,
update, and what else it does). Their texts name the record (`Get a lead`); a domain adds its
own word on an operation through `notes`, and a domain rule on restore through `restore`.
"""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from app.core import records
from app.core.concurrency import IfMatch
from app.core.context import Ctx
from app.core.errors import DELETE_ERRORS, READ_ERRORS, problems
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
    id_name: str,
    restore: Restore[M] | None = None,
    notes: Mapping[str, str] | None = None,
) -> None:
    """Add `GET /{id}`, `DELETE /{id}`, `POST /{id}/restore` and `GET /{id}/history` for
    `resource` to `router`. `caller` is the dependency that authenticates and authorises (an
    `Annotated[Ctx, Depends(...)]`); `id_name` the path parameter's name in the contract;
    `notes` a domain's extra word per operation (`get`, `delete`, `restore`, `history`)."""
    name, notes = resource.name, notes or {}
    record_id = Annotated[uuid.UUID, Path(alias=id_name, description=f"The {name}'s id.")]
    not_found = resource.not_found
    path = f"/{{{id_name}}}"

    def described(operation: str, standard: str) -> str:
        note = notes.get(operation)
        return f"{standard} {note}" if note else standard

    async def get_record(ident: record_id, ctx: caller, response: Response) -> Any:
        obj = await records.get(ctx, resource, ident)
        return await records.read_with_etag(ctx, resource, obj, response)

    async def delete_record(ident: record_id, ctx: caller, if_match: IfMatch = None) -> None:
        await records.soft_delete(ctx, resource, ident, if_match=if_match)

    async def restore_record(ident: record_id, ctx: caller, response: Response) -> Any:
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

    router.add_api_route(
        path,
        get_record,
        methods=["GET"],
        name=f"get_{name}",
        summary=f"Get {_a(name)}",
        description=described(
            "get", f"The {name}, with its version as `ETag` for a later `If-Match`."
        ),
        response_model=resource.read,
        responses=problems(*READ_ERRORS, not_found),
    )
    router.add_api_route(
        path,
        delete_record,
        methods=["DELETE"],
        name=f"delete_{name}",
        summary=f"Delete {_a(name)}",
        description=described(
            "delete",
            f"A soft delete: the {name} leaves lists (see `include_deleted`) and can be restored.",
        ),
        status_code=status.HTTP_204_NO_CONTENT,
        responses=problems(*DELETE_ERRORS, not_found),
    )
    router.add_api_route(
        f"{path}/restore",
        restore_record,
        methods=["POST"],
        name=f"restore_{name}",
        summary=f"Restore a deleted {name}",
        description=described(
            "restore", f"Brings a soft-deleted {name} back; restoring a live one changes nothing."
        ),
        response_model=resource.read,
        responses=problems(*READ_ERRORS, not_found),
    )
    router.add_api_route(
        f"{path}/history",
        record_history,
        methods=["GET"],
        name=f"get_{name}_history",
        summary=f"{_a(name).capitalize()}'s change history",
        description=described(
            "history", "Every change, oldest first, by cursor: who, when, which fields, old → new."
        ),
        responses=problems(*READ_ERRORS, not_found),
    )
