"""Reminders: an activity's `remind_at` becomes a notification through a real arq worker on the
real Redis, once, and is delivered even when the worker or the queue missed it."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from arq import create_pool

from app.core import jobs
from app.core.queue import redis_settings
from tests.conftest import sign_up
from tests.factories import make_activity
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def plan_call(http: httpx.AsyncClient, headers: dict[str, str], remind_at: str) -> dict:
    """A call to remind its owner of, once its reminder job is on the queue."""
    activity = await make_activity(http, headers, subject="Gọi lại anh Hải", remind_at=remind_at)
    await jobs.wait_for_sends()
    return activity


async def inbox(http: httpx.AsyncClient, headers: dict[str, str]) -> dict:
    return (await http.get("/api/v1/notifications", headers=headers)).json()  # type: ignore[no-any-return]


async def test_a_reminder_becomes_one_notification_for_the_owner(
    committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    owner = await sign_up(committing_client, "committing-reminders")
    headers = owner["headers"]
    activity = await plan_call(committing_client, headers, soon(1))

    async with running_worker(database_url, redis_url):

        async def delivered() -> bool:
            return (await inbox(committing_client, headers))["unread_count"] == 1

        assert await eventually(delivered)
        await asyncio.sleep(1.5)  # the sweep or a repeated job would deliver it again by now

    box = await inbox(committing_client, headers)
    (notification,) = box["data"]
    assert (notification["kind"], notification["title"]) == ("reminder", "Gọi lại anh Hải")
    assert notification["activity_id"] == activity["id"]
    read = await committing_client.post(
        f"/api/v1/notifications/{notification['id']}/read", headers=headers
    )
    assert read.json()["read_at"] is not None
    assert (await inbox(committing_client, headers))["unread_count"] == 0


async def test_a_completed_or_rescheduled_activity_reminds_nobody_at_the_old_time(
    committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    owner = await sign_up(committing_client, "committing-reminders-moved")
    headers = owner["headers"]
    completed = await plan_call(committing_client, headers, soon(1))
    moved = await plan_call(committing_client, headers, soon(1))
    await committing_client.patch(
        f"/api/v1/activities/{completed['id']}", json={"completed": True}, headers=headers
    )
    await committing_client.patch(
        f"/api/v1/activities/{moved['id']}", json={"remind_at": soon(3600)}, headers=headers
    )

    async with running_worker(database_url, redis_url):
        await asyncio.sleep(2.5)  # both old reminder times pass with the worker running

    assert (await inbox(committing_client, headers))["data"] == []


async def test_a_reminder_missed_while_no_worker_ran_is_delivered_when_one_is_back(
    committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    owner = await sign_up(committing_client, "committing-reminders-missed")
    headers = owner["headers"]
    await plan_call(committing_client, headers, soon(0.5))
    await asyncio.sleep(1)  # its time passes with no worker running

    async with running_worker(database_url, redis_url):

        async def delivered() -> bool:
            return (await inbox(committing_client, headers))["unread_count"] == 1

        assert await eventually(delivered)


async def test_a_reminder_whose_job_redis_lost_is_delivered_by_the_sweep(
    committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    owner = await sign_up(committing_client, "committing-reminders-lost")
    headers = owner["headers"]
    await plan_call(committing_client, headers, soon(0.5))
    pool = await create_pool(redis_settings(redis_url))
    await pool.flushdb()  # Redis restarted without its data: the nudge is gone
    await asyncio.sleep(1)

    await pool.enqueue_job("sweep_reminders")  # what the every-minute cron runs
    async with running_worker(database_url, redis_url):

        async def delivered() -> bool:
            return (await inbox(committing_client, headers))["unread_count"] == 1

        assert await eventually(delivered)
    await pool.aclose()

    done = await committing_client.post("/api/v1/notifications/read-all", headers=headers)
    assert done.json() == {"marked": 1}


async def test_a_reminder_set_in_the_past_is_delivered_at_once_and_nothing_is_refused(
    committing_client: httpx.AsyncClient,
    database_url: str,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    owner = await sign_up(committing_client, "committing-reminders-past")
    headers = owner["headers"]
    # Over a day ago: past the margin arq keeps a job for, which it used to refuse.
    activity = await plan_call(committing_client, headers, ago(days=2))

    async with running_worker(database_url, redis_url):  # no sweep runs here: only the job

        async def delivered() -> bool:
            return (await inbox(committing_client, headers))["unread_count"] == 1

        assert await eventually(delivered)

    (notification,) = (await inbox(committing_client, headers))["data"]
    assert notification["activity_id"] == activity["id"]
    assert "job not enqueued" not in capsys.readouterr().err
