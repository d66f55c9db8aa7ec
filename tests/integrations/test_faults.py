"""Nothing an ad platform delivers is lost or doubled when Redis stops during a burst: every
post is answered 200 once stored, and once Redis is back the sweep hands each submission to
the worker, which reads Meta's leads from the (local) Graph API and makes one lead each."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import sign_up
from tests.factories import make_integration
from tests.intake_harness import assert_one_lead_each, leads, sweep_until_processed
from tests.integrations.platforms import GOOGLE_KEY, FakeGraph, google_lead, leadgen, post_meta
from tests.servers import RedisProcess

pytestmark = pytest.mark.usefixtures("empty_queue", "retry_at_once")
EACH = 12


async def test_a_meta_and_google_burst_during_a_redis_outage_is_all_processed_once_later(
    tmp_path: Path,
    app_on: Any,
    database_url: str,
    graph: FakeGraph,
    committing_client: httpx.AsyncClient,
) -> None:
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        http = await app_on(redis.url)
        headers = (await sign_up(http, "committing-integrations-redis-down"))["headers"]
        facebook = await make_integration(http, headers)
        google = await make_integration(
            http, headers, provider="google", config={"google_key": GOOGLE_KEY}
        )
        lead_ids = [
            graph.add_lead(full_name=f"Khách Facebook {i}", phone_number=f"0913000{i:03d}")
            for i in range(EACH)
        ]
        bodies = [
            google_lead(f"G-{i}", FULL_NAME=f"Khách Google {i}", PHONE_NUMBER=f"0914000{i:03d}")
            for i in range(EACH)
        ]

        redis.kill()
        answers = await asyncio.gather(
            *(post_meta(http, facebook["id"], leadgen(lead_id)) for lead_id in lead_ids),
            *(http.post(f"/api/v1/intake/google/{google['id']}", json=body) for body in bodies),
        )
        # Platforms retry and batch: the same leads again, while Redis is still down.
        again = await post_meta(http, facebook["id"], leadgen(*lead_ids[:3]))
        redis.start()
        found = await sweep_until_processed(http, headers, database_url, redis.url, 2 * EACH)
        made = await leads(http, headers)
    finally:
        redis.kill()

    assert [a.status_code for a in answers] == [200] * (2 * EACH)
    assert (again.status_code, again.json()["redelivered"]) == (200, 3)
    assert_one_lead_each(found, made)
    assert sorted({lead["source"] for lead in made}) == ["facebook", "google_ads"]
    assert all(graph.fetches_of(lead_id) == 1 for lead_id in lead_ids)
