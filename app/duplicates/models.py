import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import (
    Base,
    RecordMixin,
    TenantMixin,
    TimestampMixin,
    referring_index,
    tenant_fk,
)


class DuplicateRule(RecordMixin, Base):
    """When two records of a kind are the same person or company: every criterion must hold.
    `action` `block` refuses the second (409 `duplicate`); `warn` asks first (409
    `possible_duplicate` unless `allow_duplicates=true`)."""

    __tablename__ = "duplicate_rules"
    __table_args__ = (Index("ix_duplicate_rules_resource", "workspace_id", "resource"),)

    resource: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(8), default="warn")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"fields": ["full_name"], "match": "fuzzy", "threshold": 0.9}, ...]
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class DuplicateScan(TenantMixin, TimestampMixin, Base):
    """A look through every live record of a kind for the duplicates the rules see among them
    (records that predate the rules, or came in while a rule was off), run by the worker a
    batch at a time: `last_id` is where the next batch starts, so a killed worker resumes."""

    __tablename__ = "duplicate_scans"
    __table_args__ = (
        tenant_fk(["requested_by"], "users"),
        referring_index("duplicate_scans", "requested_by", nullable=False),
        Index("ix_duplicate_scans_recent", "workspace_id", "created_at", "id"),
    )

    resource: Mapped[str] = mapped_column(String(12))
    requested_by: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(10), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    scanned: Mapped[int] = mapped_column(Integer, default=0)
    groups: Mapped[int] = mapped_column(Integer, default=0)
    last_id: Mapped[uuid.UUID | None]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class DuplicateScanPair(Base):
    """Two records a scan found the rules take for one another (each pair once)."""

    __tablename__ = "duplicate_scan_pairs"
    __table_args__ = (tenant_fk(["scan_id"], "duplicate_scans", ondelete="CASCADE"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scan_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    first: Mapped[str] = mapped_column(String(60), primary_key=True)  # "lead:<id>"
    second: Mapped[str] = mapped_column(String(60), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    rule: Mapped[str] = mapped_column(String(200))


class DuplicateScanGroup(Base):
    """Records a scan found to be one person or company (pairs joined transitively), in rank
    order: the strongest first."""

    __tablename__ = "duplicate_scan_groups"
    __table_args__ = (tenant_fk(["scan_id"], "duplicate_scans", ondelete="CASCADE"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    scan_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    records: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # [{resource, id}]
    score: Mapped[float] = mapped_column(Float)
    rules: Mapped[list[str]] = mapped_column(JSONB)
