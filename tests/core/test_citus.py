"""`sen citus distribute` (app/core/citus.py): the order it distributes tables in, from this
database's own references, and what it says on plain PostgreSQL. The cluster itself is measured
outside the suite (docs/deploy-citus.md)."""

import importlib.util
from pathlib import Path

import asyncpg
import pytest

from app.core import citus
from app.core.db import libpq_url
from tests.conftest import CITUS_WORKERS

MIGRATIONS = Path(__file__).parents[2] / "migrations" / "versions"


async def test_every_table_comes_after_the_tables_it_references(database_url: str) -> None:
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        order = await citus.tables_in_reference_order(conn)
        references = await conn.fetch(
            """SELECT conrelid::regclass::text AS tbl, confrelid::regclass::text AS target
               FROM pg_constraint WHERE contype = 'f' AND conrelid <> confrelid
               AND connamespace = 'public'::regnamespace"""
        )
    finally:
        await conn.close()
    position = {table: n for n, table in enumerate(order)}

    assert order[0] == "workspaces"
    assert {"leads", "deals", "users", "teams"} <= set(order)
    assert "alembic_version" not in order
    late = [
        (r["tbl"], r["target"]) for r in references if position[r["tbl"]] < position[r["target"]]
    ]
    assert late == []


def test_distribute_marks_on_the_workers_what_the_migrations_mark_leakproof() -> None:
    # A migration's marking reaches the coordinator only; one left off `distribute`'s list
    # left every duplicate look-up on a cluster reading the workspace's rows.
    marked: set[str] = set()
    for path in sorted(MIGRATIONS.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        marked |= set(getattr(module, "LEAKPROOF_FUNCTIONS", []))

    assert "public.similarity_op(text, text)" in marked
    assert set(citus.LEAKPROOF_FUNCTIONS) == marked


def test_a_cycle_of_references_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"cycle among \['deals', 'leads'\]"):
        citus.in_reference_order(
            ["workspaces", "leads", "deals"],
            [("leads", "workspaces"), ("deals", "leads"), ("leads", "deals")],
        )


@pytest.mark.skipif(bool(CITUS_WORKERS), reason="the suite runs on a Citus cluster")
async def test_plain_postgresql_is_told_it_has_no_citus(database_url: str) -> None:
    with pytest.raises(citus.CitusMissing, match="CREATE EXTENSION citus"):
        await citus.distribute(database_url)
