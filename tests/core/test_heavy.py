"""One workspace's searches can't take every database connection: past
SEN_HEAVY_REQUESTS_PER_WORKSPACE running at once in a process, the next is a 429 at once,
while other workspaces and its own plain lists go on."""

import httpx
import pytest

from app.core.context import Ctx
from app.core.heavy import heavy_query
from app.core.settings import get_settings
from tests.conftest import World


async def test_a_workspace_over_its_search_cap_is_429_and_others_are_not(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "heavy_requests_per_workspace", 2)
    busy = Ctx(session=None, actor=None, workspace_id=world.owner.workspace_id)  # type: ignore[arg-type]

    async with heavy_query(busy), heavy_query(busy):  # two of its searches are running
        search = await client.get("/api/v1/search", params={"q": "nguyen"},
                                  headers=world.sales.headers)  # fmt: skip
        listed_q = await client.get("/api/v1/leads", params={"q": "nguyen"},
                                    headers=world.owner.headers)  # fmt: skip
        listed = await client.get("/api/v1/leads", headers=world.owner.headers)
        elsewhere = await client.get("/api/v1/search", params={"q": "nguyen"},
                                     headers=world.other_owner.headers)  # fmt: skip
    after = await client.get("/api/v1/search", params={"q": "nguyen"}, headers=world.sales.headers)

    for refused in (search, listed_q):
        assert refused.status_code == 429
        assert refused.json()["code"] == "workspace_busy"
        assert refused.headers["Retry-After"] == "1"
    assert listed.status_code == 200
    assert elsewhere.status_code == 200
    assert after.status_code == 200


async def test_zero_turns_the_cap_off(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "heavy_requests_per_workspace", 0)
    busy = Ctx(session=None, actor=None, workspace_id=world.owner.workspace_id)  # type: ignore[arg-type]

    async with heavy_query(busy), heavy_query(busy), heavy_query(busy):
        search = await client.get("/api/v1/search", params={"q": "nguyen"},
                                  headers=world.owner.headers)  # fmt: skip

    assert search.status_code == 200
