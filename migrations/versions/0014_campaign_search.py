"""campaigns are searched by name and key (`q=`), ignoring case and Vietnamese diacritics, as
every other list is: a folded `search_text` column with its trigram and prefix indexes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No campaign could be made before this step's API, but a default keeps the step safe.
    op.add_column(
        "campaigns", sa.Column("search_text", sa.Text(), nullable=False, server_default="")
    )
    op.alter_column("campaigns", "search_text", server_default=None)
    op.create_index(
        "ix_campaigns_search_text",
        "campaigns",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_campaigns_search_prefix",
        "campaigns",
        ["workspace_id", "search_text"],
        unique=False,
        postgresql_ops={"search_text": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index(
        "ix_campaigns_search_prefix",
        table_name="campaigns",
        postgresql_ops={"search_text": "text_pattern_ops"},
    )
    op.drop_index(
        "ix_campaigns_search_text",
        table_name="campaigns",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_column("campaigns", "search_text")
