"""The suite on a Citus cluster (SEN_TEST_CITUS_WORKERS): each test's transactions commit for
real, and the test's rows are removed after it.

On plain PostgreSQL a test runs in one transaction rolled back at its end, the app's own
transactions being savepoints in it (tests/conftest.py). Citus can't carry that: a transaction's
connections to the shards are its role's, and one test mixes roles (the app's `sen_app`, a
login's `sen_auth`, the test's own superuser checks), so rows one role wrote are out of reach of
the next ("modified in this transaction by a different user"). The app itself gives each
transaction one role from its start; here the test's session is the app's own, every commit is
real, and the two workspaces of the suite's world are put back as they were after each test
(every tenant table is keyed by workspace, so that is a delete and a copy per table).
"""

import uuid
from dataclasses import dataclass

import asyncpg

from app.core import citus
from app.core.db import libpq_url


@dataclass
class WorldRows:
    """Every row of the world's workspaces, as they were when it was made."""

    workspace_ids: list[uuid.UUID]
    # (table, columns, rows), each table after those it references.
    tables: list[tuple[str, list[str], list[asyncpg.Record]]]


_COLUMNS = """
SELECT attname FROM pg_attribute
WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
ORDER BY attnum"""


def _workspace_column(table: str) -> str:
    return "id" if table == citus.ROOT else "workspace_id"


async def take_world(url: str, workspace_ids: list[uuid.UUID]) -> WorldRows:
    """The rows of `workspace_ids` in every table, to put back after each test."""
    conn = await asyncpg.connect(libpq_url(url))
    try:
        tables = []
        for table in await citus.tables_in_reference_order(conn):
            columns = [r["attname"] for r in await conn.fetch(_COLUMNS, table)]
            key = _workspace_column(table)
            listed = ", ".join(f'"{c}"' for c in columns)
            rows = await conn.fetch(
                f"SELECT {listed} FROM {table} WHERE {key} = ANY($1)", workspace_ids
            )
            tables.append((table, columns, rows))
        return WorldRows(workspace_ids, tables)
    finally:
        await conn.close()


async def workspaces_now(url: str) -> set[uuid.UUID]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        return {r["id"] for r in await conn.fetch("SELECT id FROM workspaces")}
    finally:
        await conn.close()


async def put_back(url: str, world: WorldRows, before: set[uuid.UUID]) -> None:
    """Remove the workspaces made since `before` (the live server's aside: it lives the whole
    session) and put the world's back as `world` holds them."""
    conn = await asyncpg.connect(libpq_url(url))
    try:
        made = [
            r["id"]
            for r in await conn.fetch("SELECT id, name FROM workspaces")
            if r["id"] not in before and not r["name"].startswith("live-")
        ]
        async with conn.transaction():
            # Each table by workspace, children first, with foreign-key triggers off: a
            # cascade checks every deleted row's referrers one by one (before migration 0027
            # indexed them all, a plan test's 40,000 leads took minutes; with the indexes it is
            # still per row). One workspace a statement: Citus sends `workspace_id = $1` to
            # that workspace's shards only.
            await conn.execute("SET LOCAL session_replication_role = replica")
            for table, _, _ in reversed(world.tables):
                key = _workspace_column(table)
                for workspace_id in [*made, *world.workspace_ids]:
                    await conn.execute(f"DELETE FROM {table} WHERE {key} = $1", workspace_id)
            for table, columns, rows in world.tables:
                if rows:
                    await conn.copy_records_to_table(table, records=rows, columns=columns)
    finally:
        await conn.close()
