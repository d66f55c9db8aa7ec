"""Fetching one visible record, soft delete and restore: the same rules for every resource."""

import uuid
from typing import Any, TypeVar

from sqlalchemy import Row, Select
from sqlalchemy.exc import IntegrityError

from app.core.concurrency import check_if_match
from app.core.context import Actor, Ctx
from app.core.errors import NotFound, SenError
from app.core.history import VISIBLE_RECORDS, jsonable, mark_visible, record_change
from app.core.models import utcnow

T = TypeVar("T")


async def read_rows(ctx: Ctx, stmt: Select[Any]) -> list[Row[Any]]:
    """Run a read-only Core select in the request's transaction: plain rows, no ORM identity
    map. For look-ups on a hot path (a status, the custom field definitions) and lists."""
    connection = await ctx.session.connection()
    return list((await connection.execute(stmt)).all())


async def flush_or_conflict(ctx: Ctx, conflict: SenError) -> None:
    """Flush now, in a savepoint: a unique-constraint violation (an expected race, e.g. two
    admins adding the same key) raises `conflict` and the request's transaction goes on."""
    try:
        async with ctx.session.begin_nested():
            await ctx.session.flush()
    except IntegrityError:
        raise conflict


def restrict_to_visible(stmt: Select[Any], model: Any, actor: Actor) -> Select[Any]:
    """Sales and managers see what they or their teams own (DESIGN §4)."""
    if actor.visible_owner_ids is None:
        return stmt
    return stmt.where(model.__table__.c.owner_id.in_(actor.visible_owner_ids))


async def get_visible(
    ctx: Ctx,
    model: type[T],
    record_id: uuid.UUID,
    *,
    not_found: type[NotFound] = NotFound,
    include_deleted: bool = False,
    for_update: bool = False,
) -> T:
    """The record if it exists in this workspace and the actor may see it; else a 404."""
    # Under a lock, read the row as it is now, even if this session loaded it before.
    obj = await ctx.session.get(
        model,
        (ctx.workspace_id, record_id),
        with_for_update=for_update or None,
        populate_existing=for_update,
    )
    if (
        obj is None
        or (not include_deleted and getattr(obj, "deleted_at", None) is not None)
        or (hasattr(obj, "owner_id") and not ctx.actor.can_see_owner(obj.owner_id))
    ):
        raise not_found()
    return obj


async def check_visible(
    ctx: Ctx, model: Any, record_id: uuid.UUID, *, not_found: type[NotFound] = NotFound
) -> None:
    """`get_visible` when only the answer matters: a record this transaction already made or
    checked costs no query (a conversion links records it has just created)."""
    if (model, record_id) in ctx.session.info.get(VISIBLE_RECORDS, ()):
        return
    await get_visible(ctx, model, record_id, not_found=not_found)
    mark_visible(ctx, model, record_id)


def soft_delete(ctx: Ctx, resource: str, obj: Any, *, if_match: str | None) -> None:
    check_if_match(obj.version, if_match)
    obj.deleted_at = utcnow()
    obj.updated_at = obj.deleted_at
    record_change(
        ctx,
        resource,
        obj.id,
        "deleted",
        {"deleted_at": {"old": None, "new": jsonable(obj.deleted_at)}},
    )


def restore(ctx: Ctx, resource: str, obj: Any) -> None:
    if obj.deleted_at is None:
        return
    old = obj.deleted_at
    obj.deleted_at = None
    obj.updated_at = utcnow()
    record_change(
        ctx, resource, obj.id, "restored", {"deleted_at": {"old": jsonable(old), "new": None}}
    )
