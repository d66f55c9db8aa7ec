"""Jobs run by a real arq worker on the real Redis, against committed data."""

from datetime import timedelta

import asyncpg
import httpx
from arq import create_pool
from arq.worker import Worker

from app.core.db import libpq_url
from app.core.queue import redis_settings
from tests.conftest import sign_up
from workers.settings import FUNCTIONS, shutdown, startup


async def test_expired_idempotency_keys_are_forgotten_and_fresh_ones_kept(
    committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    account = await sign_up(committing_client, "committing-jobs")
    for key in ("old", "fresh"):
        response = await committing_client.post(
            "/api/v1/leads",
            json={"full_name": f"Khách {key}"},
            headers={**account["headers"], "Idempotency-Key": key},
        )
        assert response.status_code == 201
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        await conn.execute(
            # No column in the expression: Citus refuses a stable function of one in an UPDATE.
            "UPDATE idempotency_keys SET created_at = now() - $1::interval WHERE key = 'old'",
            timedelta(days=2),
        )
        settings = redis_settings(redis_url)
        pool = await create_pool(settings)
        # A burst worker stops only at an empty queue: no reminder left by other tests.
        await pool.flushdb()
        await pool.enqueue_job("forget_expired_idempotency_keys")
        worker = Worker(
            functions=FUNCTIONS,  # type: ignore[arg-type]
            redis_settings=settings,
            on_startup=startup,
            on_shutdown=shutdown,
            ctx={"database_url": database_url},
            burst=True,
            handle_signals=False,
            poll_delay=0.05,
        )
        await worker.main()
        await worker.close()
        await pool.aclose()

        remaining = {r["key"] for r in await conn.fetch("SELECT key FROM idempotency_keys")}
    finally:
        await conn.close()

    assert worker.jobs_complete == 1
    assert worker.jobs_failed == 0
    assert "old" not in remaining
    assert "fresh" in remaining
