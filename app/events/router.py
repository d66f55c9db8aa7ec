from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import Admin
from app.core.errors import READ_ERRORS, Forbidden, problems
from app.core.routing import CommittingRoute
from app.events import service
from app.events.schemas import EventPage, EventQuery

router = APIRouter(prefix="/events", tags=["events"], route_class=CommittingRoute)


@router.get(
    "",
    summary="Read the workspace's events",
    responses=problems(*READ_ERRORS, Forbidden),
)
async def list_events(query: Annotated[EventQuery, Query()], ctx: Admin) -> EventPage:
    """Every change in the workspace as an event (`lead.created`, `lead.updated` with its
    changed fields, `deal.stage_changed`, …), in commit order, for integrators who poll
    instead of receiving webhooks: read with `after` = the `next_after` of your last poll and
    you miss nothing, even an event whose change committed late. Events are kept
    `SEN_EVENTS_KEEP_DAYS` days. Owners and admins only: events show every record's changes."""
    return await service.list_events(ctx, query)
