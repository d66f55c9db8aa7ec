"""distributable on Citus: no triggers on tenant tables and no cycle of foreign keys.

The settings-version bumps of users, teams and duplicate rules move from triggers (0008,
0016) into their services (Citus distributes no table with a trigger). Of the two cycles of
references, teams.manager_id -> users and leads.converted_deal_id -> deals lose their keys
(users.team_id -> teams and deals.source_lead_id -> leads keep theirs): each is written, checked,
in the same transaction as what it names.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 11:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = ["users", "teams", "duplicate_rules"]
BUMP = """
CREATE FUNCTION sen_bump_settings_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspaces SET settings_version = nextval('workspace_settings_versions')
    WHERE id = COALESCE(NEW.workspace_id, OLD.workspace_id);
    RETURN NULL;
END $$"""


def upgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_bump_settings_version ON {table}")
    op.execute("DROP FUNCTION sen_bump_settings_version()")
    op.drop_constraint("fk_teams_manager", "teams", type_="foreignkey")
    op.drop_constraint("fk_leads_workspace_id_converted_deal_id_deals", "leads", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key(
        "fk_leads_workspace_id_converted_deal_id_deals",
        "leads",
        "deals",
        ["workspace_id", "converted_deal_id"],
        ["workspace_id", "id"],
    )
    op.create_foreign_key(
        "fk_teams_manager", "teams", "users", ["workspace_id", "manager_id"], ["workspace_id", "id"]
    )
    op.execute(BUMP)
    for table in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {table}_bump_settings_version AFTER INSERT OR UPDATE OR DELETE"
            f" ON {table} FOR EACH ROW EXECUTE FUNCTION sen_bump_settings_version()"
        )
