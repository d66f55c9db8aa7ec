"""caller checks: any change to a workspace's users or teams bumps its settings version, and a
transaction can check, in the same message as its BEGIN, that a version is still current.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 08:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Who a caller is (role, team, active, tokens valid after) and whom they see (teams and their
# managers) live in users and teams: a change there is a change of the workspace's settings,
# so a caller cached by an API process under an older version is looked up again.
BUMP = """
CREATE FUNCTION sen_bump_settings_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workspaces SET settings_version = nextval('workspace_settings_versions')
    WHERE id = COALESCE(NEW.workspace_id, OLD.workspace_id);
    RETURN NULL;
END $$"""
# Raised, not returned: it rides in the simple-protocol message with BEGIN, which carries no
# rows back, so a stale version can only say so by failing (SQLSTATE SN001).
CHECK = """
CREATE FUNCTION sen_check_settings_version(workspace uuid, version integer) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM workspaces WHERE id = workspace AND settings_version = version)
    THEN
        RAISE EXCEPTION 'the workspace''s settings changed' USING ERRCODE = 'SN001';
    END IF;
END $$"""
TABLES = ["users", "teams"]


def upgrade() -> None:
    op.execute(BUMP)
    op.execute(CHECK)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_bump_settings_version AFTER INSERT OR UPDATE OR DELETE"
            f" ON {table} FOR EACH ROW EXECUTE FUNCTION sen_bump_settings_version()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_bump_settings_version ON {table}")
    op.execute("DROP FUNCTION sen_check_settings_version(uuid, integer)")
    op.execute("DROP FUNCTION sen_bump_settings_version()")
