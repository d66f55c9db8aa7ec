"""Faults of the database answer 503 with Retry-After (never a 500), the client's connection
stays usable, and the service recovers by itself when the database is back: tested by
stopping and starting a real PostgreSQL, holding every pooled connection, and holding a lock
past the statement timeout."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from fastapi import FastAPI

from app.core import embedded
from app.core.db import libpq_url
from app.core.migrate import upgrade
from app.core.runtime import ensure_database
from app.core.settings import Settings
from app.main import create_app
from tests.conftest import PASSWORD, sign_up
from tests.factories import make_lead
from tests.problem_codes import recorded
from tests.servers import serve


def _client_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def _problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json", response.text
    body: dict[str, Any] = response.json()
    return body


async def test_database_down_is_503_and_the_service_recovers_when_it_is_back(
    own_postgres: Path, redis_url: str
) -> None:
    url = await ensure_database(embedded.ensure_postgres(own_postgres), "sen")
    await upgrade(url)
    server, thread, base = serve(create_app(db_url=url, queue_url=redis_url))
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            headers = (await sign_up(http, "Mất điện", email="sap@mat-dien.vn"))["headers"]
            before = await http.get("/api/v1/leads", headers=headers)
            ports = {_client_port(before)}

            await asyncio.to_thread(embedded.stop_postgres, own_postgres)
            down = []
            for request in (
                http.build_request("GET", "/api/v1/leads", headers=headers),
                http.build_request("POST", "/api/v1/leads", json={"full_name": "A"},
                                   headers=headers),
                http.build_request("POST", "/api/v1/auth/token",
                                   data={"username": "sap@mat-dien.vn", "password": PASSWORD}),
            ):  # fmt: skip
                down.append(await http.send(request))
                ports.add(_client_port(down[-1]))

            await asyncio.to_thread(embedded.ensure_postgres, own_postgres)
            seen = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                answer = await http.get("/api/v1/leads", headers=headers)
                seen.append(answer.status_code)
                if answer.status_code == 200:
                    break
                await asyncio.sleep(0.2)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)

    assert before.status_code == 200
    for response in down:
        assert response.status_code == 503, response.text
        assert _problem(response)["code"] == "database_unavailable"
        assert int(response.headers["Retry-After"]) >= 1
        assert response.headers.get("connection") != "close"
    # One kept-alive connection carried them all: a fault does not cost the client its socket.
    assert len(ports) == 1
    assert seen[-1] == 200, seen
    assert set(seen) <= {200, 503}, seen


@pytest_asyncio.fixture
async def small_pool_app(database_url: str, redis_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(db_pool_size=1, db_pool_timeout_seconds=0.5, statement_timeout_ms=1500)
    application = create_app(settings, db_url=database_url, queue_url=redis_url)
    async with application.router.lifespan_context(application):
        yield application


async def test_an_exhausted_pool_is_503_and_frees_up(
    small_pool_app: FastAPI, committing_client: httpx.AsyncClient
) -> None:
    transport = httpx.ASGITransport(app=recorded(small_pool_app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sen.test") as http:
        headers = (await sign_up(http, "committing-faults"))["headers"]
        engine = small_pool_app.state.engine
        async with engine.connect() as first, engine.connect() as second:
            await first.exec_driver_sql("SELECT 1")
            await second.exec_driver_sql("SELECT 1")
            busy = await http.get("/api/v1/leads", headers=headers)
        after = await http.get("/api/v1/leads", headers=headers)

    assert busy.status_code == 503
    assert _problem(busy)["code"] == "database_busy"
    assert busy.headers["Retry-After"] == "1"
    assert after.status_code == 200


async def test_a_statement_past_the_timeout_is_503_and_changes_nothing(
    small_pool_app: FastAPI, committing_client: httpx.AsyncClient, database_url: str
) -> None:
    transport = httpx.ASGITransport(app=recorded(small_pool_app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sen.test") as http:
        headers = (await sign_up(http, "committing-faults"))["headers"]
        workspace = (await http.get("/api/v1/me", headers=headers)).json()["workspace"]["id"]
        lead = await make_lead(http, headers, full_name="Bị Khóa")
        holder = await asyncpg.connect(libpq_url(database_url))
        try:
            async with holder.transaction():  # another writer holds the row past the timeout
                await holder.execute(
                    "SELECT 1 FROM leads WHERE workspace_id = $1 AND id = $2 FOR UPDATE",
                    uuid.UUID(workspace),
                    uuid.UUID(lead["id"]),
                )
                slow = await http.patch(
                    f"/api/v1/leads/{lead['id']}", json={"full_name": "Đổi"}, headers=headers
                )
        finally:
            await holder.close()
        after = await http.get(f"/api/v1/leads/{lead['id']}", headers=headers)
        retried = await http.patch(
            f"/api/v1/leads/{lead['id']}", json={"full_name": "Đổi"}, headers=headers
        )

    assert slow.status_code == 503
    assert _problem(slow)["code"] == "query_timeout"
    assert after.json()["full_name"] == "Bị Khóa"
    assert retried.status_code == 200
