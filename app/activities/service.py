"""Activities (calls, emails, meetings, notes, tasks) and their reminders: the business rules,
and the only place that writes them."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
from app.core import records
from app.core.context import Ctx
from app.core.errors import NotFound, Unprocessable
from app.core.events import emit
from app.core.history import jsonable
from app.core.jobs import enqueue_after_commit
from app.core.models import RecordMixin, table_of, utcnow
from app.core.pagination import at_least, before, equals, one_of
from app.core.records import Patched, Resource
from app.core.repoint import repoint
from app.deals import service as deals_service
from app.leads import service as leads_service
from app.notifications import service as notifications
from app.users import service as users_service

# The kind of record an activity is about, and its declaration (visibility and 404 included).
RELATED: dict[RelatedType, Resource[Any, Any]] = {
    RelatedType.lead: leads_service.LEADS,
    RelatedType.contact: contacts_service.CONTACTS,
    RelatedType.account: accounts_service.ACCOUNTS,
    RelatedType.deal: deals_service.DEALS,
}
DELIVER_REMINDER = "deliver_reminder"  # the worker's job (workers/settings.py)


class ActivityNotFound(NotFound):
    code, title = "activity_not_found", "Activity not found"


async def related_record(ctx: Ctx, related_type: RelatedType, related_id: uuid.UUID) -> RecordMixin:
    """The record an activity is about: it exists in this workspace and the actor sees it."""
    return await records.referenced(ctx, RELATED[related_type], related_id, field="related_id")


async def _check_participants(ctx: Ctx, participants: list[uuid.UUID]) -> None:
    if not participants:
        return
    if not await users_service.all_active(ctx, participants):
        raise Unprocessable(
            [{"field": "participants", "message": "not all are active users of the workspace"}]
        )


_HISTORY = (
    "type", "subject", "body", "due_at", "duration_minutes", "outcome", "completed",
    "remind_at", "owner_id", "participants", "related_type", "related_id",
)  # fmt: skip
ACTIVITIES = Resource(
    model=Activity,
    name="activity",
    read=ActivityRead,
    query=ActivityQuery,
    not_found=ActivityNotFound,
    filters={
        "related_type": equals("related_type"),
        "related_id": equals("related_id"),
        "type": one_of("type"),
        "owner_id": equals("owner_id"),
        "completed": equals("completed"),
        "due_after": at_least("due_at"),
        "due_before": before("due_at"),
    },
    history=_HISTORY,
    owner_check=users_service.check_assignable_owner,
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


async def create_activity(ctx: Ctx, data: ActivityCreate) -> Activity:
    """About a record the actor can see; owner defaults to the creator; a `remind_at`
    schedules the owner's reminder."""
    await related_record(ctx, data.related_type, data.related_id)
    await _check_participants(ctx, data.participants)
    values: dict[str, Any] = data.model_dump()
    values["completed_at"] = utcnow() if data.completed else None
    activity = await records.create(ctx, ACTIVITIES, values)
    if data.completed:
        _announce_completed(ctx, activity)
    else:
        _schedule_reminder(ctx, activity.id, data.remind_at)
    return activity


def _announce_completed(ctx: Ctx, activity: Activity) -> None:
    """`activity.completed` besides its created/updated event: a done task or a logged call."""
    completed = {"completed_at": {"old": None, "new": jsonable(activity.completed_at)}}
    emit(ctx, "activity.completed", ACTIVITIES.name, activity.id, completed)


async def update_activity(
    ctx: Ctx, activity_id: uuid.UUID, data: ActivityUpdate, *, if_match: str | None
) -> Patched[Activity]:
    """Applies only the fields sent: completing stamps `completed_at` (and drops the pending
    reminder), a new `remind_at` reschedules it."""

    async def rules(activity: Activity, values: dict[str, Any]) -> dict[str, Any]:
        await _check_participants(ctx, values.get("participants") or [])
        if "completed" in values and values["completed"] != activity.completed:
            values["completed_at"] = utcnow() if values["completed"] else None
        if "remind_at" in values and values["remind_at"] != activity.remind_at:
            activity.reminded_at = None  # a new time is a new reminder (a receipt, not history)
        return values

    values = data.model_dump(exclude_unset=True)
    patched = await records.patch(
        ctx, ACTIVITIES, activity_id, values, if_match=if_match, rules=rules
    )
    activity = patched.record
    if "completed" in patched.changes and activity.completed:
        _announce_completed(ctx, activity)
    if (
        "remind_at" in patched.changes or values.get("completed") is False
    ) and not activity.completed:
        _schedule_reminder(ctx, activity.id, activity.remind_at)
    return patched


async def restore_activity(ctx: Ctx, activity_id: uuid.UUID) -> Patched[Activity]:
    """Brings a deleted activity back, with its reminder if it is still to come."""
    restored = await records.restore(ctx, ACTIVITIES, activity_id)
    activity = restored.record
    if restored.changes and not activity.completed:
        _schedule_reminder(ctx, activity.id, activity.remind_at)
    return restored


async def deliver_due_reminders(
    ctx: Ctx, *, now: datetime, activity_id: uuid.UUID | None = None
) -> int:
    """Turn every reminder due by `now` (or just this activity's) into a notification for the
    activity's owner, once: running it again, or beside another run, delivers nothing more."""
    table = table_of(Activity)
    due = (
        select(table.c.id, table.c.owner_id, table.c.subject, table.c.remind_at)
        .where(
            table.c.workspace_id == ctx.workspace_id,
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
        update(table)
        .where(table.c.workspace_id == ctx.workspace_id, table.c.id.in_([row.id for row in rows]))
        .values(reminded_at=now)
    )
    for row in rows:
        if row.owner_id is not None:
            await notifications.notify_reminder(
                ctx, user_id=row.owner_id, activity_id=row.id, title=row.subject, due=row.remind_at
            )
    await ctx.session.flush()
    return sum(1 for row in rows if row.owner_id is not None)


async def move_activities(
    ctx: Ctx, related_type: RelatedType, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID
) -> list[uuid.UUID]:
    """The activities about any of `from_ids` (deleted ones too) are about `to_id` from now
    on, each move in the activity's history (a merge's part: the records were checked)."""
    column = ACTIVITIES.table.c.related_type
    return await repoint(
        ctx, ACTIVITIES, "related_id", from_ids, to_id, where=[column == related_type]
    )
