"""Notifications live, as server-sent events. Every API process listens on the channel each
written notification is signalled on (app/core/live.py), so any process can serve any user. A
stream holds no database connection while it waits: the request's transaction (caller, backlog)
ends when the handler returns, and each signal is read in a short transaction of its own, which
checks the stream's credential again: a revoked or expired one ends the stream."""

import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from app.auth.dependencies import authenticate
from app.core.context import Ctx
from app.core.errors import RateLimited, Unauthorized, infrastructure_error
from app.core.ids import id_floor
from app.core.live import Channel, TooManySubscribers
from app.core.models import utcnow
from app.core.settings import Settings
from app.notifications import service
from app.notifications.schemas import NotificationRead

log = structlog.get_logger("sen.notifications")

BACKLOG = 100  # notifications replayed on a resumed stream, at most (the newest of them)
_REMEMBERED = 500  # ids a stream keeps to never send one twice
_SEND_TIMEOUT = 30.0  # seconds a client may leave one event unread before it is dropped


class TooManyStreams(RateLimited):
    code, title = "too_many_streams", "You have too many notification streams open"


@dataclass(frozen=True)
class LiveNotifications:
    """This process's listener and the streams' settings (`app.state.live_notifications`)."""

    signals: Channel
    heartbeat_seconds: float
    streams_per_user: int

    async def close(self) -> None:
        await self.signals.close()


def listen(database_url: str, settings: Settings) -> LiveNotifications:
    """The process's listener; it connects with the first stream and reconnects by itself."""
    signals = Channel(database_url, service.CHANNEL, key_fields=("workspace_id", "user_id"))
    return LiveNotifications(
        signals, settings.notification_heartbeat_seconds, settings.notification_streams_per_user
    )


def _key(ctx: Ctx) -> tuple[str, str]:
    return (str(ctx.workspace_id), str(ctx.actor.user_id))


async def open_stream(
    ctx: Ctx,
    live: LiveNotifications,
    maker: async_sessionmaker[AsyncSession],
    *,
    credential: str,
    last_event_id: uuid.UUID | None,
) -> "NotificationStream":
    """The caller's stream: after `last_event_id`, first what they missed (the newest 100, oldest
    first), then each new one as it commits. Over the per-user cap: 429."""
    if live.signals.subscribers(_key(ctx)) >= live.streams_per_user:
        raise _too_many(live)
    backlog = []
    if last_event_id is not None:
        found = await service.notifications_since(ctx, after=last_event_id, limit=BACKLOG)
        backlog = [NotificationRead.model_validate(n) for n in found]
    # Without Last-Event-ID, "new" is what is made from now on.
    after = backlog[-1].id if backlog else last_event_id or id_floor(utcnow())
    return NotificationStream(ctx, live, maker, credential=credential, backlog=backlog, after=after)


def _too_many(live: LiveNotifications) -> TooManyStreams:
    return TooManyStreams(
        f"At most {live.streams_per_user} streams a user; close one, or share one between tabs",
        retry_after=5,
    )


def _event(notification: NotificationRead) -> ServerSentEvent:
    return ServerSentEvent(
        notification.model_dump_json(), event="notification", id=str(notification.id), sep="\n"
    )


def _ping() -> ServerSentEvent:
    return ServerSentEvent(comment="ping", sep="\n")


class NotificationStream(EventSourceResponse):
    """One user's stream. It subscribes when it starts sending (not in the handler: a response
    that is never sent must not hold a subscription), so the first thing it reads is whatever
    committed after the handler's backlog."""

    def __init__(
        self,
        ctx: Ctx,
        live: LiveNotifications,
        maker: async_sessionmaker[AsyncSession],
        *,
        credential: str,
        backlog: list[NotificationRead],
        after: uuid.UUID,
    ) -> None:
        self._key = _key(ctx)
        self._live, self._maker, self._credential = live, maker, credential
        self._backlog, self._cursor = backlog, after
        self._sent: OrderedDict[uuid.UUID, None] = OrderedDict()
        super().__init__(
            self._events(),
            ping=live.heartbeat_seconds,
            ping_message_factory=_ping,
            sep="\n",
            send_timeout=_SEND_TIMEOUT,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "HEAD":  # headers only: nothing to listen for
            await super().__call__(scope, receive, send)
            return
        try:
            with self._live.signals.subscribe(
                self._key, limit=self._live.streams_per_user
            ) as subscription:
                self._subscription = subscription
                await super().__call__(scope, receive, send)
        except TooManySubscribers:
            # Others opened in the meantime; nothing is sent yet, so this is still a 429.
            raise _too_many(self._live)

    async def _events(self) -> AsyncIterator[ServerSentEvent]:
        for notification in self._backlog:
            yield self._sending(notification)
        while True:
            batch = await self._subscription.next_batch()
            ids = {i for i in map(_id_of, batch.payloads) if i is not None and i not in self._sent}
            if not ids and not batch.resync:
                continue
            try:
                found = await self._read(after=self._cursor if batch.resync else None, ids=ids)
            except Unauthorized:
                return  # signed out since (new password, deactivated, key revoked, expired)
            except Exception as error:
                if infrastructure_error(error) is None:
                    raise
                # The client reconnects with its Last-Event-ID once the database is back.
                log.warning("stream ended by a database fault", error=repr(error)[:300])
                return
            for notification in found:
                if notification.id not in self._sent:
                    yield self._sending(notification)

    async def _read(
        self, *, after: uuid.UUID | None, ids: Collection[uuid.UUID]
    ) -> list[NotificationRead]:
        async with self._maker() as session:
            ctx = await authenticate(session, self._credential)
            found = await service.notifications_since(ctx, after=after, ids=ids, limit=BACKLOG)
            return [NotificationRead.model_validate(n) for n in found]

    def _sending(self, notification: NotificationRead) -> ServerSentEvent:
        self._sent[notification.id] = None
        if len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)
        self._cursor = max(self._cursor, notification.id)
        return _event(notification)


def _id_of(payload: dict[str, object]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(payload["id"]))
    except (KeyError, ValueError):
        return None
