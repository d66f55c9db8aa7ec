"""integrations: connections to ad platforms (Meta Lead Ads, Google Ads lead forms, TikTok) and
signed webhooks of any other source. A submission remembers its integration and the platform's
own id for the lead, unique per integration, so a redelivery is the same submission; a fetch
that failed for now (Meta's Graph API) waits for its retry. The public webhook endpoint finds an
integration by id as sen_auth, before it knows the workspace (as 0013 does for forms).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"
LOOKUP_COLUMNS = "workspace_id, id, provider, active, deleted_at"


def _secure(table: str) -> None:
    # As 0013 does for its tables (a migration is frozen history: it imports no other one).
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO sen_app")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    wall = f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(
        f"CREATE POLICY workspace_wall ON {table} TO sen_app USING ({wall}) WITH CHECK ({wall})"
    )


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("provider", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "campaign_id"],
            ["campaigns.workspace_id", "campaigns.id"],
            name=op.f("fk_integrations_workspace_id_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_integrations_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_integrations")),
    )
    op.create_index("ix_integrations_id", "integrations", ["id", "workspace_id"], unique=False)
    op.create_index(
        "ix_integrations_name", "integrations", ["workspace_id", "name", "id"], unique=False
    )
    op.create_index(
        "ix_integrations_recent", "integrations", ["workspace_id", "created_at", "id"], unique=False
    )
    op.add_column("submissions", sa.Column("integration_id", sa.Uuid(), nullable=True))
    op.add_column("submissions", sa.Column("external_id", sa.String(length=200), nullable=True))
    op.add_column(
        "submissions",
        sa.Column("retries", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    op.alter_column("submissions", "retries", server_default=None)
    op.add_column("submissions", sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_submissions_workspace_id_integration_id_integrations"),
        "submissions",
        "integrations",
        ["workspace_id", "integration_id"],
        ["workspace_id", "id"],
    )
    op.create_index(
        "ix_submissions_integration",
        "submissions",
        ["workspace_id", "integration_id", "received_at", "id"],
        unique=False,
    )
    op.create_index(
        "uq_submissions_external",
        "submissions",
        ["workspace_id", "integration_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    _secure("integrations")
    # Only what routes a webhook to its workspace: never the integration's config (secrets).
    op.execute(f"GRANT SELECT ({LOOKUP_COLUMNS}) ON integrations TO sen_auth")
    op.execute(
        "CREATE POLICY credential_lookup ON integrations FOR SELECT TO sen_auth USING (true)"
    )


def downgrade() -> None:
    op.execute("DROP POLICY credential_lookup ON integrations")
    op.execute(f"REVOKE SELECT ({LOOKUP_COLUMNS}) ON integrations FROM sen_auth")
    op.drop_index(
        "uq_submissions_external",
        table_name="submissions",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index("ix_submissions_integration", table_name="submissions")
    op.drop_constraint(
        op.f("fk_submissions_workspace_id_integration_id_integrations"),
        "submissions",
        type_="foreignkey",
    )
    op.drop_column("submissions", "retry_at")
    op.drop_column("submissions", "retries")
    op.drop_column("submissions", "external_id")
    op.drop_column("submissions", "integration_id")
    op.drop_index("ix_integrations_recent", table_name="integrations")
    op.drop_index("ix_integrations_name", table_name="integrations")
    op.drop_index("ix_integrations_id", table_name="integrations")
    op.drop_table("integrations")
