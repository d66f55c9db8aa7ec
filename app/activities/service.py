"""Activities (calls, emails, meetings, notes, tasks) and their reminders: the business rules,
and the only place that writes them."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from asyncpg import Record
from sqlalchemy import select, update

from app.accounts import service as accounts_service
from app.activities.models import Activity
from app.activities.schemas import (
    ActivityCreate,
    ActivityQuery,
    ActivityRead,
    ActivityUpdate,
    RelatedType,
)
from app.contacts import service as contacts_service
from app.core.concurrency import check_if_match
from app.core.context import Ctx
from app.core.errors import NotFound, Unprocessable
from app.core.history import History, HistoryQuery, apply_changes, history_of, insert_with_history
from app.core.jobs import enqueue_after_commit
from app.core.models import utcnow
from app.core.pagination import (
    Rows,
    apply_filters,
    at_least,
    before,
    columns_of,
    equals,
    one_of,
    paginate,
)
from app.core.records import get_visible, restore, restrict_to_visible, soft_delete
from app.deals import service as deals_service
from app.leads import service as leads_service
from app.notifications import service as notifications
from app.users import service as users_service
from app.users.models import User

RESOURCE = "activity"
_ACTIVITIES = Activity.__table__.c
_LISTED = columns_of(Activity.__table__, ActivityRead)
SORTS = {"created_at": _ACTIVITIES.created_at, "updated_at": _ACTIVITIES.updated_at}
FILTERS = {
    "related_type": equals(_ACTIVITIES.related_type),
    "related_id": equals(_ACTIVITIES.related_id),
    "type": one_of(_ACTIVITIES.type),
    "owner_id": equals(_ACTIVITIES.owner_id),
    "completed": equals(_ACTIVITIES.completed),
    "due_after": at_least(_ACTIVITIES.due_at),
    "due_before": before(_ACTIVITIES.due_at),
}
_HISTORY_FIELDS = [
    "type", "subject", "body", "due_at", "duration_minutes", "outcome", "completed",
    "remind_at", "owner_id", "participants", "related_type", "related_id",
]  # fmt: skip
# How each kind of record is fetched, visibility and 404 included.
RECORDS: dict[RelatedType, Callable[[Ctx, uuid.UUID], Awaitable[Any]]] = {
    RelatedType.lead: leads_service.get_lead,
    RelatedType.contact: contacts_service.get_contact,
    RelatedType.account: accounts_service.get_account,
    RelatedType.deal: deals_service.get_deal,
}
DELIVER_REMINDER = "deliver_reminder"  # the worker's job (workers/settings.py)


class ActivityNotFound(NotFound):
    code, title = "activity_not_found", "Activity not found"


async def related_record(ctx: Ctx, related_type: RelatedType, related_id: uuid.UUID) -> Any:
    """The record an activity is about: it exists in this workspace and the actor sees it."""
    try:
        return await RECORDS[related_type](ctx, related_id)
    except NotFound:
        raise Unprocessable(
            [{"field": "related_id", "message": f"not a {related_type.value} you can see"}]
        )


async def _check_participants(ctx: Ctx, participants: list[uuid.UUID]) -> None:
    if not participants:
        return
    found = set(
        await ctx.session.scalars(select(User.id).where(User.id.in_(participants), User.is_active))
    )
    if found != set(participants):
        raise Unprocessable(
            [{"field": "participants", "message": "not all are active users of the workspace"}]
        )


def _schedule_reminder(ctx: Ctx, activity_id: uuid.UUID, remind_at: datetime | None) -> None:
    """Nudge the worker to deliver at `remind_at`, after this transaction commits. A job for an
    older time finds nothing due and does nothing; the sweep delivers a nudge that got lost."""
    if remind_at is None:
        return
    enqueue_after_commit(
        ctx,
        DELIVER_REMINDER,
        str(ctx.workspace_id),
        str(activity_id),
        job_id=f"reminder:{activity_id}:{remind_at.timestamp()}",
        defer_until=remind_at,
    )


async def list_activities(ctx: Ctx, query: ActivityQuery) -> Rows[Record]:
    """Activities visible to the actor, filtered, sorted and paginated by cursor."""
    stmt = restrict_to_visible(select(*_LISTED), Activity, ctx.actor)
    stmt = apply_filters(stmt, query, FILTERS)
    return await paginate(ctx, stmt, query, model=Activity, sorts=SORTS)


async def get_activity(
    ctx: Ctx, activity_id: uuid.UUID, *, include_deleted: bool = False, for_update: bool = False
) -> Activity:
    """A visible activity; another workspace's or an invisible one is a 404."""
    return await get_visible(
        ctx,
        Activity,
        activity_id,
        not_found=ActivityNotFound,
        include_deleted=include_deleted,
        for_update=for_update,
    )


