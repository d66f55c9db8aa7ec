import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKeyConstraint, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, TenantMixin, TimestampMixin, referring_index, tenant_fk


class Import(TenantMixin, TimestampMixin, Base):
    """One uploaded spreadsheet being turned into leads, contacts or accounts: what was asked
    (resource, mapping, dedupe policy, dry run), the file, and how far the worker got. The
    counters and `processed_rows` change in the same transaction as the rows they count, so
    a worker killed between batches resumes at `processed_rows` and repeats nothing."""

    __tablename__ = "imports"
    __table_args__ = (
        tenant_fk(["requested_by"], "users"),
        referring_index("imports", "requested_by", nullable=False),
        ForeignKeyConstraint(
            ["workspace_id", "file_id"],
            ["stored_files.workspace_id", "stored_files.id"],
            name="fk_imports_file_id_stored_files",
        ),
        referring_index("imports", "file_id"),
        Index("ix_imports_recent", "workspace_id", "created_at", "id"),
        # The every-minute sweep's question: which imports wait for a worker, or lost theirs.
        Index(
            "ix_imports_unfinished",
            "workspace_id",
            "updated_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    requested_by: Mapped[uuid.UUID]
    resource: Mapped[str] = mapped_column(String(12))  # lead, contact, account
    filename: Mapped[str] = mapped_column(String(255))
    file_id: Mapped[uuid.UUID | None]
    # Every header of the file in column order (the errors file repeats them), and the
    # ColumnMapping the rows are read with.
    headers: Mapped[list[str]] = mapped_column(JSONB)
    mapping: Mapped[dict[str, Any]] = mapped_column()
    dedupe_policy: Mapped[str] = mapped_column(String(8))  # skip, update, create
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    total_rows: Mapped[int | None] = mapped_column(Integer)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportFailure(Base):
    """A row an import could not save: its cells as the file had them and why, for the errors
    spreadsheet. Written in its batch's transaction; the row number is the key, so a batch
    can never record a row twice."""

    __tablename__ = "import_failures"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "import_id"],
            ["imports.workspace_id", "imports.id"],
            ondelete="CASCADE",
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    cells: Mapped[dict[str, Any]] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
