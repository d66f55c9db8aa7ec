"""Nothing submitted is lost, whatever fails: Redis stopped during a burst, PostgreSQL
unreachable, the worker killed mid-job again and again. Real servers and processes, stopped and
killed by the test."""

import asyncio
import random
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core import embedded, jobs
from app.core.migrate import upgrade
from app.core.runtime import ensure_database
from tests.conftest import sign_up
from tests.factories import API, make_form
from tests.intake_harness import (
    assert_one_lead_each,
    leads,
    processed,
    statuses,
    sweep_until_processed,
)
from tests.servers import RedisProcess, sen_process
from tests.worker_harness import eventually

pytestmark = pytest.mark.usefixtures("empty_queue", "retry_at_once")
SUBMISSIONS = 200
KILLS = 5


async def test_posts_during_a_redis_outage_are_all_answered_and_all_processed_later(
    tmp_path: Path, app_on: Any, database_url: str, committing_client: httpx.AsyncClient
) -> None:
    redis = RedisProcess(Path(tmp_path))
    redis.start()
    try:
        http = await app_on(redis.url)
        owner = await sign_up(http, "committing-intake-redis-down")
        headers = owner["headers"]
        form = await make_form(http, headers)

        redis.kill()
        answers = await asyncio.gather(
            *(
                http.post(
                    f"{API}/intake/forms/{form['key']}",
                    json={"full_name": f"Khách {i}", "phone": f"09120000{i:02d}"},
                )
                for i in range(20)
            )
        )
        redis.start()
        found = await sweep_until_processed(http, headers, database_url, redis.url, 20)
        made = await leads(http, headers)
    finally:
        redis.kill()

    assert [a.status_code for a in answers] == [202] * 20
    assert_one_lead_each(found, made)


async def test_with_postgres_unreachable_a_post_is_503_and_its_retry_is_stored(
    own_postgres: Path, app_on: Any, redis_url: str
) -> None:
    url = await ensure_database(embedded.ensure_postgres(own_postgres), "sen")
    await upgrade(url)
    http = await app_on(redis_url, url)
    headers = (await sign_up(http, "Mất điện form"))["headers"]
    form = await make_form(http, headers)
    body = {"full_name": "Đỗ Minh", "phone": "0912000111"}

    await asyncio.to_thread(embedded.stop_postgres, own_postgres)
    down = await http.post(f"{API}/intake/forms/{form['key']}", json=body)
    await asyncio.to_thread(embedded.ensure_postgres, own_postgres)
    retried = [await http.post(f"{API}/intake/forms/{form['key']}", json=body)]
    while retried[-1].status_code == 503 and len(retried) < 50:  # the pool finds it back
        await asyncio.sleep(0.2)
        retried.append(await http.post(f"{API}/intake/forms/{form['key']}", json=body))

    assert down.status_code == 503
    assert down.json()["code"] == "database_unavailable"
    assert int(down.headers["retry-after"]) >= 1
    assert retried[-1].status_code == 202
    stored = await statuses(http, headers)
    assert [s["id"] for s in stored] == [retried[-1].json()["submission_id"]]


async def test_a_worker_killed_again_and_again_still_makes_one_lead_per_submission(
    tmp_path: Path,
    committing_client: httpx.AsyncClient,
    database_url: str,
    redis_url: str,
) -> None:
    owner = await sign_up(committing_client, "committing-intake-sigkill")
    headers = owner["headers"]
    form = await make_form(committing_client, headers)
    for i in range(SUBMISSIONS):
        response = await committing_client.post(
            f"{API}/intake/forms/{form['key']}",
            json={"full_name": f"Khách {i}", "phone": f"091300{i:04d}"},
        )
        assert response.status_code == 202
    await jobs.wait_for_sends()

    chance = random.Random(20261202)
    progress = [0]
    for _ in range(KILLS):
        worker = sen_process("worker", tmp_path, database_url, redis_url)

        async def working(before: int = progress[-1]) -> bool:
            return await processed(committing_client, headers) > before

        try:
            started = await eventually(working, seconds=30)
            await asyncio.sleep(chance.uniform(0, 0.3))  # somewhere in the middle of one
        finally:  # a worker left running would take the next tests' jobs
            worker.send_signal(signal.SIGKILL)
            await asyncio.to_thread(worker.wait, 10)
        assert started, (tmp_path / "worker.log").read_text()[-3000:]  # it took jobs
        progress.append(await processed(committing_client, headers))

    found = await sweep_until_processed(
        committing_client, headers, database_url, redis_url, SUBMISSIONS
    )
    made = await leads(committing_client, headers)

    assert progress[-1] < SUBMISSIONS  # every kill landed while work was left
    assert_one_lead_each(found, made)
