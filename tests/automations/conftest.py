"""Fixtures of the workflow tests: the queue a cron job sends to and a sessionmaker of its own,
as a worker's cron jobs have; the webhook receivers of tests/webhooks."""

from collections.abc import AsyncIterator

import pytest_asyncio
from arq import create_pool
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.core.db import make_engine, make_sessionmaker
from app.core.queue import redis_settings
from tests.emails.conftest import smtp_server  # noqa: F401  (fixture)
from tests.webhooks.receivers import receiver, receiver_server  # noqa: F401  (fixtures)


@pytest_asyncio.fixture
async def queue(redis_url: str) -> AsyncIterator[ArqRedis]:
    """What a cron job sends its nudges to (the worker's own pool, in a worker)."""
    pool = await create_pool(redis_settings(redis_url))
    yield pool
    await pool.aclose()


@pytest_asyncio.fixture
async def maker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()
