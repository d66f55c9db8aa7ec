"""A pooled connection never carries one request's transaction into the next: a BEGIN that
failed part-way left the server inside it, bound to its workspace, and the next request on
that connection would have read and written there (CI saw `GET /me` answer 404 and writes
500 for the rest of a run)."""

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.db import make_engine, make_sessionmaker, workspace_session
from app.core.transaction import state_of


@pytest_asyncio.fixture
async def one_connection(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A pool of one connection, so the next session is handed the same one if it is kept."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _workspace_seen(session: AsyncSession) -> str:
    setting = await session.scalar(text("SELECT current_setting('sen.workspace_id', true)"))
    return str(setting)


async def test_after_a_begin_that_failed_part_way_the_next_session_is_in_its_own_workspace(
    one_connection: AsyncEngine,
) -> None:
    maker = make_sessionmaker(one_connection)
    first, second = uuid.uuid4(), uuid.uuid4()
    async with workspace_session(maker, first) as session:
        # A settings version that is not the workspace's: BEGIN and the workspace setting
        # run, then the check in the same message fails, leaving that transaction open.
        state_of(session).expected_settings_version = -1
        with pytest.raises(DBAPIError, match="settings changed"):
            await session.execute(select(1))

    async with workspace_session(maker, second) as session:
        seen = await _workspace_seen(session)
        await session.commit()

    assert seen == str(second)


async def test_a_connection_in_good_order_is_kept(one_connection: AsyncEngine) -> None:
    maker = make_sessionmaker(one_connection)
    pids = []
    for workspace in (uuid.uuid4(), uuid.uuid4()):
        async with workspace_session(maker, workspace) as session:
            pids.append(await session.scalar(text("SELECT pg_backend_pid()")))
            await session.commit()

    assert pids[0] == pids[1]
