"""The declarative base and the mixins every tenant table is made of.

Tenant tables are keyed `(workspace_id, id)` and reference each other with composite foreign keys
that include `workspace_id` (see docs/decisions/0001-tenancy.md).
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Table,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from app.core.ids import new_id

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


def table_of(model: type[Any]) -> Table:
    """A mapped class's Table (the declarative base types `__table__` as any FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class TenantMixin:
    """`(workspace_id, id)` primary key, so the table distributes by workspace_id unchanged."""

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SoftDeleteMixin:
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class VersionedMixin:
    """An integer `version` bumped on every UPDATE; a racing write with a stale one fails."""

    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.version}


class RecordMixin(TenantMixin, TimestampMixin, SoftDeleteMixin, VersionedMixin):
    """What a CRM record is made of (a lead, an account, ...): tenant key, timestamps, soft
    delete and version. The resource layer (app/core/records.py) works on these."""


def tenant_fk(
    columns: list[str],
    table: str,
    *,
    name: str | None = None,
    use_alter: bool = False,
    ondelete: str | None = None,
) -> ForeignKeyConstraint:
    """A composite FK `(workspace_id, *columns) -> table(workspace_id, id)`; `ondelete` for
    rows that are part of the one they point at (a scan's pairs go with the scan)."""
    return ForeignKeyConstraint(
        ["workspace_id", *columns],
        [f"{table}.workspace_id", f"{table}.id"],
        name=name,
        use_alter=use_alter,
        ondelete=ondelete,
    )


def referring_index(table: str, column: str, *, nullable: bool = True) -> Index:
    """The index a reference `(workspace_id, column)` of `table` needs: deleting or merging the
    row it points at looks for the rows pointing at it, without it a scan of the workspace's
    rows each time (tests/core/test_tenancy.py checks every reference has one). A nullable
    reference indexes only the rows that point somewhere."""
    where = text(f"{column} IS NOT NULL") if nullable else None
    return Index(f"ix_{table}_{column}", "workspace_id", column, postgresql_where=where)


# For a GIN index that every write's own check reads (the duplicate rules' look-ups): GIN
# keeps new entries in a pending list that each search reads through, unsorted, until a
# vacuum merges it. Under a stream of creates that list grows faster than autovacuum empties
# it, and a look-up that takes 0.25 ms on a merged index took 3 to 5 ms.
LOOKED_UP_ON_EVERY_WRITE = {"fastupdate": "off"}
