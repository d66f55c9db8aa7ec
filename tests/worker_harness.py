"""A real arq worker on the test's Redis and database, for tests of what jobs do: start it
around a block, wait for what it should have done, start each test with an empty queue."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from arq import create_pool
from arq.worker import Worker

from app.core.queue import redis_settings
from workers.settings import FUNCTIONS, shutdown, startup


@pytest.fixture
async def empty_queue(redis_url: str) -> None:
    """This test's queue only: jobs left by earlier tests in this Redis database go."""
    pool = await create_pool(redis_settings(redis_url))
    await pool.flushdb()
    await pool.aclose()


@asynccontextmanager
async def running_worker(
    database_url: str, redis_url: str, *, poll_delay: float = 0.05
) -> AsyncIterator[None]:
    worker = Worker(
        functions=FUNCTIONS,  # type: ignore[arg-type]
        redis_settings=redis_settings(redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        ctx={"database_url": database_url},
        handle_signals=False,
        poll_delay=poll_delay,
    )
    task = asyncio.create_task(worker.async_run())
    try:
        yield
    finally:
        # Let running jobs finish first: arq's close cancels them, and one cut off outside its
        # own try (a sweep still going through the other workspaces) re-raises CancelledError.
        # A read of the queue already under way still starts what it took: wait until a poll
        # has passed with nothing running.
        worker.allow_pick_jobs = False
        while True:
            await asyncio.sleep(0.1)
            running = [t for t in worker.tasks.values() if not t.done()]
            if not running:
                break
            await asyncio.gather(*running, return_exceptions=True)
        await worker.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def eventually(
    check: Callable[[], Awaitable[bool]], seconds: float = 10, *, every: float = 0.1
) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False
