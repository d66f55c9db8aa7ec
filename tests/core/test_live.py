"""A PostgreSQL channel fanned out to in-process subscribers (app/core/live.py), on the real
database: committed signals reach the subscribers of their key only, and a listening connection
the database drops is reopened, its subscribers told they may have missed something."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.core.db import libpq_url
from app.core.live import Batch, Channel, Subscription, TooManySubscribers

WAIT = 20  # seconds before a test that waits for a signal fails instead of hanging


@pytest.fixture
async def channel(database_url: str) -> AsyncIterator[Channel]:
    made = Channel(database_url, f"sen_test_{uuid.uuid4().hex[:8]}", key_fields=("room",))
    yield made
    await made.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(libpq_url(database_url))
    yield connection
    await connection.close()


async def signal(db: asyncpg.Connection, channel: Channel, room: str, n: int) -> None:
    await db.execute("SELECT pg_notify($1, $2)", channel.name, json.dumps({"room": room, "n": n}))


async def until(subscription: Subscription, wanted: int) -> list[Batch]:
    """Batches up to and including the one carrying signal `wanted`."""
    batches: list[Batch] = []
    async with asyncio.timeout(WAIT):
        while not any(p["n"] == wanted for p in (batches[-1].payloads if batches else [])):
            batches.append(await subscription.next_batch())
    return batches


async def listening(channel: Channel, *subscriptions: Subscription) -> None:
    """Once the channel listens, each subscription's resync (it starts with one) taken."""
    async with asyncio.timeout(WAIT):
        await channel.until_listening()
        for subscription in subscriptions:
            assert (await subscription.next_batch()).resync


class TestFanOut:
    async def test_a_committed_signal_reaches_its_keys_subscribers_only(
        self, channel: Channel, db: asyncpg.Connection
    ) -> None:
        with channel.subscribe(("a",)) as in_a, channel.subscribe(("b",)) as in_b:
            await listening(channel, in_a, in_b)
            async with db.transaction():
                await signal(db, channel, "a", 1)
                await signal(db, channel, "b", 2)
            tx = db.transaction()
            await tx.start()
            await signal(db, channel, "a", 3)
            await tx.rollback()
            await signal(db, channel, "a", 4)

            for_a = [p["n"] for b in await until(in_a, 4) for p in b.payloads]
            for_b = [p["n"] for b in await until(in_b, 2) for p in b.payloads]

        assert for_a == [1, 4]  # never the rolled-back one, never b's
        assert for_b == [2]
        assert channel.subscribers(("a",)) == 0

    async def test_a_key_takes_no_more_subscribers_than_its_limit(self, channel: Channel) -> None:
        with channel.subscribe(("a",), limit=2), channel.subscribe(("a",), limit=2):
            with pytest.raises(TooManySubscribers), channel.subscribe(("a",), limit=2):
                pass
            with channel.subscribe(("b",), limit=2):
                assert channel.subscribers(("a",)) == 2

    async def test_a_subscriber_too_far_behind_is_told_to_resync(
        self, database_url: str, db: asyncpg.Connection
    ) -> None:
        small = Channel(database_url, f"sen_test_{uuid.uuid4().hex[:8]}", key_fields=("room",),
                        max_pending=2)  # fmt: skip
        try:
            with small.subscribe(("a",)) as in_a, small.subscribe(("b",)) as in_b:
                await listening(small, in_a, in_b)
                for n in range(1, 4):
                    await signal(db, small, "a", n)
                await signal(db, small, "b", 4)
                await until(in_b, 4)  # signals are handled in order: a's three are in by now
                batch = await in_a.next_batch()
        finally:
            await small.close()

        assert batch == Batch(payloads=[], resync=True)


class TestReconnect:
    async def test_a_dropped_listening_connection_is_reopened_and_subscribers_resync(
        self, channel: Channel, db: asyncpg.Connection
    ) -> None:
        with channel.subscribe(("a",)) as in_a:
            await listening(channel, in_a)
            await signal(db, channel, "a", 1)
            await until(in_a, 1)

            await db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1",
                channel.application_name,
            )
            async with asyncio.timeout(WAIT):
                while not (await in_a.next_batch()).resync:
                    pass  # told once it listens again: what came meanwhile is to be read
            await signal(db, channel, "a", 2)
            after = await until(in_a, 2)

        assert [p["n"] for b in after for p in b.payloads] == [2]
