"""contacts and their links to accounts, behind the workspace wall like every tenant table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 07:14:21.511287
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
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
        "contacts",
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=True),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(length=8), nullable=True),
        sa.Column("province", sa.String(length=100), nullable=True),
        sa.Column("do_not_contact", sa.Boolean(), nullable=False),
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
            name=op.f("fk_contacts_workspace_id_owner_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_contacts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_contacts")),
    )
    op.create_index(
        "ix_contacts_email",
        "contacts",
        ["workspace_id", sa.literal_column("lower(email)")],
        unique=False,
    )
    op.create_index(
        "ix_contacts_full_name",
        "contacts",
        ["workspace_id", "full_name", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_contacts_owner_recent",
        "contacts",
        ["workspace_id", "owner_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_contacts_phone_e164", "contacts", ["workspace_id", "phone_e164"], unique=False
    )
    op.create_index(
        "ix_contacts_recent",
        "contacts",
        ["workspace_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_contacts_search_text",
        "contacts",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index("ix_contacts_tags", "contacts", ["tags"], unique=False, postgresql_using="gin")
    op.create_table(
        "account_contacts",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "account_id"],
            ["accounts.workspace_id", "accounts.id"],
            name=op.f("fk_account_contacts_workspace_id_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "contact_id"],
            ["contacts.workspace_id", "contacts.id"],
            name=op.f("fk_account_contacts_workspace_id_contact_id_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_account_contacts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_account_contacts")),
        sa.UniqueConstraint(
            "workspace_id",
            "contact_id",
            "account_id",
            name=op.f("uq_account_contacts_workspace_id_contact_id_account_id"),
        ),
    )
    op.create_index(
        "ix_account_contacts_account",
        "account_contacts",
        ["workspace_id", "account_id", "contact_id"],
        unique=False,
    )
    op.create_index(
        "uq_account_contacts_primary",
        "account_contacts",
        ["workspace_id", "contact_id"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )
    _secure("contacts")
    _secure("account_contacts")


def downgrade() -> None:
    op.drop_index(
        "uq_account_contacts_primary",
        table_name="account_contacts",
        postgresql_where=sa.text("is_primary"),
    )
    op.drop_index("ix_account_contacts_account", table_name="account_contacts")
    op.drop_table("account_contacts")
    op.drop_index("ix_contacts_tags", table_name="contacts", postgresql_using="gin")
    op.drop_index(
        "ix_contacts_search_text",
        table_name="contacts",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_contacts_recent", table_name="contacts", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index("ix_contacts_phone_e164", table_name="contacts")
    op.drop_index(
        "ix_contacts_owner_recent",
        table_name="contacts",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(
        "ix_contacts_full_name",
        table_name="contacts",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index("ix_contacts_email", table_name="contacts")
    op.drop_table("contacts")
