"""Settings a self-hoster sets, and the `sen` command."""

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.settings import Settings, get_settings
from app.main import create_app
from tests.conftest import PASSWORD
from tests.problem_codes import recorded


def test_secret_key_is_generated_once_and_kept_under_the_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).jwt_secret()
    again = Settings(data_dir=tmp_path).jwt_secret()

    assert first == again
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_a_set_secret_key_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key="s" * 40).jwt_secret() == "s" * 40
    assert not (tmp_path / "secret_key").exists()


async def test_cors_allows_only_the_listed_spa_origins(database_url: str, redis_url: str) -> None:
    settings = Settings(cors_origins="https://app.minhphat.vn")  # type: ignore[arg-type]
    app = create_app(settings, db_url=database_url, queue_url=redis_url)
    preflight = {"Access-Control-Request-Method": "GET"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=recorded(app)), base_url="http://sen.test"
    ) as http:
        allowed = await http.options(
            "/api/v1/leads", headers={"Origin": "https://app.minhphat.vn", **preflight}
        )
        other = await http.options(
            "/api/v1/leads", headers={"Origin": "https://evil.example", **preflight}
        )

    assert allowed.headers["access-control-allow-origin"] == "https://app.minhphat.vn"
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_origins_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://app.minhphat.vn"})

    assert "access-control-allow-origin" not in response.headers


def test_create_workspace_from_the_command_line(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)  # the test database, never ./.sen
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli,
            ["create-workspace", "--name", "Từ dòng lệnh", "--email", "cli@sen.vn",
             "--full-name", "Quản trị", "--password", PASSWORD],
        )  # fmt: skip
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    created = json.loads(result.output.strip().splitlines()[-1])
    assert set(created) == {"workspace_id", "owner_id"}
    login = asyncio.run(_log_in_to(database_url, redis_url, "cli@sen.vn"))
    assert login == 200


async def _log_in_to(database_url: str, redis_url: str, email: str) -> int:
    app = create_app(db_url=database_url, queue_url=redis_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=recorded(app)), base_url="http://sen.test"
        ) as http,
    ):
        response = await http.post(
            "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        )
    return response.status_code
