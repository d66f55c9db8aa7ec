"""A round robin under real concurrency: intake jobs on many connections, each its own
committed transaction, share the turns evenly (data committed, its workspace removed after)."""

import asyncio
import uuid
from collections import Counter

import httpx
from sqlalchemy.pool import NullPool

from app.assignment.service import LeadFacts, choose_owner
from app.core.db import make_engine, make_sessionmaker
from app.core.jobs import job_context
from tests.conftest import sign_up
from tests.factories import make_assignment_rule, make_user


async def test_thirty_racing_intakes_give_each_of_three_users_ten(
    committing_client: httpx.AsyncClient, database_url: str
) -> None:
    owner = await sign_up(committing_client, "committing-assignment-race")
    users = [uuid.UUID((await make_user(committing_client, owner["headers"]))["id"]) for _ in "abc"]
    await make_assignment_rule(
        committing_client,
        owner["headers"],
        strategy="round_robin",
        user_ids=[str(u) for u in users],
    )
    workspace_id = uuid.UUID(owner["workspace_id"])
    engine = make_engine(database_url, poolclass=NullPool)  # a connection per intake
    maker = make_sessionmaker(engine)

    async def intake() -> uuid.UUID | None:
        async with job_context(maker, workspace_id, queue=None) as ctx:
            chosen = await choose_owner(ctx, LeadFacts(source="website"))
            await asyncio.sleep(0.01)  # the rest of the intake's work, its turn still locked
            return chosen

    try:
        chosen = await asyncio.gather(*(intake() for _ in range(30)))
        after = await intake()
    finally:
        await engine.dispose()

    assert Counter(chosen) == {users[0]: 10, users[1]: 10, users[2]: 10}
    assert after == users[0]  # the 31st turn, kept in the database
