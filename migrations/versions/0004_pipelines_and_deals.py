"""pipelines with their stages, deals and their stage moves, behind the workspace wall; every
existing workspace gets the default sales pipeline new ones are seeded with.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 07:27:43.641284
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import uuid_utils.compat
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"
TABLES = ["pipelines", "pipeline_stages", "deals", "deal_stage_changes"]
# The default pipeline as of this revision (app/pipelines/service.py seeds new workspaces).
DEFAULT_PIPELINE = "Bán hàng"
DEFAULT_STAGES = [
    ("Tiếp cận", "Prospecting", 10, "open"),
    ("Đánh giá nhu cầu", "Qualification", 25, "open"),
    ("Gửi báo giá", "Proposal", 50, "open"),
    ("Thương lượng", "Negotiation", 75, "open"),
    ("Thắng", "Won", 100, "won"),
    ("Thua", "Lost", 0, "lost"),
]


def _secure(table: str) -> None:
    # As 0001 does for its tables (a migration is frozen history: it imports no other one).
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO sen_app")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    wall = f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(
        f"CREATE POLICY workspace_wall ON {table} TO sen_app USING ({wall}) WITH CHECK ({wall})"
    )


def _seed_default_pipelines() -> None:
    """Workspaces made before this revision get the pipeline new ones start with."""
    connection = op.get_bind()
    workspaces = connection.execute(sa.text("SELECT id FROM workspaces")).scalars().all()
    now = datetime.now(UTC)
    for workspace_id in workspaces:
        pipeline_id = uuid_utils.compat.uuid7()
        connection.execute(
            sa.text(
                "INSERT INTO pipelines (workspace_id, id, name, is_default, created_at,"
                " updated_at, version) VALUES (:w, :id, :name, true, :now, :now, 1)"
            ),
            {"w": workspace_id, "id": pipeline_id, "name": DEFAULT_PIPELINE, "now": now},
        )
        for position, (name, name_en, probability, kind) in enumerate(DEFAULT_STAGES, start=1):
            connection.execute(
                sa.text(
                    "INSERT INTO pipeline_stages (workspace_id, id, pipeline_id, name, name_en,"
                    " position, probability, kind, is_active, created_at, updated_at)"
                    " VALUES (:w, :id, :p, :name, :name_en, :position, :probability, :kind,"
                    " true, :now, :now)"
                ),
                {
                    "w": workspace_id, "id": uuid_utils.compat.uuid7(), "p": pipeline_id,
                    "name": name, "name_en": name_en, "position": position * 10,
                    "probability": probability, "kind": kind, "now": now,
                },
            )  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_pipelines_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_pipelines")),
    )
    op.create_index(
        "uq_pipelines_default",
        "pipelines",
        ["workspace_id"],
        unique=True,
        postgresql_where=sa.text("is_default AND deleted_at IS NULL"),
    )
    op.create_table(
        "pipeline_stages",
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("name_en", sa.String(length=80), nullable=True),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("probability", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "pipeline_id"],
            ["pipelines.workspace_id", "pipelines.id"],
            name=op.f("fk_pipeline_stages_workspace_id_pipeline_id_pipelines"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_pipeline_stages_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_pipeline_stages")),
        sa.UniqueConstraint(
            "workspace_id",
            "pipeline_id",
            "id",
            name=op.f("uq_pipeline_stages_workspace_id_pipeline_id_id"),
        ),
    )
    op.create_table(
        "deals",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("stage_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("probability", sa.SmallInteger(), nullable=False),
        sa.Column("expected_close_date", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=4), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lost_reason", sa.String(length=500), nullable=True),
        sa.Column("source_lead_id", sa.Uuid(), nullable=True),
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
            ["workspace_id", "account_id"],
            ["accounts.workspace_id", "accounts.id"],
            name=op.f("fk_deals_workspace_id_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "contact_id"],
            ["contacts.workspace_id", "contacts.id"],
            name=op.f("fk_deals_workspace_id_contact_id_contacts"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "owner_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_deals_workspace_id_owner_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "pipeline_id", "stage_id"],
            ["pipeline_stages.workspace_id", "pipeline_stages.pipeline_id", "pipeline_stages.id"],
            name="fk_deals_stage_of_pipeline",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "pipeline_id"],
            ["pipelines.workspace_id", "pipelines.id"],
            name=op.f("fk_deals_workspace_id_pipeline_id_pipelines"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "source_lead_id"],
            ["leads.workspace_id", "leads.id"],
            name=op.f("fk_deals_workspace_id_source_lead_id_leads"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_deals_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_deals")),
    )
    op.create_index("ix_deals_account", "deals", ["workspace_id", "account_id"], unique=False)
    op.create_index("ix_deals_contact", "deals", ["workspace_id", "contact_id"], unique=False)
    op.create_index(
        "ix_deals_expected_close",
        "deals",
        ["workspace_id", "expected_close_date", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_deals_owner_recent",
        "deals",
        ["workspace_id", "owner_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_deals_recent",
        "deals",
        ["workspace_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(
        "ix_deals_search_text",
        "deals",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_deals_stage_recent",
        "deals",
        ["workspace_id", "pipeline_id", "stage_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_deals_tags", "deals", ["tags"], unique=False, postgresql_using="gin")
    op.create_table(
        "deal_stage_changes",
        sa.Column("deal_id", sa.Uuid(), nullable=False),
        sa.Column("from_stage_id", sa.Uuid(), nullable=True),
        sa.Column("to_stage_id", sa.Uuid(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moved_by", sa.Uuid(), nullable=True),
        sa.Column("seconds_in_previous_stage", sa.Integer(), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "deal_id"],
            ["deals.workspace_id", "deals.id"],
            name=op.f("fk_deal_stage_changes_workspace_id_deal_id_deals"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "from_stage_id"],
            ["pipeline_stages.workspace_id", "pipeline_stages.id"],
            name=op.f("fk_deal_stage_changes_workspace_id_from_stage_id_pipeline_stages"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "to_stage_id"],
            ["pipeline_stages.workspace_id", "pipeline_stages.id"],
            name=op.f("fk_deal_stage_changes_workspace_id_to_stage_id_pipeline_stages"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_deal_stage_changes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_deal_stage_changes")),
    )
    op.create_index(
        "ix_deal_stage_changes_deal",
        "deal_stage_changes",
        ["workspace_id", "deal_id", "moved_at", "id"],
        unique=False,
    )
    for table in TABLES:
        _secure(table)
    _seed_default_pipelines()


def downgrade() -> None:
    op.drop_index("ix_deal_stage_changes_deal", table_name="deal_stage_changes")
    op.drop_table("deal_stage_changes")
    op.drop_index("ix_deals_tags", table_name="deals", postgresql_using="gin")
    op.drop_index(
        "ix_deals_stage_recent", table_name="deals", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index(
        "ix_deals_search_text",
        table_name="deals",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_deals_recent", table_name="deals", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index(
        "ix_deals_owner_recent", table_name="deals", postgresql_where=sa.text("deleted_at IS NULL")
    )
    op.drop_index(
        "ix_deals_expected_close",
        table_name="deals",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index("ix_deals_contact", table_name="deals")
    op.drop_index("ix_deals_account", table_name="deals")
    op.drop_table("deals")
    op.drop_table("pipeline_stages")
    op.drop_index(
        "uq_pipelines_default",
        table_name="pipelines",
        postgresql_where=sa.text("is_default AND deleted_at IS NULL"),
    )
    op.drop_table("pipelines")
