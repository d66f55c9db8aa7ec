"""A merge is all or nothing under real concurrency and real failure: two merges racing over
the same records (one wins, the other is a 409), and a merge cut off halfway by a statement
timeout (nothing it did stays). These commit for real: their workspaces are removed after."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from fastapi import FastAPI

from app.core.db import libpq_url
from app.core.settings import Settings
from app.main import create_app
from tests.conftest import sign_up
from tests.factories import make_account, make_activity, make_contact, make_deal, make_lead
from tests.problem_codes import recorded

API = "/api/v1"


def _body(survivor: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    return {"survivor_id": survivor["id"], "merged_ids": [merged["id"]]}


async def _read(http: httpx.AsyncClient, h: dict[str, str], path: str) -> Any:
    response = await http.get(f"{API}/{path}", headers=h, params={"include_deleted": "true"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_two_merges_racing_over_the_same_leads_one_wins_the_other_is_409(
    committing_client: httpx.AsyncClient,
) -> None:
    http = committing_client
    h = (await sign_up(http, "committing-merge-race"))["headers"]
    a = await make_lead(http, h, full_name="Nguyễn Văn Ánh", tags=["a"])
    b = await make_lead(http, h, full_name="Nguyen Van Anh", tags=["b"])
    calls = [await make_activity(http, h, related_type="lead", related_id=x["id"]) for x in (a, b)]

    answers = await asyncio.gather(
        http.post(f"{API}/leads/merge", json=_body(a, b), headers=h),
        http.post(f"{API}/leads/merge", json=_body(b, a), headers=h),
    )

    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    lost = next(r for r in answers if r.status_code == 409)
    assert lost.json()["code"] == "record_already_merged"
    survivor = next(r for r in answers if r.status_code == 200).json()
    gone = b if survivor["id"] == a["id"] else a
    assert sorted(survivor["tags"]) == ["a", "b"]
    assert (await _read(http, h, f"leads/{gone['id']}"))["merged_into_id"] == survivor["id"]
    assert (await _read(http, h, f"leads/{survivor['id']}"))["merged_into_id"] is None
    for call in calls:  # all moved once, by the winner
        assert (await _read(http, h, f"activities/{call['id']}"))["related_id"] == survivor["id"]


@pytest_asyncio.fixture
async def quick_timeout_app(database_url: str, redis_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(statement_timeout_ms=1500)
    application = create_app(settings, db_url=database_url, queue_url=redis_url)
    async with application.router.lifespan_context(application):
        yield application


async def test_a_merge_cut_off_halfway_leaves_both_contacts_as_they_were(
    quick_timeout_app: FastAPI, committing_client: httpx.AsyncClient, database_url: str
) -> None:
    transport = httpx.ASGITransport(app=recorded(quick_timeout_app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sen.test") as http:
        signed = await sign_up(http, "committing-merge-fault")
        h, workspace = signed["headers"], uuid.UUID(signed["workspace_id"])
        account = await make_account(http, h, name="Công ty CP Hoa Sen")
        survivor = await make_contact(http, h, full_name="Đỗ Thu Hà")
        merged = await make_contact(http, h, full_name="Do Thu Ha", account_id=account["id"])
        call = await make_activity(http, h, related_type="contact", related_id=merged["id"])
        deal = await make_deal(http, h, contact_id=merged["id"])
        paths = [f"contacts/{survivor['id']}", f"contacts/{merged['id']}",
                 f"activities/{call['id']}", f"deals/{deal['id']}"]  # fmt: skip
        before = [await _read(http, h, path) for path in paths]
        histories = [await _read(http, h, f"{path}/history") for path in paths]
        holder = await asyncpg.connect(libpq_url(database_url))
        try:
            async with holder.transaction():
                # Another writer holds the deal: the merge moves the contact's links and
                # activities, then waits on the deal past the statement timeout.
                await holder.execute(
                    "SELECT 1 FROM deals WHERE workspace_id = $1 AND id = $2 FOR UPDATE",
                    workspace,
                    uuid.UUID(deal["id"]),
                )
                cut = await http.post(
                    f"{API}/contacts/merge", json=_body(survivor, merged), headers=h
                )
        finally:
            await holder.close()

        assert cut.status_code == 503, cut.text
        assert cut.json()["code"] == "query_timeout"
        assert [await _read(http, h, path) for path in paths] == before
        assert [await _read(http, h, f"{path}/history") for path in paths] == histories
        retried = await http.post(f"{API}/contacts/merge", json=_body(survivor, merged), headers=h)
        assert retried.status_code == 200, retried.text
        assert [a["account_id"] for a in retried.json()["accounts"]] == [account["id"]]
