"""exports, and files kept in the database in chunks (an export's spreadsheet now, an import's
upload later): the API and the workers share no disk.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 13:48:45.164398
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"
TABLES = ["stored_files", "stored_file_chunks", "exports"]


def _secure(table: str) -> None:
    # As 0001 does for its tables (a migration is frozen history: it imports no other one).
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO sen_app")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    wall = f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(
        f"CREATE POLICY workspace_wall ON {table} TO sen_app USING ({wall}) WITH CHECK ({wall})"
    )


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_stored_files_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_stored_files")),
    )
    op.create_table(
        "stored_file_chunks",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "file_id"],
            ["stored_files.workspace_id", "stored_files.id"],
            name=op.f("fk_stored_file_chunks_workspace_id_file_id_stored_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "file_id", "seq", name=op.f("pk_stored_file_chunks")
        ),
    )
    op.create_table(
        "exports",
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("resource", sa.String(length=12), nullable=False),
        sa.Column("format", sa.String(length=4), nullable=False),
        sa.Column("lang", sa.String(length=2), nullable=False),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("columns", postgresql.ARRAY(sa.String(length=80)), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("file_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "file_id"],
            ["stored_files.workspace_id", "stored_files.id"],
            name="fk_exports_file_id_stored_files",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "requested_by"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_exports_workspace_id_requested_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_exports_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_exports")),
    )
    op.create_index(
        "ix_exports_expiring",
        "exports",
        ["workspace_id", "expires_at"],
        unique=False,
        postgresql_where=sa.text("file_id IS NOT NULL"),
    )
    op.create_index(
        "ix_exports_recent", "exports", ["workspace_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_exports_waiting",
        "exports",
        ["workspace_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'queued'"),
    )
    for table in TABLES:
        _secure(table)


def downgrade() -> None:
    op.drop_index(
        "ix_exports_waiting", table_name="exports", postgresql_where=sa.text("status = 'queued'")
    )
    op.drop_index("ix_exports_recent", table_name="exports")
    op.drop_index(
        "ix_exports_expiring", table_name="exports", postgresql_where=sa.text("file_id IS NOT NULL")
    )
    op.drop_table("exports")
    op.drop_table("stored_file_chunks")
    op.drop_table("stored_files")
