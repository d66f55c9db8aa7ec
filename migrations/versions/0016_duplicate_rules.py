"""duplicate rules and scans: each workspace's rules (seeded with the defaults new workspaces get),
the scans that look for duplicates among old records (their pairs and groups), and the
keys they compare stored beside leads, contacts and accounts (`email_key`, `name_key`,
`company_key`), indexed so candidates never come from a scan; filled here for the records that
exist. A change to a rule bumps the workspace's settings version (as users and teams do: 0008),
which retires every API process's cached copy of the rules.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 13:52:38
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The keys are the app's own normalisation (folding Vietnamese, Gmail's dots): there is one
# definition of them, and a backfill that disagreed with it would hide duplicates.
from app.core.match_keys import company_key, email_key, name_key

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"
# Trigram similarity (`%`) as an index condition under row-level security needs a LEAKPROOF
# function, as LIKE did in 0001 (same caveat: a superuser is needed; without one, candidate
# look-ups by name stay correct, only slower).
LEAKPROOF_FUNCTIONS = ["public.similarity_op(text, text)"]
SAME_EMAIL = [{"fields": ["email"], "match": "exact"}]
SAME_PHONE = [{"fields": ["phone"], "match": "exact"}]
SIMILAR_PERSON = [
    {"fields": ["full_name"], "match": "fuzzy", "threshold": 0.9},
    {"fields": ["company_name"], "match": "fuzzy", "threshold": 0.85},
]
DEFAULT_RULES = [
    *(
        (kind, name, criteria)
        for kind in ("lead", "contact")
        for name, criteria in (
            ("Cùng email", SAME_EMAIL),
            ("Cùng số điện thoại", SAME_PHONE),
            ("Tên và công ty gần giống", SIMILAR_PERSON),
        )
    ),
    ("account", "Cùng mã số thuế", [{"fields": ["tax_code"], "match": "exact"}]),
    ("account", "Tên gần giống", [{"fields": ["name"], "match": "fuzzy", "threshold": 0.92}]),
]
BATCH = 2000


def _secure(table: str) -> None:
    # As 0013 does for its tables (a migration is frozen history: it imports no other one).
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO sen_app")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    wall = f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(
        f"CREATE POLICY workspace_wall ON {table} TO sen_app USING ({wall}) WITH CHECK ({wall})"
    )


def _set_leakproof(flag: str) -> None:
    for function in LEAKPROOF_FUNCTIONS:
        op.execute(f"""
            DO $$ BEGIN
                ALTER FUNCTION {function} {flag};
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE NOTICE 'not a superuser: {function} stays as it is (look-ups scan more)';
            END $$""")


def _seed_rules() -> None:
    connection = op.get_bind()
    now = datetime.now(UTC)
    workspaces = connection.execute(sa.text("SELECT id FROM workspaces")).scalars().all()
    insert = sa.text(
        "INSERT INTO duplicate_rules (workspace_id, id, resource, name, action, active,"
        " criteria, created_at, updated_at, version)"
        " VALUES (:w, :id, :resource, :name, 'warn', true, CAST(:criteria AS jsonb), :now,"
        " :now, 1)"
    )
    for workspace_id in workspaces:
        for resource, name, criteria in DEFAULT_RULES:
            connection.execute(
                insert,
                {"w": workspace_id, "id": uuid.uuid4(), "resource": resource, "name": name,
                 "criteria": json.dumps(criteria), "now": now},
            )  # fmt: skip


def _fill_keys(table: str, keys: dict[str, tuple[str, object]]) -> None:
    """Each row's keys from its own columns, a batch at a time, in primary-key order."""
    connection = op.get_bind()
    sources = sorted({source for source, _ in keys.values()})
    after: tuple[object, object] | None = None
    while True:
        where = "" if after is None else "WHERE (workspace_id, id) > (:w, :id)"
        rows = (
            connection.execute(
                sa.text(
                    f"SELECT workspace_id, id, {', '.join(sources)} FROM {table} {where}"
                    f" ORDER BY workspace_id, id LIMIT {BATCH}"
                ),
                {} if after is None else {"w": after[0], "id": after[1]},
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        updates = [
            {"w": row["workspace_id"], "id": row["id"],
             **{key: make(row[source]) for key, (source, make) in keys.items()}}
            for row in rows
        ]  # fmt: skip
        sets = ", ".join(f"{key} = :{key}" for key in keys)
        connection.execute(
            sa.text(f"UPDATE {table} SET {sets} WHERE workspace_id = :w AND id = :id"), updates
        )
        after = (rows[-1]["workspace_id"], rows[-1]["id"])


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "duplicate_rules",
        sa.Column("resource", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("criteria", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_duplicate_rules_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_duplicate_rules")),
    )
    op.create_index(
        "ix_duplicate_rules_resource", "duplicate_rules", ["workspace_id", "resource"], unique=False
    )
    _secure("duplicate_rules")
    op.create_table(
        "duplicate_scans",
        sa.Column("resource", sa.String(length=12), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("scanned", sa.Integer(), nullable=False),
        sa.Column("groups", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "requested_by"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_duplicate_scans_workspace_id_requested_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_duplicate_scans_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_duplicate_scans")),
    )
    op.create_index(
        "ix_duplicate_scans_recent",
        "duplicate_scans",
        ["workspace_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "duplicate_scan_groups",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("scan_id", sa.Uuid(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("records", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rules", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "scan_id"],
            ["duplicate_scans.workspace_id", "duplicate_scans.id"],
            name=op.f("fk_duplicate_scan_groups_workspace_id_scan_id_duplicate_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "scan_id", "rank", name=op.f("pk_duplicate_scan_groups")
        ),
    )
    op.create_table(
        "duplicate_scan_pairs",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("scan_id", sa.Uuid(), nullable=False),
        sa.Column("first", sa.String(length=60), nullable=False),
        sa.Column("second", sa.String(length=60), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "scan_id"],
            ["duplicate_scans.workspace_id", "duplicate_scans.id"],
            name=op.f("fk_duplicate_scan_pairs_workspace_id_scan_id_duplicate_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "scan_id", "first", "second", name=op.f("pk_duplicate_scan_pairs")
        ),
    )
    for table in ("duplicate_scans", "duplicate_scan_pairs", "duplicate_scan_groups"):
        _secure(table)
    op.execute(
        "CREATE TRIGGER duplicate_rules_bump_settings_version AFTER INSERT OR UPDATE OR DELETE"
        " ON duplicate_rules FOR EACH ROW EXECUTE FUNCTION sen_bump_settings_version()"
    )
    op.add_column("accounts", sa.Column("email_key", sa.String(length=254), nullable=True))
    op.add_column("accounts", sa.Column("name_key", sa.String(length=200), nullable=True))
    op.create_index(
        "ix_accounts_email_key",
        "accounts",
        ["workspace_id", "email_key"],
        unique=False,
        postgresql_where=sa.text("email_key IS NOT NULL"),
    )
    op.create_index(
        "ix_accounts_name_key",
        "accounts",
        ["name_key"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name_key": "gin_trgm_ops"},
    )
    op.add_column("contacts", sa.Column("email_key", sa.String(length=254), nullable=True))
    op.add_column("contacts", sa.Column("name_key", sa.String(length=200), nullable=True))
    op.create_index(
        "ix_contacts_email_key",
        "contacts",
        ["workspace_id", "email_key"],
        unique=False,
        postgresql_where=sa.text("email_key IS NOT NULL"),
    )
    op.create_index(
        "ix_contacts_name_key",
        "contacts",
        ["name_key"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name_key": "gin_trgm_ops"},
    )
    op.add_column("leads", sa.Column("email_key", sa.String(length=254), nullable=True))
    op.add_column("leads", sa.Column("name_key", sa.String(length=200), nullable=True))
    op.add_column("leads", sa.Column("company_key", sa.String(length=200), nullable=True))
    op.create_index(
        "ix_leads_email_key",
        "leads",
        ["workspace_id", "email_key"],
        unique=False,
        postgresql_where=sa.text("email_key IS NOT NULL"),
    )
    op.create_index(
        "ix_leads_name_key",
        "leads",
        ["name_key"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name_key": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_leads_company_key",
        "leads",
        ["company_key"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"company_key": "gin_trgm_ops"},
    )
    # ### end Alembic commands ###
    _set_leakproof("LEAKPROOF")
    _seed_rules()
    person = {"email_key": ("email", email_key), "name_key": ("full_name", name_key)}
    _fill_keys("leads", {**person, "company_key": ("company_name", company_key)})
    _fill_keys("contacts", person)
    _fill_keys("accounts", {"email_key": ("email", email_key), "name_key": ("name", company_key)})


def downgrade() -> None:
    _set_leakproof("NOT LEAKPROOF")
    op.drop_table("duplicate_scan_pairs")
    op.drop_table("duplicate_scan_groups")
    op.drop_index("ix_duplicate_scans_recent", table_name="duplicate_scans")
    op.drop_table("duplicate_scans")
    op.drop_index("ix_leads_company_key", table_name="leads")
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index(
        "ix_leads_name_key",
        table_name="leads",
        postgresql_using="gin",
        postgresql_ops={"name_key": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_leads_email_key", table_name="leads", postgresql_where=sa.text("email_key IS NOT NULL")
    )
    op.drop_column("leads", "company_key")
    op.drop_column("leads", "name_key")
    op.drop_column("leads", "email_key")
    op.drop_index(
        "ix_contacts_name_key",
        table_name="contacts",
        postgresql_using="gin",
        postgresql_ops={"name_key": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_contacts_email_key",
        table_name="contacts",
        postgresql_where=sa.text("email_key IS NOT NULL"),
    )
    op.drop_column("contacts", "name_key")
    op.drop_column("contacts", "email_key")
    op.drop_index(
        "ix_accounts_name_key",
        table_name="accounts",
        postgresql_using="gin",
        postgresql_ops={"name_key": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_accounts_email_key",
        table_name="accounts",
        postgresql_where=sa.text("email_key IS NOT NULL"),
    )
    op.drop_column("accounts", "name_key")
    op.drop_column("accounts", "email_key")
    op.drop_index("ix_duplicate_rules_resource", table_name="duplicate_rules")
    op.drop_table("duplicate_rules")
    # ### end Alembic commands ###
