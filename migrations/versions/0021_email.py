"""email: templates, the workspace's SMTP server (one row a workspace) and every email sent
about a record, with what became of it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 17:17:32.731149
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_WORKSPACE = "NULLIF(current_setting('sen.workspace_id', true), '')::uuid"
TABLES = ["email_templates", "mail_settings", "emails"]


def _secure(table: str) -> None:
    # As 0017 does for its tables (a migration is frozen history: it imports no other one).
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO sen_app")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    wall = f"workspace_id = {CURRENT_WORKSPACE}"
    op.execute(
        f"CREATE POLICY workspace_wall ON {table} TO sen_app USING ({wall}) WITH CHECK ({wall})"
    )


def upgrade() -> None:
    op.create_table(
        "email_templates",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_email_templates_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_email_templates")),
    )
    op.create_index(
        "ix_email_templates_name", "email_templates", ["workspace_id", "name", "id"], unique=False
    )
    op.create_index(
        "ix_email_templates_recent",
        "email_templates",
        ["workspace_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "mail_settings",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(length=8), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=True),
        sa.Column("password", sa.String(length=500), nullable=True),
        sa.Column("from_email", sa.String(length=254), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("per_minute", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("check_status", sa.String(length=8), nullable=True),
        sa.Column("check_error", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_mail_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_mail_settings")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_mail_settings_workspace_id")),
    )
    op.create_table(
        "emails",
        sa.Column("record_type", sa.String(length=8), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "activity_id"],
            ["activities.workspace_id", "activities.id"],
            name=op.f("fk_emails_workspace_id_activity_id_activities"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "template_id"],
            ["email_templates.workspace_id", "email_templates.id"],
            name=op.f("fk_emails_workspace_id_template_id_email_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_emails_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_emails")),
    )
    op.create_index(
        "ix_emails_record",
        "emails",
        ["workspace_id", "record_type", "record_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_emails_waiting",
        "emails",
        ["workspace_id", "next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'queued'"),
    )
    for table in TABLES:
        _secure(table)


def downgrade() -> None:
    op.drop_index(
        "ix_emails_waiting", table_name="emails", postgresql_where=sa.text("status = 'queued'")
    )
    op.drop_index("ix_emails_record", table_name="emails")
    op.drop_table("emails")
    op.drop_table("mail_settings")
    op.drop_index("ix_email_templates_recent", table_name="email_templates")
    op.drop_index("ix_email_templates_name", table_name="email_templates")
    op.drop_table("email_templates")
