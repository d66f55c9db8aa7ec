"""HTTP behaviour every endpoint shares: problem+json, health, request ids, metrics, docs."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from arq import create_pool
from fastapi import FastAPI

from app.automations.schemas import AutomationCreate
from app.core.errors import PROBLEM_MEDIA_TYPE
from app.core.queue import redis_settings
from app.core.settings import get_settings
from app.main import create_app
from tests.conftest import World
from tests.problem_codes import recorded
from workers.supervisor import run_supervised


class TestProblems:
    async def test_unknown_path_is_a_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/nothing-here")

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert response.json()["code"] == "not_found"

    async def test_wrong_method_is_405_listing_every_allowed_method(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.put(
            "/api/v1/leads/01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f", headers=world.sales.headers
        )

        assert response.status_code == 405
        assert response.headers["allow"] == "DELETE, GET, PATCH"
        assert response.json()["code"] == "method_not_allowed"

    async def test_malformed_id_is_422_not_500(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.get("/api/v1/leads/not-a-uuid", headers=world.sales.headers)

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "lead_id"

    async def test_malformed_json_is_a_422_problem(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            "/api/v1/leads",
            content=b'{"full_name": ',
            headers={**world.sales.headers, "content-type": "application/json"},
        )

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE

    async def test_a_lone_surrogate_in_json_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            "/api/v1/leads", content=b'{"full_name": "\\ud800"}',
            headers={**world.sales.headers, "content-type": "application/json"},
        )  # fmt: skip

        assert response.status_code == 422

    @pytest.mark.parametrize("value", [0, 1, "true", "yes"])
    async def test_a_boolean_field_takes_true_or_false_only(
        self, client: httpx.AsyncClient, world: World, value: object
    ) -> None:
        # Found by schemathesis: `"active": 0` made a switched-off workflow.
        assert AutomationCreate.example is not None
        response = await client.post(
            "/api/v1/automations",
            json={**AutomationCreate.example, "active": value},
            headers=world.admin.headers,
        )

        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["active"]

    async def test_an_unexpected_error_is_a_generic_500_problem_without_a_trace(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        @app.get("/boom-for-test", include_in_schema=False)
        async def boom() -> None:
            raise RuntimeError("secret internals")

        response = await client.get("/boom-for-test")

        assert response.status_code == 500
        assert response.json()["code"] == "internal_error"
        assert "secret" not in response.text


class TestOperations:
    async def test_healthz_and_readyz(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready"}

    async def test_request_id_is_echoed_or_made(self, client: httpx.AsyncClient) -> None:
        given = await client.get(
            "/healthz", headers={"X-Request-ID": "abc123abc123abc123abc123abc123ab"}
        )
        made = await client.get("/healthz")
        unfit = await client.get("/healthz", headers={"X-Request-ID": "x" * 129})

        assert given.headers["x-request-id"] == "abc123abc123abc123abc123abc123ab"
        assert len(made.headers["x-request-id"]) >= 16
        assert made.headers["x-request-id"] != unfit.headers["x-request-id"] != "x" * 129

    async def test_metrics_count_requests_by_route(
        self, client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "metrics_token", "scraper-secret")
        await client.get("/api/v1/leads", headers=world.sales.headers)

        metrics = await client.get("/metrics", headers={"Authorization": "Bearer scraper-secret"})

        assert 'route="/api/v1/leads"' in metrics.text
        assert "sen_http_request_seconds_bucket" in metrics.text

    async def test_metrics_are_hidden_without_the_scrapers_token(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        unset = await client.get("/metrics")
        monkeypatch.setattr(get_settings(), "metrics_token", "scraper-secret")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})

        assert unset.status_code == wrong.status_code == 404
        assert "sen_http" not in unset.text + wrong.text

    async def test_docs_are_served_without_a_cdn(self, client: httpx.AsyncClient) -> None:
        page = await client.get("/docs")
        script = page.text.split('src="')[1].split('"')[0]
        asset = await client.get(script)

        assert page.status_code == 200
        assert script.startswith("/")
        assert asset.status_code == 200
        assert "SwaggerUIBundle" in asset.text


class TestLogs:
    async def test_an_error_is_logged_as_json_with_the_request_id(
        self, app: FastAPI, client: httpx.AsyncClient, capfd: pytest.CaptureFixture[str]
    ) -> None:
        @app.get("/boom-for-logs", include_in_schema=False)
        async def boom() -> None:
            raise RuntimeError("kaput")

        response = await client.get("/boom-for-logs", headers={"X-Request-ID": "a" * 32})
        lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line]

        assert response.status_code == 500
        logged = [line for line in lines if line.get("event") == "unhandled error"]
        assert logged
        assert logged[0]["request_id"] == "a" * 32
        assert "kaput" in logged[0]["exception"]


class TestRedisDown:
    async def test_the_api_keeps_serving_and_readyz_names_redis(
        self, database_url: str, world: World
    ) -> None:
        app = create_app(db_url=database_url, queue_url="redis://127.0.0.1:1/0")
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=recorded(app)), base_url="http://sen.test"
            ) as http,
        ):
            ready = await http.get("/readyz")
            health = await http.get("/healthz")
            me = await http.get("/api/v1/me", headers=world.owner.headers)

        assert ready.status_code == 503
        assert "redis" in ready.json()["detail"]
        assert health.status_code == 200
        assert me.status_code == 200


class TestWorkerHeartbeat:
    @pytest.fixture
    async def http(self, database_url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
        """An app with the default settings, so its /readyz checks the worker's heartbeat."""
        pool = await create_pool(redis_settings(redis_url))
        await pool.flushdb()  # no heartbeat or job left from an earlier test
        await pool.aclose()
        app = create_app(db_url=database_url, queue_url=redis_url)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=recorded(app)), base_url="http://sen.test"
            ) as http,
        ):
            yield http

    async def test_readyz_names_the_worker_until_one_beats_and_after_it_stops(
        self, http: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        before = await http.get("/readyz")
        worker = asyncio.create_task(run_supervised(database_url, redis_url, give_up_after=60))
        try:
            for _ in range(300):
                running = await http.get("/readyz")
                if running.status_code == 200 or worker.done():
                    break
                await asyncio.sleep(0.1)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        after = await http.get("/readyz")

        assert before.status_code == 503
        assert before.json()["detail"] == "Not answering: worker"
        assert running.status_code == 200
        assert running.json() == {"status": "ready"}
        assert after.json()["detail"] == "Not answering: worker"  # a clean stop says so at once
