"""Reading the workspace's domain events (app/core/events.py writes and dispatches them)."""

from sqlalchemy import select

from app.core import records
from app.core.context import Ctx
from app.core.events import Event
from app.events.schemas import EventPage, EventQuery, EventRead


async def list_events(ctx: Ctx, query: EventQuery) -> EventPage:
    """The dispatched events after `query.after`, oldest first, a page at a time. Only numbered
    events are shown: numbering follows commit order, so a poller that reads on from the last
    position it saw never misses an event whose transaction committed late."""
    table = Event.__table__.c
    stmt = select(Event.__table__).where(
        table.workspace_id == ctx.workspace_id, table.position.is_not(None)
    )
    if query.after is not None:
        stmt = stmt.where(table.position > int(query.after))
    for name in ("type", "resource", "record_id"):
        value = getattr(query, name)
        if value is not None:
            stmt = stmt.where(table[name] == value)
    rows = await records.fetch(ctx, stmt.order_by(table.position).limit(query.limit + 1))
    has_more = len(rows) > query.limit
    shown = [EventRead.model_validate({**row, "position": str(row["position"])}) for row in rows]
    shown = shown[: query.limit]
    return EventPage(
        data=shown,
        next_after=shown[-1].position if shown else query.after,
        has_more=has_more,
    )
