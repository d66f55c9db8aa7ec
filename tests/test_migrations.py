"""Every migration upgrades to head and downgrades to base cleanly, on a database of its own."""

import os

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


async def test_upgrade_downgrade_upgrade(server_url: str) -> None:
    name = f"sen_migrations_{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"
    admin = await asyncpg.connect(libpq_url(with_database(server_url, "postgres")))
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        await upgrade(url)
        at_head = await _tables(url)
        await downgrade(url, "base")
        at_base = await _tables(url)
        await upgrade(url)

        assert {"leads", "users", "workspaces", "record_changes"} <= at_head
        assert at_base == {"alembic_version"}
        assert await _tables(url) == at_head
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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
