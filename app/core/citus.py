"""Distributing a Sen database on Citus (docs/deploy-citus.md): every table by its workspace,
colocated, so that one workspace's rows, and every statement about them, live on one shard.

`workspaces` is distributed by `id` and each tenant table by `workspace_id`, colocated with it,
in the order of their references (a table after those it references: Citus needs the target
distributed first). Idempotent: a table already distributed is left as it is, so it can run
after every migration that adds tables.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

import asyncpg

from app.core.db import libpq_url, with_database
from app.core.transaction import APP_ROLE, AUTH_ROLE

ROOT = "workspaces"  # distributed by id; the colocation group every tenant table joins
LOCAL = {"alembic_version"}  # read by migrations only, on the coordinator
LOGIN_ROLES = [APP_ROLE, AUTH_ROLE]
# Marked LEAKPROOF by migrations 0001, 0016 and 0028 in the coordinator's catalog only: the
# shards' planners need it too, or a search (LIKE, tags) or a duplicate look-up (`%`, `&&`) under
# row-level security reads every row of the workspace (tests/core/test_citus.py holds this
# list to the migrations').
LEAKPROOF_FUNCTIONS = [
    "pg_catalog.textlike(text, text)",
    "pg_catalog.arraycontains(anyarray, anyarray)",
    "public.similarity_op(text, text)",
    "pg_catalog.arrayoverlap(anyarray, anyarray)",
]


class CitusMissing(RuntimeError):
    """The database has no citus extension: nothing to distribute on."""


def in_reference_order(tables: Iterable[str], references: Iterable[tuple[str, str]]) -> list[str]:
    """`tables`, each after every table it references (self-references aside); alphabetical
    where the order is free. A cycle of references is an error: Citus can't distribute it."""
    remaining = set(tables)
    needs: dict[str, set[str]] = {table: set() for table in remaining}
    for table, target in references:
        if table != target and table in remaining and target in remaining:
            needs[table].add(target)
    ordered: list[str] = []
    while remaining:
        ready = sorted(t for t in remaining if not needs[t] & remaining)
        if not ready:
            raise ValueError(f"foreign keys go round in a cycle among {sorted(remaining)}")
        ordered.extend(ready)
        remaining.difference_update(ready)
    return ordered


async def tables_in_reference_order(conn: asyncpg.Connection) -> list[str]:
    """The database's tables Citus distributes, each after those it references."""
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    references = await conn.fetch(
        """SELECT conrelid::regclass::text AS tbl, confrelid::regclass::text AS target
           FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"""
    )
    names = [r["tablename"] for r in tables if r["tablename"] not in LOCAL]
    return in_reference_order(names, [(r["tbl"], r["target"]) for r in references])


async def distribute(url: str) -> list[str]:
    """Distribute every table of the database at `url` (the coordinator) not yet distributed;
    the tables it distributed, in order. Raises CitusMissing on plain PostgreSQL."""
    conn = await asyncpg.connect(libpq_url(url))
    try:
        if await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'citus'") is None:
            raise CitusMissing("the database has no citus extension (CREATE EXTENSION citus)")
        done = {
            r["name"]
            for r in await conn.fetch(
                "SELECT logicalrelid::regclass::text AS name FROM pg_dist_partition"
            )
        }
        distributed = []
        for table in await tables_in_reference_order(conn):
            if table in done:
                continue
            if table == ROOT:
                await conn.execute("SELECT create_distributed_table($1, 'id')", table)
            else:
                await conn.execute(
                    "SELECT create_distributed_table($1, 'workspace_id', colocate_with => $2)",
                    table,
                    ROOT,
                )
            distributed.append(table)
        await _grant_columns_on_shards(conn)
        # Citus opens its connections to the shards as the transaction's current role, which
        # the app sets to one of these (`SET LOCAL ROLE`): they must be able to log in.
        for role in LOGIN_ROLES:
            await conn.execute(f"ALTER ROLE {role} LOGIN")
        for function in LEAKPROOF_FUNCTIONS:
            await conn.execute(
                "SELECT run_command_on_workers($1)", f"ALTER FUNCTION {function} LEAKPROOF"
            )
        return distributed
    finally:
        await conn.close()


# Grants on single columns (migration 0001: sen_app may change a workspace's settings_version,
# nothing else of it) reach the coordinator's table only: Citus copies table grants to shards.
_COLUMN_GRANTS = """
SELECT a.attrelid::regclass::text AS tbl, a.attname AS col, g.privilege_type AS privilege,
       r.rolname AS grantee
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
CROSS JOIN LATERAL aclexplode(a.attacl) g JOIN pg_roles r ON r.oid = g.grantee
WHERE a.attacl IS NOT NULL AND c.relnamespace = 'public'::regnamespace"""


async def _grant_columns_on_shards(conn: asyncpg.Connection) -> None:
    for grant in await conn.fetch(_COLUMN_GRANTS):
        command = f'GRANT {grant["privilege"]} ("{grant["col"]}") ON %s TO "{grant["grantee"]}"'
        await conn.execute("SELECT run_command_on_shards($1, $2)", grant["tbl"], command)


async def create_database(server_url: str, name: str, workers: list[str]) -> str:
    """A new, empty database `name` on the coordinator `server_url` and on each worker
    ("host:port"), with the nodes registered in it (Citus 12 makes a database on the
    coordinator only, and each database has its own node list); dropped first if it exists.
    Its URL, ready for `sen migrate` and `distribute`."""
    admin = await asyncpg.connect(libpq_url(with_database(server_url, "postgres")))
    try:
        for statement in (
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}"',
        ):
            await admin.execute(statement)
            await admin.execute("SELECT run_command_on_workers($1)", statement)
    finally:
        await admin.close()
    url = with_database(server_url, name)
    parts = urlsplit(url)
    conn = await asyncpg.connect(libpq_url(url))
    try:
        # The coordinator's own address first, or Citus takes it for localhost and keeps every
        # shard on it.
        await conn.execute(
            "SELECT citus_set_coordinator_host($1, $2)", parts.hostname, parts.port or 5432
        )
        for worker in workers:
            host, port = worker.rsplit(":", 1)
            await conn.execute("SELECT citus_add_node($1, $2)", host, int(port))
    finally:
        await conn.close()
    return url
