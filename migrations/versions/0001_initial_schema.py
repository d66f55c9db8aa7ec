"""initial schema: workspaces, users, teams, API keys, leads, lead statuses, custom fields,
history and idempotency keys; the app roles, their grants and row-level security.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 04:56:42.449007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TENANT_TABLES = [
    "teams",
    "users",
    "api_keys",
    "lead_statuses",
    "leads",
    "custom_field_definitions",
    "record_changes",
    "idempotency_keys",
]
# Credentials are looked up before the workspace is known (login by email, API key by prefix).
AUTH_LOOKUP_TABLES = ["users", "api_keys"]
CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"


def _create_role(name: str) -> None:
    # Roles are cluster-wide: another database (or a parallel test run) may have made it.
    op.execute(f"""
        DO $$ BEGIN
            CREATE ROLE {name} NOLOGIN NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$""")
    op.execute(f"""
        DO $$ BEGIN
            EXECUTE format('GRANT {name} TO %I', current_user);
        EXCEPTION WHEN duplicate_object OR invalid_grant_operation THEN NULL;
        END $$""")


# Under row-level security PostgreSQL uses an operator in an index condition only if its
# function is LEAKPROOF; LIKE (q) and array containment (tags) are not marked so, which would
# turn every search into "all the workspace's rows, then filter". They are marked here, for this
# database only. The caveat: `textlike` raises for a pattern ending in the escape character, so
# a query that used a *column* as the LIKE pattern could learn that some hidden row's value
# ends in a backslash. Sen's queries only ever pass a bound pattern (app/core/search.py:
# `column LIKE :pattern`). Needs a superuser; without one the migration says so and searches
# stay correct, only slower. A pg_dump does not carry the marking: re-run it after a restore.
LEAKPROOF_FUNCTIONS = [
    "pg_catalog.textlike(text, text)",
    "pg_catalog.arraycontains(anyarray, anyarray)",
]


def _set_leakproof(flag: str) -> None:
    for function in LEAKPROOF_FUNCTIONS:
        op.execute(f"""
            DO $$ BEGIN
                ALTER FUNCTION {function} {flag};
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE NOTICE 'not a superuser: {function} stays as it is (searches scan more)';
            END $$""")


def _secure(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    wall = f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(
        f"CREATE POLICY workspace_wall ON {table} TO sen_app USING ({wall}) WITH CHECK ({wall})"
    )


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    _set_leakproof("LEAKPROOF")
    _create_role("sen_app")
    _create_role("sen_auth")

    op.create_table(
        "workspaces",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settings_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.create_table(
        "custom_field_definitions",
        sa.Column("resource", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("type", sa.String(length=12), nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_custom_field_definitions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_custom_field_definitions")),
        sa.UniqueConstraint(
            "workspace_id",
            "resource",
            "key",
            name=op.f("uq_custom_field_definitions_workspace_id_resource_key"),
        ),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_idempotency_keys_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "workspace_id", "scope", "key", name=op.f("uq_idempotency_keys_workspace_id_scope_key")
        ),
    )
    op.create_table(
        "lead_statuses",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("label_vi", sa.String(length=80), nullable=False),
        sa.Column("label_en", sa.String(length=80), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_lead_statuses_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_lead_statuses")),
        sa.UniqueConstraint("workspace_id", "key", name=op.f("uq_lead_statuses_workspace_id_key")),
    )
    op.create_table(
        "record_changes",
        sa.Column("resource", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_record_changes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_record_changes")),
    )
    op.create_index(
        "ix_record_changes_record",
        "record_changes",
        ["workspace_id", "resource", "record_id", "at", "id"],
        unique=False,
    )
    op.create_table(
        "teams",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("manager_id", sa.Uuid(), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_teams_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_teams")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_teams_workspace_id_name")),
    )
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "team_id"], ["teams.workspace_id", "teams.id"], name="fk_users_team"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_users_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_users")),
    )
    op.create_index(
        "ix_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=False
    )
    op.create_index(
        "uq_users_workspace_id_email",
        "users",
        ["workspace_id", sa.literal_column("lower(email)")],
        unique=True,
    )
    op.create_table(
        "api_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "user_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_api_keys_workspace_id_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_api_keys_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("workspace_id", "prefix", name=op.f("uq_api_keys_workspace_id_prefix")),
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"], unique=False)
    op.create_table(
        "leads",
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("phone_e164", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("qualification", sa.String(length=8), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("province", sa.String(length=100), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("utm_source", sa.String(length=200), nullable=True),
        sa.Column("utm_medium", sa.String(length=200), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("utm_term", sa.String(length=200), nullable=True),
        sa.Column("utm_content", sa.String(length=200), nullable=True),
        sa.Column("custom_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
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
            name=op.f("fk_leads_workspace_id_owner_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "status"],
            ["lead_statuses.workspace_id", "lead_statuses.key"],
            name="fk_leads_status_lead_statuses",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_leads_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_leads")),
    )
    op.create_index(
        "ix_leads_email", "leads", ["workspace_id", sa.literal_column("lower(email)")], unique=False
    )
    op.create_index(
        "ix_leads_owner_recent",
        "leads",
        ["workspace_id", "owner_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_leads_phone_e164", "leads", ["workspace_id", "phone_e164"], unique=False)
    op.create_index(
        "ix_leads_recent",
        "leads",
        ["workspace_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_leads_search_text",
        "leads",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_leads_status_recent",
        "leads",
        ["workspace_id", "status", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_leads_tags", "leads", ["tags"], unique=False, postgresql_using="gin")
    op.create_foreign_key(
        "fk_teams_manager", "teams", "users", ["workspace_id", "manager_id"], ["workspace_id", "id"]
    )

    op.execute("GRANT USAGE ON SCHEMA public TO sen_app, sen_auth")
    op.execute("GRANT SELECT, INSERT ON workspaces TO sen_app")
    op.execute("GRANT UPDATE (settings_version) ON workspaces TO sen_app")
    op.execute("CREATE SEQUENCE workspace_settings_versions")
    op.execute("GRANT USAGE ON SEQUENCE workspace_settings_versions TO sen_app")
    op.execute("ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY workspace_wall ON workspaces TO sen_app "
        f"USING (id = {CURRENT_WORKSPACE}) WITH CHECK (id = {CURRENT_WORKSPACE})"
    )
    for table in TENANT_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO sen_app")
        _secure(table)
    for table in AUTH_LOOKUP_TABLES:
        op.execute(f"GRANT SELECT ON {table} TO sen_auth")
        op.execute(
            f"CREATE POLICY credential_lookup ON {table} FOR SELECT TO sen_auth USING (true)"
        )


def downgrade() -> None:
    _set_leakproof("NOT LEAKPROOF")
    op.drop_constraint("fk_teams_manager", "teams", type_="foreignkey")
    op.drop_index("ix_leads_tags", table_name="leads", postgresql_using="gin")
    op.drop_index(
        "ix_leads_status_recent", table_name="leads", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index(
        "ix_leads_search_text",
        table_name="leads",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_leads_recent", table_name="leads", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index("ix_leads_phone_e164", table_name="leads")
    op.drop_index(
        "ix_leads_owner_recent", table_name="leads", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index("ix_leads_email", table_name="leads")
    op.drop_table("leads")
    op.drop_index("ix_api_keys_prefix", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("uq_users_workspace_id_email", table_name="users")
    op.drop_index("ix_users_email_lower", table_name="users")
    op.drop_table("users")
    op.drop_table("teams")
    op.drop_index("ix_record_changes_record", table_name="record_changes")
    op.drop_table("record_changes")
    op.drop_table("lead_statuses")
    op.drop_table("idempotency_keys")
    op.drop_table("custom_field_definitions")
    op.drop_table("workspaces")
    op.execute("DROP SEQUENCE workspace_settings_versions")
