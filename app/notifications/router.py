import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from app.auth.dependencies import Member, bearer
from app.core.errors import READ_ERRORS, Unauthorized, problems
from app.core.routing import CommittingRoute
from app.notifications import live, service
from app.notifications.schemas import Inbox, InboxQueryParams, NotificationRead, ReadAll

router = APIRouter(prefix="/notifications", tags=["notifications"], route_class=CommittingRoute)

NotificationID = Annotated[uuid.UUID, Path(description="The notification's id.")]

_STREAM_EXAMPLE = (
    "event: notification\n"
    "id: 01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90\n"
    'data: {"id":"01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e90","kind":"reminder",'
    '"title":"Lái thử xe tại showroom","activity_id":"01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e80",'
    '"remind_at":"2026-11-25T01:30:00Z","lead_id":null,"created_at":"2026-11-25T01:30:02Z",'
    '"read_at":null}\n'
    "\n"
    ": ping\n"
    "\n"
)


@router.get("", summary="Your notifications", responses=problems(*READ_ERRORS))
async def list_notifications(ctx: Member, query: InboxQueryParams) -> Inbox:
    """Your inbox: unread first, newest first, with the unread count."""
    return await service.inbox(ctx, query)


@router.get(
    "/stream",
    summary="Your notifications, live",
    response_class=Response,
    responses={
        200: {
            "description": "Server-sent events: each new notification as an `event: "
            "notification` whose `id` is the notification's and whose `data` is its JSON (as "
            "in your inbox), oldest first; a `: ping` comment every 15 s (the default)",
            "content": {
                "text/event-stream": {"schema": {"type": "string"}, "example": _STREAM_EXAMPLE}
            },
        },
        **problems(*READ_ERRORS, live.TooManyStreams),
    },
)
async def stream_notifications(
    request: Request,
    ctx: Member,
    credential: Annotated[str, Depends(bearer)],
    last_event_id: Annotated[
        uuid.UUID | None,
        Header(
            alias="Last-Event-ID",
            description="The last notification id this client received: the stream first "
            "sends what came after it.",
        ),
    ] = None,
    last_event_id_query: Annotated[
        uuid.UUID | None,
        Query(
            alias="last_event_id",
            description="`Last-Event-ID`, for clients that can't set the header.",
        ),
    ] = None,
) -> Response:
    """Your new notifications as they happen, from any API process; with `Last-Event-ID`, first
    the ones you missed (the newest 100). Browsers need a fetch-based SSE client, as EventSource
    can't send `Authorization`."""
    return await live.open_stream(
        ctx,
        request.app.state.live_notifications,
        request.app.state.sessionmaker,
        credential=credential,
        last_event_id=last_event_id or last_event_id_query,
    )


@router.post(
    "/{notification_id}/read",
    summary="Mark a notification read",
    responses=problems(*READ_ERRORS, service.NotificationNotFound),
)
async def read_notification(notification_id: NotificationID, ctx: Member) -> NotificationRead:
    """Marking it again changes nothing. Someone else's notification is a 404."""
    return NotificationRead.model_validate(await service.mark_read(ctx, notification_id))


@router.post("/read-all", summary="Mark every notification read", responses=problems(Unauthorized))
async def read_all_notifications(ctx: Member) -> ReadAll:
    """Marks all your unread notifications read and says how many there were."""
    return ReadAll(marked=await service.mark_all_read(ctx))
