"""list indexes: every sort a list accepts is an index walk, with deleted rows too
(`include_deleted`), and one- and two-letter search words match the start of the folded
text through a prefix index (trigrams need three letters).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = sa.text("deleted_at IS NULL")
# Partial (live rows only) until now: recreated over every row.
WIDENED = [
    ("ix_leads_recent", "leads", "created_at"),
    ("ix_accounts_recent", "accounts", "created_at"),
    ("ix_accounts_name", "accounts", "name"),
    ("ix_contacts_recent", "contacts", "created_at"),
    ("ix_contacts_full_name", "contacts", "full_name"),
    ("ix_deals_recent", "deals", "created_at"),
    ("ix_activities_recent", "activities", "created_at"),
]
ADDED = [
    ("ix_leads_updated", "leads", "updated_at"),
    ("ix_leads_full_name", "leads", "full_name"),
    ("ix_leads_score", "leads", "score"),
    ("ix_accounts_updated", "accounts", "updated_at"),
    ("ix_contacts_updated", "contacts", "updated_at"),
    ("ix_deals_updated", "deals", "updated_at"),
    ("ix_deals_name", "deals", "name"),
    ("ix_activities_updated", "activities", "updated_at"),
]
SEARCHED = ["leads", "accounts", "contacts", "deals"]


def upgrade() -> None:
    for name, table, column in WIDENED:
        op.drop_index(name, table_name=table, postgresql_where=_LIVE)
        op.create_index(name, table, ["workspace_id", column, "id"], unique=False)
    for name, table, column in ADDED:
        op.create_index(name, table, ["workspace_id", column, "id"], unique=False)
    for table in SEARCHED:
        op.create_index(
            f"ix_{table}_search_prefix",
            table,
            ["workspace_id", "search_text"],
            unique=False,
            postgresql_ops={"search_text": "text_pattern_ops"},
        )


def downgrade() -> None:
    for table in SEARCHED:
        op.drop_index(f"ix_{table}_search_prefix", table_name=table)
    for name, table, _ in ADDED:
        op.drop_index(name, table_name=table)
    for name, table, column in WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(
            name, table, ["workspace_id", column, "id"], unique=False, postgresql_where=_LIVE
        )
