"""campaigns, web forms, intake submissions and assignment rules; leads carry their campaign,
form, submission and click ids; a notification may be about a lead. The public intake endpoint
finds a form by its key as sen_auth, before it knows the workspace (as a login finds a user).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:38:16.084376
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"
TABLES = ["campaigns", "assignment_rules", "forms", "submissions"]


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
        "campaigns",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("budget", sa.Numeric(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_campaigns_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("workspace_id", "key", name=op.f("uq_campaigns_workspace_id_key")),
    )
    op.create_index("ix_campaigns_name", "campaigns", ["workspace_id", "name", "id"], unique=False)
    op.create_index(
        "ix_campaigns_recent", "campaigns", ["workspace_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_campaigns_starts_on", "campaigns", ["workspace_id", "starts_on", "id"], unique=False
    )
    op.create_table(
        "assignment_rules",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("strategy", sa.String(length=12), nullable=False),
        sa.Column("user_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "team_id"],
            ["teams.workspace_id", "teams.id"],
            name=op.f("fk_assignment_rules_workspace_id_team_id_teams"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_assignment_rules_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_assignment_rules")),
    )
    op.create_index(
        "ix_assignment_rules_priority",
        "assignment_rules",
        ["workspace_id", "priority", "id"],
        unique=False,
    )
    op.create_index(
        "ix_assignment_rules_recent",
        "assignment_rules",
        ["workspace_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "forms",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("mapping", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=True),
        sa.Column("default_source", sa.String(length=20), nullable=False),
        sa.Column("default_status", sa.String(length=40), nullable=True),
        sa.Column("default_owner_id", sa.Uuid(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("allowed_origins", postgresql.ARRAY(sa.String(length=300)), nullable=False),
        sa.Column("honeypot_field", sa.String(length=64), nullable=False),
        sa.Column("redirect_url", sa.String(length=2000), nullable=True),
        sa.Column("consent_text", sa.Text(), nullable=True),
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
            name=op.f("fk_forms_workspace_id_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "default_owner_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_forms_workspace_id_default_owner_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_forms_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_forms")),
        sa.UniqueConstraint("workspace_id", "key", name=op.f("uq_forms_workspace_id_key")),
    )
    op.create_index("ix_forms_key", "forms", ["key"], unique=False)
    op.create_index("ix_forms_name", "forms", ["workspace_id", "name", "id"], unique=False)
    op.create_index("ix_forms_recent", "forms", ["workspace_id", "created_at", "id"], unique=False)
    op.create_table(
        "submissions",
        sa.Column("provider", sa.String(length=12), nullable=False),
        sa.Column("form_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("duplicate_of_type", sa.String(length=8), nullable=True),
        sa.Column("duplicate_of_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "form_id"],
            ["forms.workspace_id", "forms.id"],
            name=op.f("fk_submissions_workspace_id_form_id_forms"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "lead_id"],
            ["leads.workspace_id", "leads.id"],
            name=op.f("fk_submissions_workspace_id_lead_id_leads"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_submissions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_submissions")),
    )
    op.create_index(
        "ix_submissions_form",
        "submissions",
        ["workspace_id", "form_id", "received_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_submissions_payload_kept",
        "submissions",
        ["workspace_id", "received_at"],
        unique=False,
        postgresql_where=sa.text("payload IS NOT NULL"),
    )
    op.create_index(
        "ix_submissions_recent", "submissions", ["workspace_id", "received_at", "id"], unique=False
    )
    op.create_index(
        "ix_submissions_status",
        "submissions",
        ["workspace_id", "status", "received_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_submissions_waiting",
        "submissions",
        ["workspace_id", "received_at"],
        unique=False,
        postgresql_where=sa.text("status = 'received'"),
    )
    op.add_column("leads", sa.Column("gclid", sa.String(length=200), nullable=True))
    op.add_column("leads", sa.Column("fbclid", sa.String(length=200), nullable=True))
    op.add_column("leads", sa.Column("campaign_id", sa.Uuid(), nullable=True))
    op.add_column("leads", sa.Column("form_id", sa.Uuid(), nullable=True))
    op.add_column("leads", sa.Column("submission_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_leads_campaign",
        "leads",
        ["workspace_id", "campaign_id"],
        unique=False,
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )
    op.create_index(
        "uq_leads_submission",
        "leads",
        ["workspace_id", "submission_id"],
        unique=True,
        postgresql_where=sa.text("submission_id IS NOT NULL"),
    )
    op.create_foreign_key(
        op.f("fk_leads_workspace_id_form_id_forms"),
        "leads",
        "forms",
        ["workspace_id", "form_id"],
        ["workspace_id", "id"],
    )
    op.create_foreign_key(
        op.f("fk_leads_workspace_id_campaign_id_campaigns"),
        "leads",
        "campaigns",
        ["workspace_id", "campaign_id"],
        ["workspace_id", "id"],
    )
    op.add_column("notifications", sa.Column("lead_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_notifications_workspace_id_lead_id_leads"),
        "notifications",
        "leads",
        ["workspace_id", "lead_id"],
        ["workspace_id", "id"],
    )
    for table in TABLES:
        _secure(table)
    # Only what routes a public post to its workspace: never the form's other columns.
    op.execute("GRANT SELECT (workspace_id, id, key, active, deleted_at) ON forms TO sen_auth")
    op.execute("CREATE POLICY credential_lookup ON forms FOR SELECT TO sen_auth USING (true)")


def downgrade() -> None:
    op.execute("DROP POLICY credential_lookup ON forms")
    op.execute("REVOKE SELECT (workspace_id, id, key, active, deleted_at) ON forms FROM sen_auth")
    op.drop_constraint(
        op.f("fk_notifications_workspace_id_lead_id_leads"), "notifications", type_="foreignkey"
    )
    op.drop_column("notifications", "lead_id")
    op.drop_constraint(
        op.f("fk_leads_workspace_id_campaign_id_campaigns"), "leads", type_="foreignkey"
    )
    op.drop_constraint(op.f("fk_leads_workspace_id_form_id_forms"), "leads", type_="foreignkey")
    op.drop_index(
        "uq_leads_submission",
        table_name="leads",
        postgresql_where=sa.text("submission_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_leads_campaign", table_name="leads", postgresql_where=sa.text("campaign_id IS NOT NULL")
    )
    op.drop_column("leads", "submission_id")
    op.drop_column("leads", "form_id")
    op.drop_column("leads", "campaign_id")
    op.drop_column("leads", "fbclid")
    op.drop_column("leads", "gclid")
    op.drop_index(
        "ix_submissions_waiting",
        table_name="submissions",
        postgresql_where=sa.text("status = 'received'"),
    )
    op.drop_index("ix_submissions_status", table_name="submissions")
    op.drop_index("ix_submissions_recent", table_name="submissions")
    op.drop_index(
        "ix_submissions_payload_kept",
        table_name="submissions",
        postgresql_where=sa.text("payload IS NOT NULL"),
    )
    op.drop_index("ix_submissions_form", table_name="submissions")
    op.drop_table("submissions")
    op.drop_index("ix_forms_recent", table_name="forms")
    op.drop_index("ix_forms_name", table_name="forms")
    op.drop_index("ix_forms_key", table_name="forms")
    op.drop_table("forms")
    op.drop_index("ix_assignment_rules_recent", table_name="assignment_rules")
    op.drop_index("ix_assignment_rules_priority", table_name="assignment_rules")
    op.drop_table("assignment_rules")
    op.drop_index("ix_campaigns_starts_on", table_name="campaigns")
    op.drop_index("ix_campaigns_recent", table_name="campaigns")
    op.drop_index("ix_campaigns_name", table_name="campaigns")
    op.drop_table("campaigns")
