"""Record history through the HTTP API: paged like every list, and showing a viewer nothing
about records hidden from them."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import Actor, Ctx, Role
from app.core.db import enter_workspace
from app.core.history import HistoryQuery, RecordChange, history_of
from app.core.models import utcnow
from tests.conftest import World
from tests.factories import (
    Maker,
    make_account,
    make_activity,
    make_contact,
    make_deal,
    make_lead,
)

API = "/api/v1"

# Each resource with a history: how to make one, and a field to change.
RESOURCES: dict[str, tuple[Maker, str]] = {
    "leads": (make_lead, "full_name"),
    "accounts": (make_account, "name"),
    "contacts": (make_contact, "full_name"),
    "deals": (make_deal, "name"),
    "activities": (make_activity, "subject"),
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
        make, field = RESOURCES[path]
        record = await make(client, world.sales.headers)
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
        lead = await make_lead(client, world.sales.headers, full_name="Ghi chú dài")
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
        lead = await make_lead(client, world.sales.headers, full_name="Lạc")

        response = await client.get(
            f"{API}/leads/{lead['id']}/history",
            params={"cursor": "bm90LWEtY3Vyc29y"},
            headers=world.sales.headers,
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "cursor"


async def _contact_linked_to_a_hidden_account(
    http: httpx.AsyncClient, world: World
) -> tuple[dict, str, str]:
    """A sales user's contact, linked by them to their own account and by an admin to an
    account of another team (hidden from the sales user), whose role there then changes."""
    seen = await make_account(http, world.sales.headers, name="Thấy được")
    hidden_id = (await make_account(http, world.outsider.headers, name="Đội Nam"))["id"]
    contact = await make_contact(http, world.sales.headers, full_name="Lê Văn Tám")
    links = f"{API}/contacts/{contact['id']}/accounts"
    mine = await http.post(
        links, json={"account_id": seen["id"], "role": "influencer"}, headers=world.sales.headers
    )
    theirs = await http.post(
        links, json={"account_id": hidden_id, "role": "decision_maker"}, headers=world.admin.headers
    )
    role = await http.patch(
        f"{links}/{hidden_id}", json={"role": "billing"}, headers=world.admin.headers
    )
    assert (mine.status_code, theirs.status_code, role.status_code) == (201, 201, 200)
    return contact, seen["id"], hidden_id


class TestHistoryShowsOnlyWhatTheViewerMaySee:
    async def test_a_link_to_an_account_the_viewer_cannot_see_is_not_in_history_or_timeline(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact, seen_id, hidden_id = await _contact_linked_to_a_hidden_account(client, world)
        url = f"{API}/contacts/{contact['id']}"

        read = await client.get(url, headers=world.sales.headers)
        history = await client.get(f"{url}/history", headers=world.sales.headers)
        timeline = await client.get(f"{url}/timeline", headers=world.sales.headers)
        account = await client.get(f"{API}/accounts/{hidden_id}", headers=world.sales.headers)

        assert account.status_code == 404
        assert [link["account_id"] for link in read.json()["accounts"]] == [seen_id]
        for shown in (history, timeline):
            assert shown.status_code == 200
            assert hidden_id not in shown.text
            assert "decision_maker" not in shown.text
            assert "billing" not in shown.text
        # The admin's two link changes touched only the hidden account: nothing left to show.
        assert [e["action"] for e in history.json()["data"]] == ["created", "updated"]
        assert history.json()["data"][1]["changes"]["accounts"] == {
            "old": [],
            "new": [{"account_id": seen_id, "role": "influencer", "is_primary": False}],
        }
        changes = [e for e in timeline.json()["data"] if e["kind"] == "change"]
        assert [e["action"] for e in changes] == ["updated", "created"]

    async def test_those_who_see_every_account_still_see_every_link(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact, _, hidden_id = await _contact_linked_to_a_hidden_account(client, world)
        url = f"{API}/contacts/{contact['id']}"

        as_sales = await client.get(f"{url}/history", headers=world.sales.headers)
        as_admin = await client.get(f"{url}/history", headers=world.admin.headers)
        timeline = await client.get(f"{url}/timeline", headers=world.admin.headers)

        assert len(as_sales.json()["data"]) == 2
        assert [e["action"] for e in as_admin.json()["data"]] == [
            "created", "updated", "updated", "updated",
        ]  # fmt: skip
        assert as_admin.json()["data"][3]["changes"]["accounts"]["new"][1] == {
            "account_id": hidden_id, "role": "billing", "is_primary": False,
        }  # fmt: skip
        assert hidden_id in timeline.text

    async def test_an_admins_history_costs_no_visibility_query(
        self, client: httpx.AsyncClient, world: World, session: AsyncSession
    ) -> None:
        contact, _, _ = await _contact_linked_to_a_hidden_account(client, world)
        await enter_workspace(session, world.admin.workspace_id)
        statements: list[str] = []
        connection = (await session.connection()).sync_connection
        assert connection is not None

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        admin = Actor(user_id=world.admin.user_id, role=Role.admin)
        sales = Actor(
            user_id=world.sales.user_id, role=Role.sales,
            visible_owner_ids=frozenset({world.sales.user_id, world.teammate.user_id}),
        )  # fmt: skip
        seen_by: dict[Role, int] = {}
        event.listen(connection, "before_cursor_execute", count)
        try:
            for actor in (admin, sales):
                statements.clear()
                ctx = Ctx(session=session, actor=actor, workspace_id=world.admin.workspace_id)
                await history_of(ctx, "contact", uuid.UUID(contact["id"]), HistoryQuery())
                seen_by[actor.role] = len(statements)
        finally:
            event.remove(connection, "before_cursor_execute", count)

        assert seen_by == {Role.admin: 1, Role.sales: 2}
