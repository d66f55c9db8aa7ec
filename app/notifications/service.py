"""A user's inbox: notifications are written by the jobs that decide them (reminders, leads
from intake), read and marked read by their user only. Each one written is also signalled on
the `sen_notifications` channel, so every API process can stream it live (app/notifications/
live.py)."""

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, insert, or_, select, update

from app.core.context import Ctx
from app.core.errors import NotFound
from app.core.events import emit
from app.core.history import jsonable
from app.core.ids import new_id
from app.core.models import utcnow
from app.notifications.models import Notification
from app.notifications.schemas import Inbox, InboxQuery, NotificationRead

# The PostgreSQL channel every written notification is signalled on.
CHANNEL = "sen_notifications"


class NotificationNotFound(NotFound):
    code, title = "notification_not_found", "Notification not found"


async def _notify(ctx: Ctx, *, user_id: uuid.UUID, **values: Any) -> None:
    """Write a notification and signal it in the same transaction: PostgreSQL sends the signal
    only if the transaction commits, so a stream never hears of one that isn't there."""
    notification_id = new_id()
    await ctx.session.execute(
        insert(Notification).values(
            workspace_id=ctx.workspace_id,
            id=notification_id,
            user_id=user_id,
            created_at=utcnow(),
            **values,
        )
    )
    # Small on purpose (NOTIFY payloads stop at 8000 bytes): who it is for, and which.
    # str(): ids read by the driver are its own UUID type, which no JSON encoder knows.
    signal = {
        "workspace_id": str(ctx.workspace_id),
        "user_id": str(user_id),
        "id": str(notification_id),
    }
    await ctx.session.execute(select(func.pg_notify(CHANNEL, orjson.dumps(signal).decode())))


async def notify_reminder(
    ctx: Ctx, *, user_id: uuid.UUID, activity_id: uuid.UUID, title: str, due: datetime
) -> None:
    """A reminder for an activity. Once per due time: delivery locks the activity and stamps
    `reminded_at` in the same transaction (app/activities/service.py)."""
    await _notify(
        ctx, user_id=user_id, kind="reminder", title=title, activity_id=activity_id, remind_at=due
    )


async def notify_about_lead(
    ctx: Ctx, *, user_id: uuid.UUID, kind: str, title: str, lead_id: uuid.UUID | None
) -> None:
    """A lead for its owner: a new one assigned to them, or someone they have come back. Once
    per submission: written in the transaction that processes it."""
    await _notify(ctx, user_id=user_id, kind=kind, title=title[:200], lead_id=lead_id)


async def notify_from_workflow(
    ctx: Ctx, *, user_id: uuid.UUID, title: str, lead_id: uuid.UUID | None
) -> None:
    """A workflow's `notify` action: once per run step (the step and the notification commit
    together, app/automations/runner.py)."""
    await _notify(ctx, user_id=user_id, kind="workflow", title=title[:200], lead_id=lead_id)


async def inbox(ctx: Ctx, query: InboxQuery) -> Inbox:
    """The actor's notifications, unread first, newest first."""
    mine = and_(
        Notification.workspace_id == ctx.workspace_id, Notification.user_id == ctx.actor.user_id
    )
    stmt = select(Notification).where(mine)
    if query.unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    found = await ctx.session.scalars(
        stmt.order_by(
            Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id
        ).limit(query.limit)
    )
    unread = await ctx.session.scalar(
        select(func.count()).where(mine, Notification.read_at.is_(None))
    )
    return Inbox(data=[NotificationRead.model_validate(n) for n in found], unread_count=unread or 0)


async def notifications_since(
    ctx: Ctx, *, after: uuid.UUID | None, ids: Collection[uuid.UUID] = (), limit: int = 100
) -> list[Notification]:
    """The actor's notifications made after `after` and those of `ids` (ids are time-ordered
    UUIDv7): the newest `limit` of them, oldest first. Another user's id finds nothing."""
    wanted = []
    if after is not None:
        wanted.append(Notification.id > after)
    if ids:
        wanted.append(Notification.id.in_(ids))
    if not wanted:
        return []
    found = await ctx.session.scalars(
        select(Notification)
        .where(
            Notification.workspace_id == ctx.workspace_id,
            Notification.user_id == ctx.actor.user_id,
            or_(*wanted),
        )
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(reversed(found.all()))


async def mark_read(ctx: Ctx, notification_id: uuid.UUID) -> Notification:
    """Marks one of the actor's notifications read (again: nothing changes)."""
    found = await ctx.session.get(Notification, (ctx.workspace_id, notification_id))
    if found is None or found.user_id != ctx.actor.user_id:
        raise NotificationNotFound()
    if found.read_at is None:
        found.read_at = utcnow()
        read = {"read_at": {"old": None, "new": jsonable(found.read_at)}}
        emit(ctx, "notification.read", "notification", found.id, read)
        await ctx.session.flush()
    return found


async def mark_all_read(ctx: Ctx) -> int:
    """Marks every unread notification of the actor read; how many there were. One event for
    them all (`notification.all_read`, about the user): an inbox may hold thousands."""
    result = await ctx.session.execute(
        update(Notification)
        .where(
            Notification.workspace_id == ctx.workspace_id,
            Notification.user_id == ctx.actor.user_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count and ctx.actor.user_id is not None:
        emit(ctx, "notification.all_read", "user", ctx.actor.user_id, {"read": count})
    return count


async def move_lead_notifications(
    ctx: Ctx, from_ids: Collection[uuid.UUID], to_id: uuid.UUID
) -> None:
    """Notifications about any of the leads `from_ids` link to `to_id` from now on (a merge's
    part: the link leads their reader to the lead that lives on)."""
    await ctx.session.execute(
        update(Notification)
        .where(Notification.workspace_id == ctx.workspace_id, Notification.lead_id.in_(from_ids))
        .values(lead_id=to_id)
    )
