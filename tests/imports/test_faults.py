"""An import survives its worker: killed (SIGKILL, no clean shutdown) again and again in the
middle of a batch, the import is re-queued by the sweep and resumes after the last committed
batch, and every row of the file is saved exactly once."""

import asyncio
import random
import signal
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from arq import create_pool

from app.core import jobs
from app.core.db import libpq_url, make_engine, make_sessionmaker
from app.core.jobs import job_context
from app.core.models import utcnow
from app.core.queue import redis_settings
from app.imports import service as imports
from tests.conftest import settings_changed, sign_up
from tests.factories import API
from tests.imports.helpers import upload, workbook
from tests.servers import sen_process
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")
ROWS = 3000
KILLS = 3


async def _sweep(database_url: str, redis_url: str, workspace_id: uuid.UUID) -> int:
    """The cron sweep's work, now rather than in two minutes: a running import no worker
    moves is queued again."""
    engine = make_engine(database_url)
    queue = await create_pool(redis_settings(redis_url))
    try:
        async with job_context(make_sessionmaker(engine), workspace_id, queue=queue) as ctx:
            now = utcnow()
            found = await imports.requeue_waiting(ctx, queued_before=now, stalled_before=now)
        await jobs.wait_for_sends()
        return found
    finally:
        await queue.aclose()
        await engine.dispose()


async def _requeued(database_url: str, redis_url: str, workspace_id: uuid.UUID) -> bool:
    """The sweep re-queues the one import. The killed worker's transaction holds the import's
    row until PostgreSQL sees its connection gone, and the sweep skips a locked row: it may
    take a moment."""

    async def swept() -> bool:
        return await _sweep(database_url, redis_url, workspace_id) == 1

    return await eventually(swept, seconds=30)


async def test_a_worker_killed_midway_resumes_and_saves_each_row_once(
    tmp_path: Path, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    owner = await sign_up(committing_client, "committing-import-sigkill")
    headers = owner["headers"]
    marker = uuid.uuid4().hex[:8]
    content = workbook(
        [["Họ và tên", "Email"]]
        + [[f"Khách {marker} {i}", f"k{i}.{marker}@vd.vn"] for i in range(ROWS)]
    )
    # `create`: a row saved twice would be a second lead, not a skip that hides it.
    asked = await upload(committing_client, headers, content, dedupe_policy="create")
    assert asked.status_code == 202, asked.text
    import_id = asked.json()["id"]
    await jobs.wait_for_sends()
    state: dict[str, Any] = {}

    async def progress() -> int:
        got = await committing_client.get(f"{API}/imports/{import_id}", headers=headers)
        state.update(got.json())
        return int(state["processed_rows"])

    chance = random.Random(20261202)
    seen = [0]
    for kill in range(KILLS):
        if kill:
            assert await _requeued(database_url, redis_url, uuid.UUID(owner["workspace_id"]))
        worker = sen_process(
            "worker", tmp_path, database_url, redis_url, SEN_IMPORT_BATCH_ROWS="50"
        )

        async def moved(before: int = seen[-1]) -> bool:
            return await progress() > before

        try:
            assert await eventually(moved, seconds=60), (seen, state)
            await asyncio.sleep(chance.uniform(0, 0.3))  # somewhere inside a batch
        finally:
            worker.send_signal(signal.SIGKILL)
            await asyncio.to_thread(worker.wait, 10)
        seen.append(await progress())

    assert state["status"] == "running", state
    assert seen[-1] < ROWS  # each kill left work
    assert await _requeued(database_url, redis_url, uuid.UUID(owner["workspace_id"]))

    async def finished() -> bool:
        await progress()
        return state["status"] in ("completed", "failed")

    with settings_changed(import_batch_rows=50):
        async with running_worker(database_url, redis_url):
            assert await eventually(finished, seconds=180), state

    assert state["status"] == "completed", state
    assert (state["processed_rows"], state["total_rows"], state["created"]) == (ROWS, ROWS, ROWS)
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        count, distinct = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT email) FROM leads"
            " WHERE workspace_id = $1 AND full_name LIKE $2",
            uuid.UUID(owner["workspace_id"]),
            f"Khách {marker} %",
        )
    finally:
        await conn.close()
    assert (count, distinct) == (ROWS, ROWS)
