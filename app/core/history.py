"""Every change to a record is kept: who, when, which fields, old -> new. Written by the same
transaction as the change, so history can't disagree with the data."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core.context import Ctx
from app.core.models import Base, TenantMixin, utcnow

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
    if isinstance(value, uuid.UUID | Decimal):
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
    at: datetime
    actor_id: uuid.UUID | None
    action: str = Field(examples=["updated"])
    changes: dict[str, dict[str, Any]] = Field(
        examples=[{"status": {"old": "new", "new": "contacted"}}]
    )


class History(BaseModel):
    data: list[HistoryEntry]


async def history_of(ctx: Ctx, resource: str, record_id: uuid.UUID) -> History:
    """Oldest first: the record's life as it happened."""
    rows = await ctx.session.scalars(
        select(RecordChange)
        .where(RecordChange.resource == resource, RecordChange.record_id == record_id)
        .order_by(RecordChange.at, RecordChange.id)
    )
    return History(data=[HistoryEntry.model_validate(r, from_attributes=True) for r in rows])
