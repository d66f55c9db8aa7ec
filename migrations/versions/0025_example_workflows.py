"""The example workflows (switched off) and their email templates for every workspace that
existed before them: new workspaces get them when they are made (app/automations/examples.py,
whose content this takes as it is when it runs).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02 18:10:00
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.automations.examples import BIRTHDAY_TEMPLATE, THANKS_TEMPLATE, examples
from app.core.search import search_text

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEMPLATE = sa.text(
    "INSERT INTO email_templates (workspace_id, id, name, subject, body_html, body_text,"
    " created_at, updated_at, version) VALUES (:w, :id, :name, :subject, :body_html,"
    " :body_text, :now, :now, 1)"
)
AUTOMATION = sa.text(
    "INSERT INTO automations (workspace_id, id, name, active, resource, trigger, conditions,"
    " actions, trigger_event, next_fire_at, search_text, created_at, updated_at, version)"
    " VALUES (:w, :id, :name, false, :resource, CAST(:trigger AS jsonb),"
    " CAST(:conditions AS jsonb), CAST(:actions AS jsonb), :event, NULL, :search, :now, :now, 1)"
)


def upgrade() -> None:
    connection = op.get_bind()
    now = datetime.now(UTC)
    for workspace_id in connection.execute(sa.text("SELECT id FROM workspaces")).scalars():
        ids = []
        for template in (BIRTHDAY_TEMPLATE, THANKS_TEMPLATE):
            ids.append(uuid.uuid4())
            connection.execute(TEMPLATE, {"w": workspace_id, "id": ids[-1], "now": now, **template})
        for example in examples(str(ids[0]), str(ids[1])):
            connection.execute(
                AUTOMATION,
                {"w": workspace_id, "id": uuid.uuid4(), "name": example["name"],
                 "resource": example["resource"], "trigger": json.dumps(example["trigger"]),
                 "conditions": json.dumps(example["conditions"]),
                 "actions": json.dumps(example["actions"]),
                 "event": example["trigger"].get("event"),
                 "search": search_text(example["name"]), "now": now},
            )  # fmt: skip


def downgrade() -> None:
    # The examples are data; a workspace may have changed or switched them on. Left as they are.
    pass
