"""A job's transaction edge (`job_context`) and the sweep over every workspace, on committed
data: one transaction in the job's workspace, committed once on success, nothing kept on error,
jobs it asked for sent only after its commit."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.core import jobs
from app.core.context import Ctx
from app.core.db import libpq_url, make_engine, make_sessionmaker
from app.core.jobs import enqueue_after_commit, in_every_workspace, job_context
from app.core.queue import queue_client
from app.users import service as users_service
from app.users.schemas import TeamCreate
from app.workspaces.service import create_workspace
from tests.conftest import PASSWORD

_WHERE = text("SELECT current_user, current_setting('sen.workspace_id', true)")


class Failed(Exception):
    pass


@pytest_asyncio.fixture
async def maker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest_asyncio.fixture
async def workspace_id(
    maker: async_sessionmaker[AsyncSession], database_url: str
) -> AsyncIterator[uuid.UUID]:
    async with maker() as session:
        workspace, _ = await create_workspace(
            session, name=f"committing-jobs-{uuid.uuid4().hex[:6]}",
            owner_email="chu@jobs.vn", owner_password=PASSWORD, owner_name="Chủ",
        )  # fmt: skip
        await session.commit()
    yield workspace.id
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        await conn.execute("DELETE FROM workspaces WHERE id = $1", workspace.id)
    finally:
        await conn.close()


async def _teams(database_url: str, workspace_id: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        rows = await conn.fetch("SELECT name FROM teams WHERE workspace_id = $1", workspace_id)
    finally:
        await conn.close()
    return [row["name"] for row in rows]


class TestJobContext:
    async def test_the_work_runs_in_the_workspace_and_is_committed(
        self, maker: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID, database_url: str
    ) -> None:
        async with job_context(maker, workspace_id, queue=None) as ctx:
            where = (await ctx.session.execute(_WHERE)).one()
            await users_service.create_team(ctx, TeamCreate(name="Bắc", manager_id=None))

        assert tuple(where) == ("sen_app", str(workspace_id))
        assert await _teams(database_url, workspace_id) == ["Bắc"]

    async def test_a_failed_job_keeps_nothing(
        self, maker: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID, database_url: str
    ) -> None:
        async def fail_after_writing() -> None:
            async with job_context(maker, workspace_id, queue=None) as ctx:
                await users_service.create_team(ctx, TeamCreate(name="Nam", manager_id=None))
                await ctx.session.flush()
                raise Failed()

        with pytest.raises(Failed):
            await fail_after_writing()

        assert await _teams(database_url, workspace_id) == []

    async def test_jobs_it_asks_for_are_sent_only_after_its_commit(
        self, maker: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID, redis_url: str
    ) -> None:
        queue = queue_client(redis_url)
        sent, dropped = f"sent-{uuid.uuid4()}", f"dropped-{uuid.uuid4()}"

        async def fail_after_asking() -> None:
            async with job_context(maker, workspace_id, queue=queue) as ctx:
                enqueue_after_commit(ctx, "sweep_reminders", job_id=dropped)
                raise Failed()

        try:
            async with job_context(maker, workspace_id, queue=queue) as ctx:
                enqueue_after_commit(ctx, "sweep_reminders", job_id=sent)
            with pytest.raises(Failed):
                await fail_after_asking()
            await jobs.wait_for_sends()
            queued = [await queue.exists(f"arq:job:{job_id}") for job_id in (sent, dropped)]
            await queue.delete(f"arq:job:{sent}")
            await queue.zrem("arq:queue", sent)
        finally:
            await queue.aclose()

        assert queued == [1, 0]


async def test_a_sweep_runs_once_in_every_workspace_each_behind_its_own_wall(
    maker: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID
) -> None:
    async def where(ctx: Ctx) -> tuple[uuid.UUID, str, str]:
        user, setting = (await ctx.session.execute(_WHERE)).one()
        return ctx.workspace_id, user, setting

    seen = await in_every_workspace(maker, where, queue=None)

    ids = [workspace for workspace, _, _ in seen]
    assert workspace_id in ids
    assert len(ids) == len(set(ids))
    assert all(user == "sen_app" and setting == str(w) for w, user, setting in seen)
