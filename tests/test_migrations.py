"""Every migration upgrades to head and downgrades to base cleanly, on a database of its own."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from app.core.db import libpq_url, with_database
from app.core.migrate import downgrade, upgrade


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


@asynccontextmanager
async def _fresh_database(server_url: str, suffix: str) -> AsyncIterator[str]:
    name = f"sen_migrations_{suffix}_{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"
    admin = await asyncpg.connect(libpq_url(with_database(server_url, "postgres")))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_upgrade_downgrade_upgrade(server_url: str) -> None:
    async with _fresh_database(server_url, "cycle") as url:
        await upgrade(url)
        at_head = await _tables(url)
        await downgrade(url, "base")
        at_base = await _tables(url)
        await upgrade(url)

        assert {"leads", "users", "workspaces", "record_changes"} <= at_head
        assert at_base == {"alembic_version"}
        assert await _tables(url) == at_head


async def test_workspaces_made_before_pipelines_get_the_default_one(server_url: str) -> None:
    async with _fresh_database(server_url, "seed") as url:
        await upgrade(url, "0003")
        conn = await asyncpg.connect(libpq_url(url))
        try:
            await conn.execute(
                "INSERT INTO workspaces (id, name, default_currency, timezone, created_at,"
                " settings_version) VALUES (gen_random_uuid(), 'Cũ', 'VND', 'Asia/Ho_Chi_Minh',"
                " now(), 1)"
            )
            await upgrade(url)
            stages = await conn.fetch(
                "SELECT s.name, s.kind FROM pipelines p JOIN pipeline_stages s"
                " ON s.workspace_id = p.workspace_id AND s.pipeline_id = p.id"
                " WHERE p.is_default ORDER BY s.position"
            )
        finally:
            await conn.close()

        assert [s["kind"] for s in stages] == ["open", "open", "open", "open", "won", "lost"]
        assert stages[0]["name"] == "Tiếp cận"


async def test_models_and_migrations_describe_the_same_schema(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.pool import NullPool

    from app.core.db import make_engine
    from app.core.models import Base
    from app.models import load_all_models

    load_all_models()
    engine = make_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()

    assert diff == [], "a model changed without a migration (alembic revision --autogenerate)"
