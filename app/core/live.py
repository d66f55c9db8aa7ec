"""A PostgreSQL channel fanned out to in-process subscribers.

Writers `SELECT pg_notify(channel, '<json object>')` in the transaction that makes the change, so
the signal goes out only if it commits, to every process listening. Each process keeps one
listening connection per channel (opened with the first subscription, reopened with backoff
when the database drops it) and hands each signal to the subscribers whose key matches fields
of its payload. A signal only says "look": subscribers read what it names in a transaction of
their own. Signals sent while nobody listened (the connection was down, or a subscriber had
not yet subscribed, or fell too far behind) are lost, so each subscriber starts with, and gets
after every reconnect or overflow, a `resync`: read whatever it would otherwise have waited for.
"""

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from app.core.db import libpq_url

log = structlog.get_logger("sen.live")

Key = tuple[str, ...]

# How often an idle listening connection is checked (a silent network can keep a dead socket
# open for hours), and the backoff between reconnects.
_CHECK_SECONDS = 30.0
_FIRST_DELAY, _MAX_DELAY = 0.5, 10.0


class TooManySubscribers(Exception):
    """The key already has as many subscribers as its limit allows."""


@dataclass(frozen=True)
class Batch:
    """What arrived since a subscriber last looked: signals' payloads, and whether some may
    have been missed (`resync`: read from where you are instead of trusting the payloads)."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    resync: bool = False


class Subscription:
    """One subscriber's bounded inbox. Starts with a resync: what committed before it listened
    is for it to read."""

    def __init__(self, max_pending: int) -> None:
        self._max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._resync = True
        self._ready = asyncio.Event()
        self._ready.set()

    async def next_batch(self) -> Batch:
        """Waits for at least one signal (or a resync), then takes everything pending."""
        await self._ready.wait()
        self._ready.clear()
        batch = Batch(self._pending, self._resync)
        self._pending, self._resync = [], False
        return batch

    def _push(self, payload: dict[str, Any]) -> None:
        if len(self._pending) >= self._max_pending:
            # Too far behind to be told each one: it will read from where it is instead.
            self._pending, self._resync = [], True
        elif not self._resync:
            self._pending.append(payload)
        self._ready.set()

    def _missed(self) -> None:
        self._pending, self._resync = [], True
        self._ready.set()


class Channel:
    """Listens on one PostgreSQL channel for this process and routes each JSON payload to the
    subscribers of `tuple(str(payload[f]) for f in key_fields)`. Bound to the event loop that
    first subscribes."""

    def __init__(
        self,
        database_url: str,
        name: str,
        *,
        key_fields: tuple[str, ...],
        max_pending: int = 100,
    ) -> None:
        self.name = name
        self._dsn = libpq_url(database_url)
        self._key_fields = key_fields
        self._max_pending = max_pending
        self._subscribers: dict[Key, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._listening = asyncio.Event()

    @property
    def application_name(self) -> str:
        """How its listening connection shows in pg_stat_activity."""
        return f"sen-live:{self.name}"[:63]

    def subscribers(self, key: Key) -> int:
        return len(self._subscribers.get(key, ()))

    @contextmanager
    def subscribe(self, key: Key, *, limit: int | None = None) -> Iterator[Subscription]:
        """A subscription to `key` for the block; TooManySubscribers when `limit` are open."""
        subscribed = self._subscribers.setdefault(key, set())
        if limit is not None and len(subscribed) >= limit:
            raise TooManySubscribers(key)
        subscription = Subscription(self._max_pending)
        subscribed.add(subscription)
        self._ensure_listening()
        try:
            yield subscription
        finally:
            subscribed.discard(subscription)
            if not subscribed:
                self._subscribers.pop(key, None)

    async def until_listening(self) -> None:
        """Returns once the channel listens and has told its subscribers so (tests wait for
        it; a subscriber need not: it resyncs)."""
        await self._listening.wait()

    async def close(self) -> None:
        """Stops listening (the lifespan's shutdown); a closed channel does not reopen."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _ensure_listening(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._listen_forever())

    async def _listen_forever(self) -> None:
        delay = _FIRST_DELAY
        while True:
            try:
                await self._listen_once()
                delay = _FIRST_DELAY  # it was up: the next drop starts the backoff afresh
            except Exception as error:  # whatever it was, this process must go on listening
                log.warning(
                    "listening connection lost", channel=self.name, error=repr(error)[:300],
                    retry_in=delay,
                )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)

    async def _listen_once(self) -> None:
        """Listens until the connection drops or fails its check; returns or raises then."""
        connection = await asyncpg.connect(
            self._dsn, timeout=5, server_settings={"application_name": self.application_name}
        )
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(self.name, self._on_signal)
            # Whatever was signalled while this process wasn't listening is for each
            # subscriber to read.
            for subscribed in self._subscribers.values():
                for subscription in subscribed:
                    subscription._missed()
            self._listening.set()
            while not lost.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), _CHECK_SECONDS)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=5)
            log.warning("listening connection closed by the server", channel=self.name)
        finally:
            self._listening.clear()
            connection.terminate()

    def _on_signal(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            parsed = json.loads(str(payload))
            key = tuple(str(parsed[f]) for f in self._key_fields)
        except (ValueError, TypeError, KeyError):
            log.warning("unreadable signal ignored", channel=self.name, payload=str(payload)[:200])
            return
        for subscription in self._subscribers.get(key, ()):
            subscription._push(parsed)
