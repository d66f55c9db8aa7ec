"""an index under every reference: the rows pointing at a record are found without a scan.

Deleting a row looks for the rows still referring to it (a workspace's deletion does it for
every row it removes); a merge and a purge ask the same. 24 references had no index led by
their columns, so each look was a scan of the workspace's rows of the referring table. A
nullable reference indexes only the rows that point somewhere.

On a large installation, each can be built beforehand without blocking writes
(`CREATE INDEX CONCURRENTLY IF NOT EXISTS <name> …`, the definitions below): this migration
then finds it and moves on.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, referring column, nullable)
REFERENCES = [
    ("users", "team_id", True),
    ("api_keys", "user_id", False),
    ("leads", "converted_account_id", True),
    ("leads", "converted_contact_id", True),
    ("leads", "form_id", True),
    ("leads", "merged_into_id", True),
    ("accounts", "merged_into_id", True),
    ("contacts", "merged_into_id", True),
    ("deals", "source_lead_id", True),
    ("deal_stage_changes", "from_stage_id", True),
    ("deal_stage_changes", "to_stage_id", False),
    ("notifications", "lead_id", True),
    ("assignment_rules", "team_id", True),
    ("forms", "campaign_id", True),
    ("forms", "default_owner_id", True),
    ("submissions", "lead_id", True),
    ("integrations", "campaign_id", True),
    ("duplicate_scans", "requested_by", False),
    ("exports", "requested_by", False),
    ("exports", "file_id", True),
    ("imports", "requested_by", False),
    ("imports", "file_id", True),
    ("emails", "activity_id", False),
    ("emails", "template_id", True),
]


# Deleting a lead status, deleting a pipeline and retiring a stage each ask whether any record,
# deleted ones included, still has it: the list indexes hold live records only.
IN_USE = [
    ("ix_leads_status", "leads", ["workspace_id", "status"]),
    ("ix_deals_stage", "deals", ["workspace_id", "pipeline_id", "stage_id"]),
]


def upgrade() -> None:
    for name, table, columns in IN_USE:
        op.create_index(name, table, columns, unique=False, if_not_exists=True)
    for table, column, nullable in REFERENCES:
        op.create_index(
            f"ix_{table}_{column}",
            table,
            ["workspace_id", column],
            unique=False,
            postgresql_where=sa.text(f"{column} IS NOT NULL") if nullable else None,
            if_not_exists=True,
        )


def downgrade() -> None:
    for table, column, _ in reversed(REFERENCES):
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    for name, table, _ in reversed(IN_USE):
        op.drop_index(name, table_name=table)
