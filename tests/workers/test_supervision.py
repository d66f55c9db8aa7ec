"""The worker under supervision, as real processes: `sen serve` and `sen worker` against the
test database and a redis-server of the test's own, which the test kills and starts again."""

import asyncio
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.db import libpq_url
from tests.servers import RedisProcess, sen_process, until

PASSWORD = "mat-khau-123"
WORKSPACE = "committing-worker-supervision"
RESTARTING = "worker stopped; restarting it when Redis answers"


@pytest.fixture
def remove_workspace(database_url: str) -> Iterator[None]:
    yield

    async def remove() -> None:
        conn = await asyncpg.connect(libpq_url(database_url))
        try:
            await conn.execute("DELETE FROM workspaces WHERE name = $1", WORKSPACE)
        finally:
            await conn.close()

    asyncio.run(remove())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log(tmp_path: Path, command: str) -> str:
    return (tmp_path / f"{command}.log").read_text(errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _readyz(base: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{base}/readyz", timeout=5)
    except httpx.HTTPError:
        return None


def _serving(base: str, process: subprocess.Popen[bytes], tmp_path: Path) -> None:
    def ready() -> bool:
        assert process.poll() is None, _log(tmp_path, "serve")[-3000:]
        response = _readyz(base)
        return response is not None and response.status_code == 200

    assert until(ready, 60), f"sen serve never became ready: {_log(tmp_path, 'serve')[-3000:]}"


def _not_ready(base: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def failing() -> bool:
        response = _readyz(base)
        if response is None or response.status_code != 503:
            return False
        found.update(response.json())
        return True

    assert until(failing, 30), "/readyz kept answering 200"
    return found


@pytest.mark.usefixtures("remove_workspace")
def test_serve_delivers_reminders_after_redis_restarts(
    tmp_path: Path, database_url: str, redis_server: RedisProcess
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = sen_process("serve", tmp_path, database_url, redis_server.url, PORT=str(port))
    try:
        _serving(base, serve, tmp_path)
        signup = httpx.post(
            f"{base}/api/v1/auth/signup",
            json={"workspace_name": WORKSPACE, "email": "nhac@sen.vn", "password": PASSWORD,
                  "full_name": "Lê Thu"},
        )  # fmt: skip
        assert signup.status_code == 201, signup.text
        headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        lead = httpx.post(f"{base}/api/v1/leads", json={"full_name": "Vũ Hải"}, headers=headers)
        remind_at = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
        activity = httpx.post(
            f"{base}/api/v1/activities",
            json={"type": "call", "subject": "Gọi lại anh Hải", "related_type": "lead",
                  "related_id": lead.json()["id"], "remind_at": remind_at},
            headers=headers,
        )  # fmt: skip
        assert activity.status_code == 201, activity.text

        def job_queued() -> bool:
            with redis_server.client() as client:
                return bool(client.zcard("arq:queue"))

        assert until(job_queued, 30), "the reminder's job never reached Redis"

        redis_server.kill()
        while_down = _not_ready(base)
        # Down long enough for the worker to notice: a Redis back before its next poll is
        # reconnected to by redis-py itself, and the worker never sees the outage.
        assert until(lambda: RESTARTING in _log(tmp_path, "serve"), 30), _log(tmp_path, "serve")
        redis_server.start()

        def delivered() -> bool:
            assert serve.poll() is None, _log(tmp_path, "serve")[-3000:]
            inbox = httpx.get(f"{base}/api/v1/notifications", headers=headers, timeout=5)
            return inbox.status_code == 200 and inbox.json()["unread_count"] == 1

        assert until(delivered, 90), f"no reminder delivered: {_log(tmp_path, 'serve')[-3000:]}"
        _serving(base, serve, tmp_path)
    finally:
        _stop(serve)

    assert "redis" in while_down["detail"]
    assert "worker" in while_down["detail"]
    assert '"worker restarted"' in _log(tmp_path, "serve")


def test_serve_exits_non_zero_when_its_worker_cannot_come_back(
    tmp_path: Path, database_url: str, redis_server: RedisProcess
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    serve = sen_process(
        "serve", tmp_path, database_url, redis_server.url,
        PORT=str(port), SEN_WORKER_RESTART_SECONDS="2",
    )  # fmt: skip
    try:
        _serving(base, serve, tmp_path)
        redis_server.kill()  # and it never comes back

        assert until(lambda: serve.poll() is not None, 90), "sen serve kept running"
    finally:
        _stop(serve)

    assert serve.returncode == 1
    assert "worker could not be brought back" in _log(tmp_path, "serve")
    assert _readyz(base) is None  # the API stopped with it


def test_worker_exits_non_zero_when_redis_never_answers(
    tmp_path: Path, database_url: str, redis_server: RedisProcess
) -> None:
    redis_server.kill()
    worker = sen_process(
        "worker", tmp_path, database_url, redis_server.url, SEN_WORKER_RESTART_SECONDS="2"
    )
    try:
        assert until(lambda: worker.poll() is not None, 90), "sen worker kept running"
    finally:
        _stop(worker)

    assert worker.returncode == 1
    assert "worker could not be brought back" in _log(tmp_path, "worker")
