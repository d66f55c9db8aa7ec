"""A record's timeline: its activities and everything that happened to it, newest first, in one
keyset-paginated list (a 360° view). A converted lead's activities follow it to the contact,
account and deal it became."""

import uuid
from typing import Any

from sqlalchemy import and_, literal, or_, select, union_all

from app.activities import service
from app.activities.models import Activity
from app.activities.schemas import ActivityRead, RelatedType, TimelineEntry, TimelineQuery
from app.core import records
from app.core.context import Ctx
from app.core.history import RecordChange, visible_changes
from app.core.pagination import Keyset, Page
from app.leads import service as leads_service


def _about(kind: RelatedType, record_id: uuid.UUID, lead_ids: list[uuid.UUID]) -> Any:
    this = and_(Activity.related_type == kind, Activity.related_id == record_id)
    if not lead_ids:
        return this
    return or_(this, and_(Activity.related_type == "lead", Activity.related_id.in_(lead_ids)))


async def record_timeline(
    ctx: Ctx, kind: RelatedType, record_id: uuid.UUID, query: TimelineQuery
) -> Page[TimelineEntry]:
    """The record's timeline page; a record the actor can't see is a 404. Every activity about
    a visible record shows, whoever logged it."""
    record = await records.get(ctx, service.RELATED[kind], record_id)
    lead_ids = await leads_service.leads_converted_into(ctx, kind.value, record.id)
    keyset = Keyset.of(query, {"at": Activity.created_at})
    # Each branch is paged on its own index first; PostgreSQL then merges the two short,
    # ordered lists (a page costs the same whatever the record's past).
    activities = keyset.page_of(
        select(
            literal("activity").label("kind"), Activity.id, Activity.created_at.label("at")
        ).where(
            Activity.workspace_id == ctx.workspace_id,
            _about(kind, record.id, lead_ids),
            Activity.deleted_at.is_(None),
        ),
        Activity.created_at,
        Activity.id,
    )
    changes = keyset.page_of(
        select(literal("change").label("kind"), RecordChange.id, RecordChange.at.label("at")).where(
            RecordChange.workspace_id == ctx.workspace_id,
            RecordChange.resource == kind.value,
            RecordChange.record_id == record.id,
        ),
        RecordChange.at,
        RecordChange.id,
    )
    entries = union_all(activities, changes).subquery("timeline")
    merged = keyset.page_of(select(entries), entries.c.at, entries.c.id)
    rows = keyset.rows(await records.fetch(ctx, merged), "at")
    return Page[TimelineEntry](
        data=await _entries(ctx, kind, rows.data), next_cursor=rows.next_cursor
    )


async def _entries(ctx: Ctx, kind: RelatedType, rows: list[Any]) -> list[TimelineEntry]:
    """The page's activities and changes, loaded in two queries, in the page's order; each
    change shown as the actor may see it (links to records hidden from them left out)."""
    activity_ids = [row["id"] for row in rows if row["kind"] == "activity"]
    change_ids = [row["id"] for row in rows if row["kind"] == "change"]
    activities = {
        a.id: a
        for a in await ctx.session.scalars(select(Activity).where(
            Activity.workspace_id == ctx.workspace_id, Activity.id.in_(activity_ids)
        ))
    } if activity_ids else {}  # fmt: skip
    changes = {
        c.id: c
        for c in await ctx.session.scalars(
            select(RecordChange).where(
                RecordChange.workspace_id == ctx.workspace_id, RecordChange.id.in_(change_ids)
            )
        )
    } if change_ids else {}  # fmt: skip
    shown = await visible_changes(ctx, kind.value, [changes[i].changes for i in change_ids])
    visible = dict(zip(change_ids, shown, strict=True))
    entries = []
    for row in rows:
        if row["kind"] == "activity":
            activity = activities[row["id"]]
            entries.append(
                TimelineEntry(
                    kind="activity", id=activity.id, at=row["at"], actor_id=activity.owner_id,
                    action=None, changes=None, activity=ActivityRead.model_validate(activity),
                )
            )  # fmt: skip
        elif visible[row["id"]] is not None:
            change = changes[row["id"]]
            entries.append(
                TimelineEntry(
                    kind="change", id=change.id, at=row["at"], actor_id=change.actor_id,
                    action=change.action, changes=visible[row["id"]], activity=None,
                )
            )  # fmt: skip
    return entries
