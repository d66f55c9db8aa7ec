"""A user's agenda: activities with a due time in a range, as JSON or an iCalendar feed."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from app.activities.models import Activity
from app.core.context import Ctx
from app.core.errors import Unprocessable
from app.core.models import table_of
from app.core.records import restrict_to_visible
from app.core.sql import AnySelect

MAX_RANGE = timedelta(days=366)
MAX_ITEMS = 2000
FEED_PAST, FEED_AHEAD = timedelta(days=30), timedelta(days=365)


def _agenda(ctx: Ctx, owner_id: uuid.UUID | None, start: datetime, end: datetime) -> AnySelect:
    """Live activities due in [start, end) that the user owns or takes part in."""
    return (
        select(Activity)
        .where(
            Activity.workspace_id == ctx.workspace_id,
            or_(Activity.owner_id == owner_id, Activity.participants.contains([owner_id])),
            Activity.due_at >= start,
            Activity.due_at < end,
            Activity.deleted_at.is_(None),
        )
        .order_by(Activity.due_at, Activity.id)
        .limit(MAX_ITEMS)
    )


async def agenda(
    ctx: Ctx, *, start: datetime, end: datetime, owner_id: uuid.UUID | None
) -> list[Activity]:
    """The owner's (default: the actor's) agenda between `start` and `end`, as far as the actor
    may see it; a range that is empty or longer than a year is a 422."""
    if end <= start:
        raise Unprocessable([{"field": "to", "message": "must be after `from`"}])
    if end - start > MAX_RANGE:
        raise Unprocessable([{"field": "to", "message": "at most 366 days after `from`"}])
    owner = owner_id or ctx.actor.user_id
    stmt = _agenda(ctx, owner, start, end)
    if owner != ctx.actor.user_id:  # someone else's agenda: what the actor may see of it
        stmt = restrict_to_visible(stmt, table_of(Activity), ctx.actor)
    return list(await ctx.session.scalars(stmt))


async def feed_activities(ctx: Ctx, *, now: datetime) -> list[Activity]:
    """What a subscribed calendar shows: a month back, a year ahead."""
    stmt = _agenda(ctx, ctx.actor.user_id, now - FEED_PAST, now + FEED_AHEAD)
    return list(await ctx.session.scalars(stmt))
