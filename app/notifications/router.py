import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from app.auth.dependencies import Member
from app.core.errors import READ_ERRORS, Unauthorized, problems
from app.core.routing import CommittingRoute
from app.notifications import service
from app.notifications.schemas import Inbox, InboxQueryParams, NotificationRead, ReadAll

router = APIRouter(prefix="/notifications", tags=["notifications"], route_class=CommittingRoute)

NotificationID = Annotated[uuid.UUID, Path(description="The notification's id.")]


@router.get("", summary="Your notifications", responses=problems(*READ_ERRORS))
async def list_notifications(ctx: Member, query: InboxQueryParams) -> Inbox:
    """Your inbox: unread first, newest first, with the unread count."""
    return await service.inbox(ctx, query)


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
