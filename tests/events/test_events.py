"""Domain events through real PostgreSQL and a real arq worker: each committed change is one
event, in commit order, readable by a poller that never misses one; a rolled-back change has
none; the dispatcher hands each event over once."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.core import events
from app.core.context import Actor, Ctx, Role
from app.core.db import make_engine, make_sessionmaker
from app.core.events import Event
from app.core.ids import id_floor
from app.core.jobs import job_context
from app.core.models import utcnow
from app.core.records import DuplicatePolicy
from app.leads.schemas import LeadCreate
from app.leads.service import create_lead
from tests.conftest import sign_up
from tests.factories import API
from tests.worker_harness import eventually, running_worker
from workers.settings import dispatch_events, forget_old_events

pytestmark = pytest.mark.usefixtures("empty_queue")


@pytest_asyncio.fixture
async def maker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url, poolclass=NullPool)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def polled(http: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await http.get(f"{API}/events", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_leads_life_reads_as_its_events_in_order_with_what_changed(
    committing_client: httpx.AsyncClient, database_url: str, redis_url: str
) -> None:
    http = committing_client
    owner = await sign_up(http, "committing-events")
    headers = owner["headers"]
    made = await http.post(
        f"{API}/leads", headers=headers, json={"full_name": "Nguyễn Văn Ánh", "phone": "0912345678"}
    )
    assert made.status_code == 201, made.text
    lead = made.json()
    changed = await http.patch(
        f"{API}/leads/{lead['id']}",
        headers={**headers, "If-Match": made.headers["ETag"]},
        json={"status": "contacted"},
    )
    assert changed.status_code == 200, changed.text
    gone = await http.delete(
        f"{API}/leads/{lead['id']}", headers={**headers, "If-Match": changed.headers["ETag"]}
    )
    assert gone.status_code == 204, gone.text

    seen: dict[str, Any] = {}

    async def dispatched() -> bool:
        seen.update(await polled(http, headers, resource="lead"))
        return len(seen["data"]) == 3

    async with running_worker(database_url, redis_url):
        assert await eventually(dispatched), seen
    types = [event["type"] for event in seen["data"]]
    assert types == ["lead.created", "lead.updated", "lead.deleted"]
    created, updated, deleted = seen["data"]
    assert {e["record_id"] for e in seen["data"]} == {lead["id"]}
    assert created["changes"]["full_name"] == {"old": None, "new": "Nguyễn Văn Ánh"}
    assert updated["changes"]["status"] == {"old": "new", "new": "contacted"}
    assert deleted["changes"]["deleted_at"]["old"] is None
    assert all(e["actor_id"] == owner["user_id"] and e["depth"] == 0 for e in seen["data"])
    positions = [int(e["position"]) for e in seen["data"]]
    assert positions == sorted(positions)
    assert len(set(positions)) == 3
    assert seen["next_after"] == seen["data"][-1]["position"]
    assert not seen["has_more"]

    after_first = await polled(http, headers, resource="lead", after=created["position"])
    assert [e["type"] for e in after_first["data"]] == ["lead.updated", "lead.deleted"]
    only_updates = await polled(http, headers, type="lead.updated")
    assert [e["id"] for e in only_updates["data"]] == [updated["id"]]
    of_record = await polled(http, headers, record_id=lead["id"], limit=2)
    assert len(of_record["data"]) == 2
    assert of_record["has_more"]
    rest = await polled(http, headers, record_id=lead["id"], after=of_record["next_after"])
    assert [e["type"] for e in rest["data"]] == ["lead.deleted"]
    assert not rest["has_more"]
    nothing_new = await polled(http, headers, after=deleted["position"], resource="lead")
    assert nothing_new["data"] == []
    assert nothing_new["next_after"] == deleted["position"]


async def test_only_owners_and_admins_read_events(client: httpx.AsyncClient, world: Any) -> None:
    sales = await client.get(f"{API}/events", headers=world.sales.headers)
    assert sales.status_code == 403, sales.text
    admin = await client.get(f"{API}/events", headers=world.admin.headers)
    assert admin.status_code == 200, admin.text
    bad = await client.get(f"{API}/events", headers=world.admin.headers, params={"after": "x"})
    assert bad.status_code == 422, bad.text


ALLOWED = DuplicatePolicy.allowed


async def _workspace(http: httpx.AsyncClient) -> tuple[uuid.UUID, Actor]:
    """A fresh workspace, and its owner acting through the services."""
    owner = await sign_up(http, "committing-events")
    actor = Actor(user_id=uuid.UUID(owner["user_id"]), role=Role.owner, team_id=None)
    return uuid.UUID(owner["workspace_id"]), actor


def _lead(name: str) -> LeadCreate:
    return LeadCreate.model_validate({"full_name": name, "email": f"{uuid.uuid4().hex}@x.vn"})


async def test_a_change_that_rolls_back_leaves_no_event(
    committing_client: httpx.AsyncClient, maker: async_sessionmaker[AsyncSession]
) -> None:
    workspace, owner = await _workspace(committing_client)

    async def fails_after_writing() -> None:
        async with job_context(maker, workspace, owner, queue=None) as ctx:
            await create_lead(ctx, _lead("Trần Thị Bình"), duplicates=ALLOWED)
            raise RuntimeError("the request failed after the lead was written")

    with pytest.raises(RuntimeError):
        await fails_after_writing()
    async with job_context(maker, workspace, owner, queue=None) as ctx:
        found = await ctx.session.scalars(
            select(Event.type).where(Event.workspace_id == workspace, Event.resource == "lead")
        )
        assert list(found) == []


async def test_a_poller_never_misses_an_event_that_committed_late(
    committing_client: httpx.AsyncClient,
    maker: async_sessionmaker[AsyncSession],
    database_url: str,
    redis_url: str,
) -> None:
    """A's change is made first but commits last: it is numbered after B's, so a poller that
    read B's and goes on from there still gets A's."""
    workspace, owner = await _workspace(committing_client)
    worker_ctx = {"sessionmaker": maker}
    async with job_context(maker, workspace, owner, queue=None) as slow:
        late = await create_lead(slow, _lead("Lê Văn Chậm"), duplicates=ALLOWED)
        async with job_context(maker, workspace, owner, queue=None) as quick:
            early = await create_lead(quick, _lead("Phạm Thị Nhanh"), duplicates=ALLOWED)
        await dispatch_events(worker_ctx, str(workspace))
        async with job_context(maker, workspace, owner, queue=None) as reader:
            first = await _numbered(reader, workspace)
        assert [e.record_id for e in first] == [early.id]  # A is not committed yet
    await dispatch_events(worker_ctx, str(workspace))
    async with job_context(maker, workspace, owner, queue=None) as reader:
        after = await _numbered(reader, workspace, after=first[-1].position)
    assert [e.record_id for e in after] == [late.id]


async def _numbered(ctx: Ctx, workspace: uuid.UUID, *, after: int | None = 0) -> list[Event]:
    stmt = (
        select(Event)
        .where(
            Event.workspace_id == workspace, Event.resource == "lead", Event.position > (after or 0)
        )
        .order_by(Event.position)
    )
    return list(await ctx.session.scalars(stmt))


async def test_dispatchers_racing_hand_each_event_over_once_in_order(
    committing_client: httpx.AsyncClient, maker: async_sessionmaker[AsyncSession]
) -> None:
    workspace, owner = await _workspace(committing_client)
    handed: list[uuid.UUID] = []

    async def consumer(ctx: Ctx, batch: Sequence[Event]) -> None:
        handed.extend(e.id for e in batch if e.workspace_id == workspace)

    events.on_events("test-consumer", consumer)
    try:
        for n in range(30):
            async with job_context(maker, workspace, owner, queue=None) as ctx:
                await create_lead(ctx, _lead(f"Khách {n}"), duplicates=ALLOWED)
        worker_ctx = {"sessionmaker": maker}
        for _ in range(3):  # a dispatcher that loses the race only asks to run again later
            await asyncio.gather(*(dispatch_events(worker_ctx, str(workspace)) for _ in range(4)))
    finally:
        events._CONSUMERS.pop("test-consumer")
    async with job_context(maker, workspace, owner, queue=None) as ctx:
        made = list(
            await ctx.session.scalars(
                select(Event.id).where(Event.workspace_id == workspace).order_by(Event.position)
            )
        )
    assert handed == made
    assert len(made) >= 30


async def test_events_older_than_the_kept_days_are_forgotten(
    committing_client: httpx.AsyncClient, maker: async_sessionmaker[AsyncSession]
) -> None:
    workspace, owner = await _workspace(committing_client)
    async with job_context(maker, workspace, owner, queue=None) as ctx:
        await create_lead(ctx, _lead("Cũ"), duplicates=ALLOWED)
    await dispatch_events({"sessionmaker": maker}, str(workspace))
    async with job_context(maker, workspace, owner, queue=None) as ctx:
        old = await ctx.session.scalar(
            select(Event).where(Event.workspace_id == workspace, Event.resource == "lead")
        )
        assert old is not None
        # Made 40 days ago: its id (time-ordered, what retention goes by) and time say so.
        long_ago = utcnow() - timedelta(days=40)
        old.id, old.at = id_floor(long_ago), long_ago
        await ctx.session.flush()
    async with job_context(maker, workspace, owner, queue=None) as ctx:
        await create_lead(ctx, _lead("Mới"), duplicates=ALLOWED)
    await dispatch_events({"sessionmaker": maker}, str(workspace))
    await forget_old_events({"sessionmaker": maker})
    async with job_context(maker, workspace, owner, queue=None) as ctx:
        kept = list(
            await ctx.session.scalars(
                select(Event.changes).where(
                    Event.workspace_id == workspace, Event.resource == "lead"
                )
            )
        )
    assert [c["full_name"]["new"] for c in kept] == ["Mới"]
