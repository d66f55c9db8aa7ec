"""Every change to a record is kept: who, when, which fields, old -> new. Written by the same
transaction as the change, so history can't disagree with the data."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from types import SimpleNamespace
from typing import Annotated, Any, ClassVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Index, String, bindparam, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core import sql
from app.core.context import Ctx
from app.core.ids import new_id
from app.core.models import Base, TenantMixin, utcnow
from app.core.money import decimal_string
from app.core.pagination import Keyset, Page, PageQuery

Changes = dict[str, dict[str, Any]]


class RecordChange(TenantMixin, Base):
    __tablename__ = "record_changes"
    __table_args__ = (
        Index("ix_record_changes_record", "workspace_id", "resource", "record_id", "at", "id"),
    )

    resource: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    changes: Mapped[dict[str, Any]]


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return decimal_string(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def record_change(
    ctx: Ctx, resource: str, record_id: uuid.UUID, action: str, changes: Changes
) -> None:
    ctx.session.add(
        RecordChange(
            workspace_id=ctx.workspace_id,
            resource=resource,
            record_id=record_id,
            action=action,
            actor_id=ctx.actor.user_id,
            changes=changes,
        )
    )


def record_creation(ctx: Ctx, resource: str, obj: Any, fields: list[str]) -> None:
    changes = {f: {"old": None, "new": jsonable(getattr(obj, f))} for f in fields}
    record_change(ctx, resource, obj.id, "created", changes)


VISIBLE_RECORDS = "sen.visible_records"  # session.info: (model, id) made or checked


def mark_visible(ctx: Ctx, model: Any, record_id: uuid.UUID) -> None:
    """This transaction made the record (its owner checked) or found it visible, so
    `records.check_visible` needs no query for it."""
    ctx.session.info.setdefault(VISIBLE_RECORDS, set()).add((model, record_id))


_INSERTS: dict[Any, Any] = {}


def _insert_with_history_statement(model: Any) -> Any:
    """Built once per model, with bound parameters only, so each call just binds values
    (building `.values(...)` per call costs a fifth of a create's CPU)."""
    statement = _INSERTS.get(model)
    if statement is None:
        history = RecordChange.__table__
        logged = (
            insert(history)
            .values({c.name: bindparam(f"history_{c.name}", type_=c.type) for c in history.c})
            .cte("logged")
        )
        table = model.__table__
        statement = (
            insert(table)
            .values({c.name: bindparam(c.name, type_=c.type) for c in table.c})
            .add_cte(logged)
        )
        _INSERTS[model] = statement
    return statement


def _with_column_defaults(ctx: Ctx, model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Every column bound: the value given, else the column's Python default, else None; the
    record is the context's workspace's, created and updated at the same instant."""
    now = utcnow()
    complete = {"workspace_id": ctx.workspace_id, "created_at": now, "updated_at": now, **values}
    for column in model.__table__.c:
        if column.name in complete:
            continue
        default = column.default
        if default is None:
            complete[column.name] = None
        elif default.is_callable:
            complete[column.name] = default.arg(None)  # type: ignore[attr-defined]
        else:
            complete[column.name] = default.arg  # type: ignore[attr-defined]
    return complete


async def insert_with_history(
    ctx: Ctx, model: Any, values: dict[str, Any], *, resource: str, fields: list[str]
) -> SimpleNamespace:
    """INSERT a record and its `created` history row in one statement (the history row as a
    data-modifying CTE: one round trip, no unit of work). Columns missing from `values` take
    their Python default. Returns the stored values (what the new record reads as); the record
    is not in the session's identity map, so load it to change it in the same transaction."""
    values = _with_column_defaults(ctx, model, values)
    changes = {f: {"old": None, "new": jsonable(values.get(f))} for f in fields}
    params = {
        **values,
        "history_workspace_id": ctx.workspace_id,
        "history_id": new_id(),
        "history_resource": resource,
        "history_record_id": values["id"],
        "history_action": "created",
        "history_actor_id": ctx.actor.user_id,
        "history_at": utcnow(),
        "history_changes": changes,
    }
    await sql.execute(ctx, _insert_with_history_statement(model), params)
    mark_visible(ctx, model, values["id"])  # its owner was checked: the actor may see it
    return SimpleNamespace(**values)


def apply_changes(ctx: Ctx, resource: str, obj: Any, values: dict[str, Any]) -> Changes:
    """Set the fields whose value differs and keep the diff; the caller flushes."""
    changes: Changes = {}
    for field, new in values.items():
        old = getattr(obj, field)
        if old != new:
            changes[field] = {"old": jsonable(old), "new": jsonable(new)}
            setattr(obj, field, new)
    if changes:
        obj.updated_at = utcnow()
        record_change(ctx, resource, obj.id, "updated", changes)
    return changes


class HistoryEntry(BaseModel):
    id: uuid.UUID
    at: datetime
    actor_id: uuid.UUID | None
    action: str = Field(examples=["updated"])
    changes: dict[str, dict[str, Any]] = Field(
        examples=[{"status": {"old": "new", "new": "contacted"}}]
    )


class History(Page[HistoryEntry]):
    """A record's changes, oldest first, a page at a time."""


class HistoryQuery(PageQuery):
    sort: ClassVar[str] = "at"  # oldest first: the record's life as it happened


HistoryQueryParams = Annotated[HistoryQuery, Query()]
_HISTORY_SORTS = {"at": RecordChange.at}


async def history_of(ctx: Ctx, resource: str, record_id: uuid.UUID, query: HistoryQuery) -> History:
    """One page of the record's changes, oldest first, keyset on (at, id) like every list,"""
    keyset = Keyset.of(query, _HISTORY_SORTS)
    stmt = select(
        RecordChange.id,
        RecordChange.at,
        RecordChange.actor_id,
        RecordChange.action,
        RecordChange.changes,
    ).where(
        RecordChange.workspace_id == ctx.workspace_id,
        RecordChange.resource == resource,
        RecordChange.record_id == record_id,
    )
    result = await ctx.session.execute(keyset.page_of(stmt, RecordChange.at, RecordChange.id))
    rows = keyset.rows(list(result.mappings()), "at")
    return History(
        data=[HistoryEntry.model_validate(dict(row)) for row in rows.data],
        next_cursor=rows.next_cursor,
    )
