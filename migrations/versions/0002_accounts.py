"""accounts: organisations with a hierarchy, behind the workspace wall like every tenant table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 07:12:05.031532
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"


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
        "accounts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=12), nullable=False),
        sa.Column("tax_code", sa.String(length=14), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("size", sa.String(length=40), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("province", sa.String(length=100), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("custom_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "owner_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_accounts_workspace_id_owner_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "parent_id"],
            ["accounts.workspace_id", "accounts.id"],
            name=op.f("fk_accounts_workspace_id_parent_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_accounts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_accounts")),
    )
    op.create_index(
        "ix_accounts_email",
        "accounts",
        ["workspace_id", sa.literal_column("lower(email)")],
        unique=False,
    )
    op.create_index(
        "ix_accounts_name",
        "accounts",
        ["workspace_id", "name", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_accounts_owner_recent",
        "accounts",
        ["workspace_id", "owner_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_accounts_parent", "accounts", ["workspace_id", "parent_id"], unique=False)
    op.create_index(
        "ix_accounts_phone_e164", "accounts", ["workspace_id", "phone_e164"], unique=False
    )
    op.create_index(
        "ix_accounts_recent",
        "accounts",
        ["workspace_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_accounts_search_text",
        "accounts",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index("ix_accounts_tags", "accounts", ["tags"], unique=False, postgresql_using="gin")
    op.create_index("ix_accounts_tax_code", "accounts", ["workspace_id", "tax_code"], unique=False)
    _secure("accounts")


def downgrade() -> None:
    op.drop_index("ix_accounts_tax_code", table_name="accounts")
    op.drop_index("ix_accounts_tags", table_name="accounts", postgresql_using="gin")
    op.drop_index(
        "ix_accounts_search_text",
        table_name="accounts",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_accounts_recent", table_name="accounts", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index("ix_accounts_phone_e164", table_name="accounts")
    op.drop_index("ix_accounts_parent", table_name="accounts")
    op.drop_index(
        "ix_accounts_owner_recent",
        table_name="accounts",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_accounts_name", table_name="accounts", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index("ix_accounts_email", table_name="accounts")
    op.drop_table("accounts")
