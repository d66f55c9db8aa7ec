"""The suite reads every statement the app sends for its workspace predicate (DESIGN §4; the
hooks in tests/conftest.py fail the run on any without one). These tests hold the reader to
what it must catch and what it must let through, and the driver hook to seeing statements."""

import httpx
import pytest

from app.core.db import SenConnection
from app.core.transaction import APP_ROLE
from tests import tenant_statements
from tests.conftest import World
from tests.tenant_statements import problems_of


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM leads WHERE workspace_id = $1 AND id = $2",
        "SELECT * FROM leads WHERE leads.workspace_id = $1::UUID FOR UPDATE",
        # A join on (workspace_id, id) reaches the pinned table: one shard, colocated.
        "SELECT l.id FROM leads AS l JOIN deals AS d ON d.workspace_id = l.workspace_id"
        " AND d.id = l.converted_deal_id WHERE l.workspace_id = $1",
        # A correlated subquery naming the workspace itself.
        "SELECT * FROM leads WHERE workspace_id = $1 AND EXISTS (SELECT 1 FROM deals"
        " WHERE deals.workspace_id = $1 AND deals.source_lead_id = leads.id)",
        "INSERT INTO leads (workspace_id, id) VALUES ($1, $2)",
        "UPDATE leads SET score = score + 1 WHERE workspace_id = $1 AND id = $2",
        "SELECT * FROM workspaces WHERE id = $1",
        "BEGIN",
    ],
)
def test_a_statement_naming_its_workspace_passes(sql: str) -> None:
    assert problems_of(sql) == ()


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT * FROM leads WHERE id = $1", "leads read without"),
        ("SELECT * FROM pipelines WHERE id = $1 FOR UPDATE", "pipelines locked or read"),
        (
            "SELECT * FROM leads WHERE workspace_id = $1 AND status IN"
            " (SELECT key FROM lead_statuses WHERE category = $2)",
            "lead_statuses read without",
        ),
        (
            "WITH RECURSIVE up AS (SELECT id, parent_id FROM accounts WHERE workspace_id = $1"
            " UNION SELECT a.id, a.parent_id FROM accounts AS a JOIN up ON a.id = up.parent_id)"
            " SELECT * FROM up",
            "accounts read without",
        ),
        # Through the outer query's workspace only: Citus sends it to every shard.
        (
            "SELECT contacts.id, (SELECT accounts.name FROM accounts"
            " WHERE accounts.workspace_id = contacts.workspace_id LIMIT 1) FROM contacts"
            " WHERE contacts.workspace_id = $1",
            "accounts read without",
        ),
        ("DELETE FROM lead_statuses WHERE key = $1", "lead_statuses changed without"),
        (
            "UPDATE leads SET score = nextval('s') WHERE workspace_id = $1",
            "nextval() in a change of leads",
        ),
        (
            "INSERT INTO leads (workspace_id, id) SELECT $1, x FROM unnest($2::uuid[]) AS x",
            "INSERT … SELECT into leads",
        ),
        (
            "SELECT set_config('pg_trgm.similarity_threshold', '0.55', true)",
            "set_config() of a setting",
        ),
    ],
)
def test_a_statement_that_would_fan_out_or_be_refused_is_caught(sql: str, problem: str) -> None:
    assert any(found.startswith(problem) for found in problems_of(sql)), problems_of(sql)


async def test_the_driver_shows_the_reader_every_statement_of_a_request(
    client: httpx.AsyncClient, world: World
) -> None:
    seen: list[tuple[str | None, str]] = []
    noting = SenConnection.observer
    SenConnection.observer = lambda role, sql: seen.append((role, sql))
    try:
        response = await client.get("/api/v1/leads", headers=world.owner.headers)
    finally:
        SenConnection.observer = noting

    assert response.status_code == 200
    assert noting is tenant_statements.note
    lists = [sql for role, sql in seen if role == APP_ROLE and "FROM leads" in sql]
    assert lists, seen
    assert all(problems_of(sql) == () for sql in lists)
