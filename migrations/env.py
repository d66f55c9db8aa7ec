"""Alembic runs on a connection handed over by app.core.migrate (async engine, any event loop),
or, from the `alembic` command line, on one it opens from DATABASE_URL."""

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from app.core.models import Base
from app.models import load_all_models

load_all_models()
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_from_command_line() -> None:
    from app.core.db import make_engine

    async def main() -> None:
        engine = make_engine(os.environ["DATABASE_URL"], poolclass=NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(run_on)
            await conn.commit()
        await engine.dispose()

    asyncio.run(main())


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    run_from_command_line()
