"""merged_into_id on leads, contacts and accounts: a record merged into another is soft-deleted
and remembers the survivor (POST /{leads,contacts,accounts}/merge).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ["leads", "contacts", "accounts"]


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("merged_into_id", sa.Uuid(), nullable=True))
        # Within its own table and workspace, as every reference is (composite key).
        op.create_foreign_key(
            op.f(f"fk_{table}_workspace_id_merged_into_id_{table}"),
            table,
            table,
            ["workspace_id", "merged_into_id"],
            ["workspace_id", "id"],
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_constraint(
            op.f(f"fk_{table}_workspace_id_merged_into_id_{table}"), table, type_="foreignkey"
        )
        op.drop_column(table, "merged_into_id")
