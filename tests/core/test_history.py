"""Record history through the HTTP API: paged like every list, and showing a viewer nothing
about records hidden from them."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.history import RecordChange
from app.core.models import utcnow
from tests.conftest import World

API = "/api/v1"


async def _created(http: httpx.AsyncClient, world: World, path: str, body: dict) -> dict:
    response = await http.post(f"{API}/{path}", json=body, headers=world.sales.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _activity(http: httpx.AsyncClient, world: World) -> dict:
    lead = await _created(http, world, "leads", {"full_name": "Vũ Hải"})
    body = {"type": "call", "subject": "Gọi", "related_type": "lead", "related_id": lead["id"]}
    return await _created(http, world, "activities", body)


# Each resource with a history: how to make one, and a field to change.
RESOURCES = {
    "leads": ({"full_name": "Trần Thị Lan"}, "full_name"),
    "accounts": ({"name": "Minh Phát"}, "name"),
    "contacts": ({"full_name": "Nguyễn Văn Ánh"}, "full_name"),
    "deals": ({"name": "Xe tải 2026"}, "name"),
    "activities": (None, "subject"),
}


async def _pages(http: httpx.AsyncClient, url: str, headers: dict, limit: int) -> list[dict]:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await http.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


class TestHistoryIsPaged:
    @pytest.mark.parametrize("path", list(RESOURCES))
    async def test_every_records_history_comes_a_page_at_a_time_oldest_first(
        self, client: httpx.AsyncClient, world: World, path: str
    ) -> None:
        body, field = RESOURCES[path]
        record = (
            await _activity(client, world) if body is None
            else await _created(client, world, path, body)
        )  # fmt: skip
        url = f"{API}/{path}/{record['id']}"
        for value in ("Một", "Hai", "Ba"):
            changed = await client.patch(url, json={field: value}, headers=world.sales.headers)
            assert changed.status_code == 200, changed.text

        pages = await _pages(client, f"{url}/history", world.sales.headers, limit=3)

        assert [len(page["data"]) for page in pages] == [3, 1]
        entries = [entry for page in pages for entry in page["data"]]
        assert [e["action"] for e in entries] == ["created", "updated", "updated", "updated"]
        assert [e["changes"][field]["new"] for e in entries[1:]] == ["Một", "Hai", "Ba"]
        assert len({e["id"] for e in entries}) == 4

    async def test_a_long_history_answers_fifty_changes_by_default(
        self, client: httpx.AsyncClient, world: World, session: AsyncSession
    ) -> None:
        lead = await _created(client, world, "leads", {"full_name": "Ghi chú dài"})
        start = utcnow()
        session.add_all(
            RecordChange(
                workspace_id=world.sales.workspace_id, resource="lead",
                record_id=uuid.UUID(lead["id"]), action="updated",
                actor_id=world.sales.user_id, at=start + timedelta(seconds=i),
                changes={"notes": {"old": "x" * 1000, "new": "y" * 1000}},
            )
            for i in range(60)
        )  # fmt: skip
        url = f"{API}/leads/{lead['id']}/history"

        first = await client.get(url, headers=world.sales.headers)
        rest = await client.get(
            url, params={"cursor": first.json()["next_cursor"]}, headers=world.sales.headers
        )
        too_many = await client.get(url, params={"limit": 201}, headers=world.sales.headers)

        assert len(first.json()["data"]) == 50
        assert first.json()["data"][0]["action"] == "created"
        assert len(rest.json()["data"]) == 11
        assert rest.json()["next_cursor"] is None
        assert too_many.status_code == 422

    async def test_a_cursor_that_is_not_a_history_cursor_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await _created(client, world, "leads", {"full_name": "Lạc"})

        response = await client.get(
            f"{API}/leads/{lead['id']}/history",
            params={"cursor": "bm90LWEtY3Vyc29y"},
            headers=world.sales.headers,
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "cursor"
