"""A user's inbox: notifications are written by the jobs that decide them (reminders), read
and marked read by their user only."""

import uuid
from datetime import datetime

from sqlalchemy import func, insert, select, update

from app.core.context import Ctx
from app.core.errors import NotFound
from app.core.ids import new_id
from app.core.models import utcnow
from app.notifications.models import Notification
from app.notifications.schemas import Inbox, InboxQuery, NotificationRead


class NotificationNotFound(NotFound):
    code, title = "notification_not_found", "Notification not found"


async def notify_reminder(
    ctx: Ctx, *, user_id: uuid.UUID, activity_id: uuid.UUID, title: str, due: datetime
) -> None:
    """A reminder for an activity. Once per due time: delivery locks the activity and stamps
    `reminded_at` in the same transaction (app/activities/service.py)."""
    await ctx.session.execute(
        insert(Notification).values(
            workspace_id=ctx.workspace_id,
            id=new_id(),
            user_id=user_id,
            kind="reminder",
            title=title,
            activity_id=activity_id,
            remind_at=due,
            created_at=utcnow(),
        )
    )


async def notify_about_lead(
    ctx: Ctx, *, user_id: uuid.UUID, kind: str, title: str, lead_id: uuid.UUID | None
) -> None:
    """A lead for its owner: a new one assigned to them, or someone they have come back. Once
    per submission: written in the transaction that processes it."""
    await ctx.session.execute(
        insert(Notification).values(
            workspace_id=ctx.workspace_id,
            id=new_id(),
            user_id=user_id,
            kind=kind,
            title=title[:200],
            lead_id=lead_id,
            created_at=utcnow(),
        )
    )


async def inbox(ctx: Ctx, query: InboxQuery) -> Inbox:
    """The actor's notifications, unread first, newest first."""
    mine = Notification.user_id == ctx.actor.user_id
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


async def mark_read(ctx: Ctx, notification_id: uuid.UUID) -> Notification:
    """Marks one of the actor's notifications read (again: nothing changes)."""
    found = await ctx.session.get(Notification, (ctx.workspace_id, notification_id))
    if found is None or found.user_id != ctx.actor.user_id:
        raise NotificationNotFound()
    if found.read_at is None:
        found.read_at = utcnow()
        await ctx.session.flush()
    return found


async def mark_all_read(ctx: Ctx) -> int:
    """Marks every unread notification of the actor read; how many there were."""
    result = await ctx.session.execute(
        update(Notification)
        .where(Notification.user_id == ctx.actor.user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
