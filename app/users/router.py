import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.auth.api_keys import ApiKeyNotAllowed
from app.auth.dependencies import Admin, Member
from app.core.concurrency import IfMatch, set_etag
from app.core.errors import (
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    Forbidden,
    ServiceBusy,
    Unauthorized,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.routing import CommittingRoute
from app.core.tenancy import Workspace
from app.users import service
from app.users.schemas import (
    CalendarToken,
    Invitation,
    MeRead,
    TeamCreate,
    TeamQuery,
    TeamRead,
    TeamUpdate,
    UserCreate,
    UserQuery,
    UserRead,
    UserUpdate,
    WorkspaceRead,
)

router = APIRouter(tags=["users"], route_class=CommittingRoute)
UserID = Annotated[uuid.UUID, Path(description="The user's id.")]
TeamID = Annotated[uuid.UUID, Path(description="The team's id.")]


@router.get("/me", summary="Who am I", responses=problems(Unauthorized))
async def get_me(ctx: Member) -> MeRead:
    """The signed-in user, their workspace, and whose records they can see."""
    user = await service.get_user(ctx, ctx.actor.user_id)  # type: ignore[arg-type]
    workspace = await ctx.session.get(Workspace, ctx.workspace_id)
    owners = ctx.actor.visible_owner_ids
    return MeRead(
        user=UserRead.model_validate(user),
        workspace=WorkspaceRead.model_validate(workspace),
        visible_owner_ids=sorted(owners) if owners is not None else None,
    )


@router.post(
    "/me/calendar-token",
    summary="Issue or rotate your calendar feed token",
    responses=problems(Unauthorized, ApiKeyNotAllowed),
)
async def issue_calendar_token(ctx: Member, request: Request) -> CalendarToken:
    """A token for `GET /calendar.ics`, so a calendar app can subscribe to your agenda. Shown
    once; issuing a new one revokes the old. API keys can't issue it (403)."""
    token = await service.issue_calendar_token(ctx)
    feed = str(request.url_for("get_calendar_feed").include_query_params(token=token))
    return CalendarToken(token=token, feed_url=feed)


@router.get("/users", summary="List users", responses=problems(*READ_ERRORS))
async def list_users(ctx: Member, query: Annotated[UserQuery, Query()]) -> Page[UserRead]:
    """Every member of the workspace, so frontends can show owners and assignees; by name."""
    return (await service.list_users(ctx, query)).page(UserRead)


@router.post(
    "/users",
    summary="Add or invite a user",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden, ApiKeyNotAllowed, service.EmailTaken, ServiceBusy),
)
async def create_user(body: UserCreate, ctx: Admin, _: Idempotent) -> UserRead:
    """Owners and admins only; only an owner can add another owner. Without a `password` the
    user is invited: issue their link with `POST /users/{user_id}/invitation`."""
    return UserRead.model_validate(await service.create_user(ctx, body))


@router.post(
    "/users/{user_id}/invitation",
    summary="Issue a user's one-time invitation",
    responses=problems(
        *READ_ERRORS, Forbidden, ApiKeyNotAllowed, service.UserNotFound, service.UserInactive
    ),
)
async def invite_user(user_id: UserID, ctx: Admin) -> Invitation:
    """A one-time token with which the user chooses their own password (a new one replaces
    the last). Owners and admins signed in with their password only: API keys get a 403."""
    token, expires_at = await service.invite_user(ctx, user_id)
    return Invitation(token=token, expires_at=expires_at)


@router.get(
    "/users/{user_id}",
    summary="Get a user",
    responses=problems(*READ_ERRORS, service.UserNotFound),
)
async def get_user(user_id: UserID, ctx: Member, response: Response) -> UserRead:
    user = await service.get_user(ctx, user_id)
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.patch(
    "/users/{user_id}",
    summary="Update a user",
    responses=problems(
        *UPDATE_ERRORS,
        Forbidden,
        ApiKeyNotAllowed,
        service.UserNotFound,
        service.EmailTaken,
        service.LastOwner,
        ServiceBusy,
    ),
)
async def update_user(
    user_id: UserID, body: UserUpdate, ctx: Admin, response: Response, if_match: IfMatch = None
) -> UserRead:
    """Owners and admins only. A new password or `is_active: false` signs the user out
    everywhere at their next request: tokens, API keys, calendar feed (except your own token
    when you change your own password). API keys can't change a password, email or role."""
    user = await service.update_user(ctx, user_id, body, if_match=if_match)
    set_etag(response, user.version)
    return UserRead.model_validate(user)


@router.get("/teams", summary="List teams", responses=problems(*READ_ERRORS))
async def list_teams(ctx: Member, query: Annotated[TeamQuery, Query()]) -> Page[TeamRead]:
    """The workspace's teams (departments), by name."""
    return (await service.list_teams(ctx, query)).page(TeamRead)


@router.post(
    "/teams",
    summary="Add a team",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden, service.TeamNameTaken),
)
async def create_team(body: TeamCreate, ctx: Admin, _: Idempotent) -> TeamRead:
    """Owners and admins only. Members of a team see each other's records."""
    return TeamRead.model_validate(await service.create_team(ctx, body))


@router.get(
    "/teams/{team_id}",
    summary="Get a team",
    responses=problems(*READ_ERRORS, service.TeamNotFound),
)
async def get_team(team_id: TeamID, ctx: Member, response: Response) -> TeamRead:
    team = await service.get_team(ctx, team_id)
    set_etag(response, team.version)
    return TeamRead.model_validate(team)


@router.patch(
    "/teams/{team_id}",
    summary="Rename a team or change its manager",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.TeamNotFound, service.TeamNameTaken),
)
async def update_team(
    team_id: TeamID, body: TeamUpdate, ctx: Admin, response: Response, if_match: IfMatch = None
) -> TeamRead:
    team = await service.update_team(ctx, team_id, body, if_match=if_match)
    set_etag(response, team.version)
    return TeamRead.model_validate(team)
