"""Every change to a record is kept: who, when, which fields, old -> new. Written by the same
transaction as the change, so history can't disagree with the data; each entry is also the
record's domain event (`lead.updated`: app/core/events.py), emitted here once for every domain."""

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, ClassVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Index, String, bindparam, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core import sql
from app.core.context import Ctx
from app.core.events import emit, emit_many
from app.core.ids import new_id
from app.core.models import Base, TenantMixin, table_of, utcnow
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


_CHANGES = table_of(RecordChange)
_INSERT_CHANGE = insert(_CHANGES).values(
    {c.name: bindparam(c.name, type_=c.type) for c in _CHANGES.c}
)


_AS_IS = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    if type(value) in _AS_IS:  # most values: no isinstance chain (a batch keeps thousands)
        return value
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
    """Keep one history entry, and emit its event (`lead.updated`: `resource.action`)."""
    emit(ctx, f"{resource}.{action}", resource, record_id, changes)
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


Redact = Callable[[str, Any], Any]


async def record_creations(
    ctx: Ctx,
    resource: str,
    created: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    *,
    redact: Redact | None = None,
) -> None:
    """The `created` entries of many records made together (an import's batch), each keeping
    `fields` as `record_creation` does (through `redact`), written in one round trip: every
    bulk creation's history goes through here. `created` are the records' stored values
    (`id` among them)."""
    at = utcnow()
    rows = [
        {
            "workspace_id": ctx.workspace_id,
            "id": new_id(),
            "resource": resource,
            "record_id": values["id"],
            "action": "created",
            "actor_id": ctx.actor.user_id,
            "at": at,
            "changes": {
                f: kept(f, None, values.get(f), redact)
                if redact is not None
                else {"old": None, "new": jsonable(values.get(f))}  # `kept`, one call less
                for f in fields
            },
        }
        for values in created
    ]
    await sql.execute_many(ctx, _INSERT_CHANGE, rows)
    await emit_many(
        ctx, f"{resource}.created", resource, [(r["record_id"], r["changes"]) for r in rows]
    )


def kept(field: str, old: Any, new: Any, redact: Redact | None = None) -> dict[str, Any]:
    """A field's change as history keeps it: JSON values, `redact`ed (secrets hidden)."""
    if redact is not None:
        old, new = redact(field, old), redact(field, new)
    return {"old": jsonable(old), "new": jsonable(new)}


def apply_changes(
    ctx: Ctx,
    resource: str,
    obj: Any,
    values: dict[str, Any],
    *,
    action: str = "updated",
    redact: Redact | None = None,
    sources: dict[str, Any] | None = None,
    extra: Changes | None = None,
) -> Changes:
    """Set the fields whose value differs and keep the diff as one `action` entry (each value
    through `redact`, when a field holds secrets); the caller flushes. `sources` names, per
    field, the record its new value came from (a merge's `from`); `extra` entries are kept in
    the same entry, and keep it even when no field changed."""
    changes: Changes = {}
    for field, new in values.items():
        old = getattr(obj, field)
        if old != new:
            changes[field] = kept(field, old, new, redact)
            setattr(obj, field, new)
    if changes or extra:
        entry = {
            field: {**change, "from": jsonable(sources[field])}
            if sources and field in sources else change
            for field, change in changes.items()
        }  # fmt: skip
        obj.updated_at = utcnow()
        record_change(ctx, resource, obj.id, action, {**entry, **(extra or {})})
    return changes


@dataclass(frozen=True)
class _Links:
    model: Any  # an owned record (`owner_id`): what the listed links point at
    key: str  # where each link keeps that record's id


_LINKS: dict[str, dict[str, _Links]] = {}  # resource -> history field -> what it links to


def register_links(resource: str, field: str, *, model: Any, key: str) -> None:
    """`resource`'s history keeps `field` as lists of links (`{key: id, …}`) to `model`
    records: a viewer is shown only the links to records they can see, as the record's own
    read shows them (a domain registers this; the core never imports a domain)."""
    _LINKS.setdefault(resource, {})[field] = _Links(model, key)


def _linked_ids(changes: list[Changes], field: str, key: str) -> set[str]:
    ids: set[str] = set()
    for change in changes:
        for side in change.get(field, {}).values():
            ids.update(str(link[key]) for link in side or ())
    return ids


async def _visible_ids(ctx: Ctx, model: Any, ids: set[str]) -> set[str]:
    table = model.__table__
    stmt = select(table.c.id).where(
        table.c.workspace_id == ctx.workspace_id, table.c.id.in_([uuid.UUID(i) for i in ids])
    )
    visible = ctx.actor.sees_rows_of(table)
    found = await ctx.session.scalars(stmt if visible is None else stmt.where(visible))
    return {str(i) for i in found}


async def visible_changes(ctx: Ctx, resource: str, changes: list[Changes]) -> list[Changes | None]:
    """Each change as the actor may see it: links to records hidden from them are taken out of
    the fields `register_links` named, a field left unchanged is dropped, and a change left
    with nothing is None (not shown). History and timelines both show changes through here.
    Actors who see every record (owners, admins) cost no query."""
    linked = _LINKS.get(resource)
    if not linked or ctx.actor.visible_owner_ids is None:
        return list(changes)
    visible: dict[str, set[str]] = {}
    for field, links in linked.items():
        ids = _linked_ids(changes, field, links.key)
        visible[field] = await _visible_ids(ctx, links.model, ids) if ids else set()
    shown_changes: list[Changes | None] = []
    for change in changes:
        shown = dict(change)
        for field, links in linked.items():
            if field not in shown:
                continue
            sides = {
                side: None if value is None else
                [link for link in value if str(link[links.key]) in visible[field]]
                for side, value in shown[field].items()
            }  # fmt: skip
            if sides.get("old") == sides.get("new"):
                del shown[field]
            else:
                shown[field] = sides
        shown_changes.append(shown if shown or not change else None)
    return shown_changes


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
    """One page of the record's changes, oldest first, keyset on (at, id) like every list,
    each shown as the actor may see it (`visible_changes`)."""
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
    shown = await visible_changes(ctx, resource, [row["changes"] for row in rows.data])
    return History(
        data=[
            HistoryEntry(
                id=row["id"], at=row["at"], actor_id=row["actor_id"], action=row["action"],
                changes=changes,
            )
            for row, changes in zip(rows.data, shown, strict=True)
            if changes is not None
        ],
        next_cursor=rows.next_cursor,
    )  # fmt: skip
