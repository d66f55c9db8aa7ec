import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.activities import calendar, ical, service, timeline
from app.activities.schemas import (
    ActivityCreate,
    ActivityQueryParams,
    ActivityRead,
    ActivityUpdate,
    Agenda,
    CalendarQueryParams,
    RelatedType,
    TimelineEntry,
    TimelineQueryParams,
)
from app.activities.service import ACTIVITIES
from app.auth.dependencies import Member, authenticate_calendar_feed
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, problems
from app.core.idempotency import Idempotent
from app.core.models import utcnow
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute

router = APIRouter(prefix="/activities", tags=["activities"], route_class=CommittingRoute)
timelines_router = APIRouter(route_class=CommittingRoute)
calendar_router = APIRouter(tags=["calendar"], route_class=CommittingRoute)

ActivityID = Annotated[uuid.UUID, Path(description="The activity's id.")]


@router.get(
    "",
    summary="List activities",
    response_model=Page[ActivityRead],
    responses=problems(*READ_ERRORS),
)
async def list_activities(ctx: Member, query: ActivityQueryParams) -> Response:
    """Activities you can see, newest first. Filter by the record they are about
    (`related_type` + `related_id`), type, owner, completion or due range."""
    return (await records.list_page(ctx, ACTIVITIES, query)).response(ActivityRead)


@router.post(
    "",
    summary="Log or plan an activity",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS),
)
async def create_activity(
    body: ActivityCreate, ctx: Member, _: Idempotent, response: Response
) -> ActivityRead:
    """About a lead, contact, account or deal you can see (422 otherwise). A `remind_at`
    notifies the owner at that time."""
    activity = await service.create_activity(ctx, body)
    return await records.read_with_etag(ctx, ACTIVITIES, activity, response)


add_record_routes(
    router,
    ACTIVITIES,
    caller=Member,
    id_name="activity_id",
    restore=service.restore_activity,
    notes={
        "delete": "It leaves timelines and calendars too, and its reminder is dropped.",
        "restore": "Its reminder comes back if it is still to come.",
    },
)


@router.patch(
    "/{activity_id}",
    summary="Update an activity",
    responses=problems(*UPDATE_ERRORS, service.ActivityNotFound),
)
async def update_activity(
    activity_id: ActivityID,
    body: ActivityUpdate,
    ctx: Member,
    response: Response,
    if_match: IfMatch = None,
) -> ActivityRead:
    """Only the fields you send change; `completed: true` stamps `completed_at` and drops the
    pending reminder, a new `remind_at` reschedules it."""
    activity = await service.update_activity(ctx, activity_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, ACTIVITIES, activity.record, response)


_TIMELINE = (
    "Its activities and what happened to it (created, field changes, stage moves, "
    "conversion), newest first, by cursor. Contacts, accounts and deals also show the "
    "activities of the lead they were converted from."
)


def _add_timeline_route(kind: RelatedType, plural: str) -> None:
    """`GET /{plural}/{id}/timeline` for one kind of record an activity can be about."""
    resource = service.RELATED[kind]
    id_name = f"{kind.value}_id"
    record_id = Annotated[uuid.UUID, Path(alias=id_name, description=f"The {kind.value}'s id.")]

    async def timeline_of(
        ident: record_id,
        ctx: Member,
        query: TimelineQueryParams,
    ) -> Page[TimelineEntry]:
        return await timeline.record_timeline(ctx, kind, ident, query)

    article = "An" if kind.value[0] in "aeiou" else "A"
    timelines_router.add_api_route(
        f"/{plural}/{{{id_name}}}/timeline",
        timeline_of,
        methods=["GET"],
        name=f"get_{kind.value}_timeline",
        summary=f"{article} {kind.value}'s timeline",
        description=_TIMELINE,
        tags=[plural],
        response_model=Page[TimelineEntry],
        responses=problems(*READ_ERRORS, resource.not_found),
    )


for _kind, _plural in (
    (RelatedType.lead, "leads"),
    (RelatedType.contact, "contacts"),
    (RelatedType.account, "accounts"),
    (RelatedType.deal, "deals"),
):
    _add_timeline_route(_kind, _plural)


_ICS_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Sen CRM//Calendar//VI\r\n"
    "BEGIN:VEVENT\r\nUID:01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e80@crm.example.vn\r\n"
    "DTSTART:20261125T020000Z\r\nDTEND:20261125T030000Z\r\n"
    "SUMMARY:Lái thử xe tại showroom\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@calendar_router.get("/calendar", summary="An agenda", responses=problems(*READ_ERRORS))
async def get_calendar(ctx: Member, query: CalendarQueryParams) -> Agenda:
    """Activities with a due time in [`from`, `to`) that the user owns or takes part in
    (default: you), by due time: at most 2,000 (narrow the range if you get that many)."""
    found = await calendar.agenda(ctx, start=query.from_, end=query.to, owner_id=query.owner_id)
    return Agenda(data=[ActivityRead.model_validate(a) for a in found])


@calendar_router.get(
    "/calendar.ics",
    summary="Your agenda as an iCalendar feed",
    response_class=Response,
    responses={
        200: {
            "description": "An iCalendar (RFC 5545) feed",
            "content": {"text/calendar": {"schema": {"type": "string"}, "example": _ICS_EXAMPLE}},
        },
        **problems(*READ_ERRORS),
    },
)
async def get_calendar_feed(
    request: Request,
    token: Annotated[str, Query(max_length=200, description="From `POST /me/calendar-token`.")],
) -> Response:
    """For calendar apps that subscribe by URL (they send no header): authenticated by the
    feed token in the query. A month back and a year ahead of your agenda."""
    ctx = await authenticate_calendar_feed(request.state.session, token)
    now = utcnow()
    activities = await calendar.feed_activities(ctx, now=now)
    body = ical.feed("Sen CRM", activities, now=now, host=request.url.hostname or "sen")
    return Response(body, media_type="text/calendar; charset=utf-8")
