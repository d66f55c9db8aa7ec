"""person keys: a lead's pairs of name words at its company (`person_keys`, GIN-indexed), where
the rule "similar name at a similar company" finds its candidates.

That rule looked candidates up with trigram indexes on the name or the company. Vietnamese
names are made of few, common words, so a name's trigrams match thousands of rows and the
index read them all: 3 to 7 ms a look-up at 20,000 leads, growing with the table. A pair of
name words at a company is shared by a few rows (0.1 to 0.4 ms). Filled here for the leads
that exist, from their stored keys. The look-ups' GIN indexes stop keeping a pending list.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.core.match_keys import person_keys

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000
# The duplicate look-ups' GIN indexes, read by every create's check, keep no pending list:
# GIN parks new entries there, unsorted, until a vacuum merges them, and every search reads
# all of it. Under a stream of creates it outgrew autovacuum, and a person-key look-up that
# takes 0.25 ms on a merged index took 3 to 5 ms (the trigram ones suffered the same).
PENDING_LIST_OFF = [
    "ix_leads_name_key",
    "ix_leads_company_key",
    "ix_contacts_name_key",
    "ix_accounts_name_key",
]
# Under row-level security an operator serves an index condition only if its function is
# LEAKPROOF (0001 marks array containment for tags, for the same reason): `&&` on the keys.
# Needs a superuser; without one the migration says so and look-ups stay correct, only slower.
LEAKPROOF_FUNCTIONS = ["pg_catalog.arrayoverlap(anyarray, anyarray)"]


def _set_leakproof(flag: str) -> None:
    # As 0001 and 0016 do (a migration is frozen history: it imports no other one).
    for function in LEAKPROOF_FUNCTIONS:
        op.execute(f"""
            DO $$ BEGIN
                ALTER FUNCTION {function} {flag};
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE NOTICE 'not a superuser: {function} stays as it is (look-ups scan more)';
            END $$""")


def _fill_person_keys() -> None:
    """Each lead's keys from its stored `name_key` and `company_key`, a batch at a time."""
    connection = op.get_bind()
    update = sa.text(
        "UPDATE leads SET person_keys = :keys WHERE workspace_id = :w AND id = :id"
    ).bindparams(sa.bindparam("keys", type_=postgresql.ARRAY(sa.Text)))
    after: tuple[object, object] | None = None
    while True:
        where = "" if after is None else "AND (workspace_id, id) > (:w, :id)"
        rows = connection.execute(
            sa.text(
                "SELECT workspace_id, id, name_key, company_key FROM leads"
                f" WHERE name_key IS NOT NULL AND company_key IS NOT NULL {where}"
                f" ORDER BY workspace_id, id LIMIT {BATCH}"
            ),
            {} if after is None else {"w": after[0], "id": after[1]},
        ).all()
        if not rows:
            return
        connection.execute(
            update,
            [
                {"w": w, "id": id_, "keys": person_keys(name, company)}
                for w, id_, name, company in rows
            ],
        )
        after = (rows[-1][0], rows[-1][1])


def upgrade() -> None:
    _set_leakproof("LEAKPROOF")
    op.add_column("leads", sa.Column("person_keys", postgresql.ARRAY(sa.Text()), nullable=True))
    _fill_person_keys()
    op.create_index(
        "ix_leads_person_keys",
        "leads",
        ["person_keys"],
        unique=False,
        postgresql_using="gin",
        postgresql_where=sa.text("person_keys IS NOT NULL"),
        postgresql_with={"fastupdate": "off"},
    )
    for index in PENDING_LIST_OFF:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade() -> None:
    for index in PENDING_LIST_OFF:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
    op.drop_index("ix_leads_person_keys", table_name="leads")
    op.drop_column("leads", "person_keys")
    _set_leakproof("NOT LEAKPROOF")
