import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, TenantMixin, TimestampMixin, referring_index, tenant_fk


class Export(TenantMixin, TimestampMixin, Base):
    """One spreadsheet of records someone asked for: what they asked (resource, format,
    filters, columns, header language), how far the worker got, and the file it wrote."""

    __tablename__ = "exports"
    __table_args__ = (
        tenant_fk(["requested_by"], "users"),
        referring_index("exports", "requested_by", nullable=False),
        ForeignKeyConstraint(
            ["workspace_id", "file_id"],
            ["stored_files.workspace_id", "stored_files.id"],
            name="fk_exports_file_id_stored_files",
        ),
        referring_index("exports", "file_id"),
        Index("ix_exports_recent", "workspace_id", "created_at", "id"),
        # The nightly sweep's question: which files have outlived SEN_EXPORT_TTL_HOURS.
        Index(
            "ix_exports_expiring",
            "workspace_id",
            "expires_at",
            postgresql_where=text("file_id IS NOT NULL"),
        ),
        # The every-minute sweep's question: which exports still wait for a worker.
        Index(
            "ix_exports_waiting",
            "workspace_id",
            "created_at",
            postgresql_where=text("status = 'queued'"),
        ),
    )

    requested_by: Mapped[uuid.UUID]
    resource: Mapped[str] = mapped_column(String(12))  # lead, contact, account, deal
    format: Mapped[str] = mapped_column(String(4))  # xlsx, csv
    lang: Mapped[str] = mapped_column(String(2), default="en")
    # The list query's parameters, as validated when it was asked for (run again by the job).
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    columns: Mapped[list[str]] = mapped_column(ARRAY(String(80)))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    rows: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
