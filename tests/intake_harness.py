"""What tests of intake (web forms and ad platforms alike) share: reading submissions and leads
back through the API, waiting for a real worker to settle them, Sen on a Redis the test may
stop, and the sweep handing back what waits."""

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import pytest_asyncio
from arq import create_pool

from app.core import jobs
from app.core.queue import redis_settings
from app.main import create_app
from tests.conftest import settings_changed, without_worker
from tests.factories import API
from tests.problem_codes import recorded
from tests.worker_harness import eventually, running_worker


@pytest.fixture
def retry_at_once() -> Iterator[None]:
    """The sweep hands back every submission still waiting, however new."""
    with settings_changed(intake_retry_after_seconds=0):
        yield


@pytest_asyncio.fixture
async def app_on(database_url: str) -> AsyncIterator[Any]:
    """`open(queue_url)`: Sen on the test database and the given Redis, its own pool (data is
    committed; `committing-*` workspaces are removed by `committing_client`)."""
    async with AsyncExitStack() as stack:

        async def open_app(queue_url: str, db_url: str = database_url) -> httpx.AsyncClient:
            application = create_app(without_worker(), db_url=db_url, queue_url=queue_url)
            await stack.enter_async_context(application.router.lifespan_context(application))
            transport = httpx.ASGITransport(app=recorded(application), raise_app_exceptions=False)
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://sen.test", timeout=30)
            )

        yield open_app


async def submission(http: httpx.AsyncClient, headers: dict[str, str], sid: str) -> dict[str, Any]:
    response = await http.get(f"{API}/intake/submissions/{sid}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def statuses(
    http: httpx.AsyncClient, headers: dict[str, str], **query: str
) -> list[dict[str, Any]]:
    """Every submission of the workspace (up to 200), newest first."""
    response = await http.get(
        f"{API}/intake/submissions", params={"limit": "200", **query}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def leads(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await http.get(f"{API}/leads?limit=200", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def settled(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    sids: str | list[str],
    database_url: str,
    redis_url: str,
    seconds: float = 10,
) -> Any:
    """The submission (or each of several) once a real worker has settled it: no longer
    `received`."""
    wanted = [sids] if isinstance(sids, str) else sids
    await jobs.wait_for_sends()
    async with running_worker(database_url, redis_url):

        async def done() -> bool:
            found = [await submission(http, headers, sid) for sid in wanted]
            return all(s["status"] != "received" for s in found)

        assert await eventually(done, seconds)
    found = [await submission(http, headers, sid) for sid in wanted]
    return found[0] if isinstance(sids, str) else found


async def sweep_until_processed(
    http: httpx.AsyncClient, headers: dict[str, str], database_url: str, redis_url: str, count: int
) -> list[dict[str, Any]]:
    """Run a worker and the sweep's job until all `count` submissions are processed."""
    pool = await create_pool(redis_settings(redis_url))
    await pool.enqueue_job("sweep_submissions", _job_id=f"sweep-{uuid.uuid4()}")
    await pool.aclose()
    async with running_worker(database_url, redis_url):

        async def all_processed() -> bool:
            found = await statuses(http, headers)
            return len(found) == count and all(s["status"] == "processed" for s in found)

        assert await eventually(all_processed, seconds=60)
    return await statuses(http, headers)


async def processed(http: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return sum(s["status"] == "processed" for s in await statuses(http, headers))


def assert_one_lead_each(found: list[dict[str, Any]], made: list[dict[str, Any]]) -> None:
    """Every submission made its own lead, and every lead is one submission's."""
    lead_ids = [s["lead_id"] for s in found]
    assert len(set(lead_ids)) == len(found)
    assert sorted(lead_ids) == sorted(lead["id"] for lead in made)
    assert {lead["submission_id"] for lead in made} == {s["id"] for s in found}