async def create_activity(ctx: Ctx, data: ActivityCreate) -> Any:
    """About a record the actor can see; owner defaults to the creator; a `remind_at`
    schedules the owner's reminder."""
    await related_record(ctx, data.related_type, data.related_id)
    values: dict[str, Any] = data.model_dump()
    values["owner_id"] = data.owner_id or ctx.actor.user_id
    await users_service.check_assignable_owner(ctx, values["owner_id"])
    await _check_participants(ctx, data.participants)
    values["completed_at"] = utcnow() if data.completed else None
    activity = await insert_with_history(
        ctx, Activity, values, resource=RESOURCE, fields=_HISTORY_FIELDS
    )
    if not data.completed:
        _schedule_reminder(ctx, activity.id, data.remind_at)
    return activity


async def update_activity(
    ctx: Ctx, activity_id: uuid.UUID, data: ActivityUpdate, *, if_match: str | None
) -> Activity:
    """Applies only the fields sent: completing stamps `completed_at` (and drops the pending
    reminder), a new `remind_at` reschedules it."""
    activity = await get_activity(ctx, activity_id, for_update=True)
    check_if_match(activity.version, if_match)
    values = data.model_dump(exclude_unset=True)
    if values.get("owner_id") != activity.owner_id:
        await users_service.check_assignable_owner(ctx, values.get("owner_id"))
    await _check_participants(ctx, values.get("participants") or [])
    if "completed" in values and values["completed"] != activity.completed:
        values["completed_at"] = utcnow() if values["completed"] else None
    rescheduled = "remind_at" in values and values["remind_at"] != activity.remind_at
    if apply_changes(ctx, RESOURCE, activity, values):
        if rescheduled:
            activity.reminded_at = None
        await ctx.session.flush()
    if (rescheduled or values.get("completed") is False) and not activity.completed:
        _schedule_reminder(ctx, activity.id, activity.remind_at)
    return activity


async def delete_activity(ctx: Ctx, activity_id: uuid.UUID, *, if_match: str | None) -> None:
    """Soft delete: gone from lists and calendars, its reminder dropped; restorable."""
    activity = await get_activity(ctx, activity_id, for_update=True)
    soft_delete(ctx, RESOURCE, activity, if_match=if_match)
    await ctx.session.flush()


async def restore_activity(ctx: Ctx, activity_id: uuid.UUID) -> Activity:
    """Brings a deleted activity back, with its reminder if it is still to come."""
    activity = await get_activity(ctx, activity_id, include_deleted=True, for_update=True)
    was_deleted = activity.deleted_at is not None
    restore(ctx, RESOURCE, activity)
    await ctx.session.flush()
    if was_deleted and not activity.completed:
        _schedule_reminder(ctx, activity.id, activity.remind_at)
    return activity


async def activity_history(ctx: Ctx, activity_id: uuid.UUID, query: HistoryQuery) -> History:
    """Every change to the activity, oldest first."""
    activity = await get_activity(ctx, activity_id, include_deleted=True)
    return await history_of(ctx, RESOURCE, activity.id, query)


async def deliver_due_reminders(
    ctx: Ctx, *, now: datetime, activity_id: uuid.UUID | None = None
) -> int:
    """Turn every reminder due by `now` (or just this activity's) into a notification for the
    activity's owner, once: running it again, or beside another run, delivers nothing more."""
    table = Activity.__table__
    due = (
        select(table.c.id, table.c.owner_id, table.c.subject, table.c.remind_at)
        .where(
            table.c.remind_at <= now,
            table.c.reminded_at.is_(None),
            table.c.completed.is_(False),
            table.c.deleted_at.is_(None),
        )
        .with_for_update(skip_locked=True)  # a sweep and a job side by side split the work
        .limit(500)
    )
    if activity_id is not None:
        due = due.where(table.c.id == activity_id)
    rows = (await ctx.session.execute(due)).all()
    if not rows:
        return 0
    # Not a change of the activity (no version bump, no history): a delivery receipt.
    await ctx.session.execute(
        update(table).where(table.c.id.in_([row.id for row in rows])).values(reminded_at=now)
    )
    for row in rows:
        if row.owner_id is not None:
            await notifications.notify_reminder(
                ctx, user_id=row.owner_id, activity_id=row.id, title=row.subject, due=row.remind_at
            )
    await ctx.session.flush()
    return sum(1 for row in rows if row.owner_id is not None)
