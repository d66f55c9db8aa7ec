"""Repointing references: the records of one kind that point at some records (an activity's
`related_id`, a deal's `contact_id`) made to point at another, as a merge does. Set-based, one
UPDATE per old target, each naming the workspace; every record it changes gets a new version
and keeps the move in its history, as any change of the field would."""

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, insert, update

from app.core import sql
from app.core.context import Ctx
from app.core.history import RecordChange
from app.core.ids import new_id
from app.core.models import table_of, utcnow
from app.core.records import Resource

_HISTORY = table_of(RecordChange)


async def repoint(
    ctx: Ctx,
    resource: Resource[Any, Any],
    field: str,
    from_ids: Sequence[uuid.UUID],
    to_id: uuid.UUID,
    *,
    where: Iterable[ColumnElement[bool]] = (),
) -> list[uuid.UUID]:
    """Point every record of `resource` whose `field` is one of `from_ids` (deleted records
    too: restored, they point at the right one) at `to_id`; the ids of those it changed.
    `where` narrows the records (an activity's `related_type`). The rows are not loaded: a
    caller holding one of them in its session excludes it through `where`."""
    table = resource.table
    column = table.c[field]
    conditions = list(where)
    now = utcnow()
    history: list[dict[str, Any]] = []
    moved: list[uuid.UUID] = []
    for from_id in from_ids:
        # One statement per old target, so each history entry knows the old value without a
        # read first (RETURNING gives only new values before PostgreSQL 18).
        stmt = (
            update(table)
            .where(table.c.workspace_id == ctx.workspace_id, column == from_id, *conditions)
            .values({field: to_id, "version": table.c.version + 1, "updated_at": now})
            .returning(table.c.id)
        )
        for row in await sql.execute(ctx, stmt, {}):
            moved.append(row["id"])
            history.append(
                {
                    "workspace_id": ctx.workspace_id,
                    "id": new_id(),
                    "resource": resource.name,
                    "record_id": row["id"],
                    "action": "updated",
                    "actor_id": ctx.actor.user_id,
                    "at": now,
                    "changes": {field: {"old": str(from_id), "new": str(to_id)}},
                }
            )
    if history:
        await ctx.session.execute(insert(_HISTORY), history)
    return moved
