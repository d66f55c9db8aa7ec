import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import api_keys, service
from app.auth.dependencies import Member
from app.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyQuery,
    ApiKeyRead,
    InvitationAccept,
    LoginForm,
    PasswordChange,
    SignupRead,
    SignupRequest,
    Token,
    WorkspaceName,
)
from app.core.errors import (
    READ_ERRORS,
    WRITE_ERRORS,
    PayloadTooLarge,
    RateLimited,
    ServiceBusy,
    Unauthorized,
    Unprocessable,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.ratelimit import client_ip
from app.core.routing import CommittingRoute, get_session
from app.core.schemas import normalize_email
from app.core.settings import get_settings
from app.users.schemas import UserRead, WorkspaceRead

router = APIRouter(prefix="/auth", tags=["auth"], route_class=CommittingRoute)
keys_router = APIRouter(prefix="/api-keys", tags=["api-keys"], route_class=CommittingRoute)
Session = Annotated[AsyncSession, Depends(get_session)]

_FAILED_LOGINS = "failed-logins"  # per email, counted only when a login fails
_FAILED_LOGINS_WINDOW = 15 * 60
_AUTH_REQUESTS = "auth-requests"  # per client IP: sign-ups, logins and invitations together


async def limit_auth_requests(request: Request) -> None:
    """SEN_AUTH_REQUESTS_PER_IP a minute from one address (0: no limit), then 429."""
    await request.app.state.rate_limiter.limit(
        _AUTH_REQUESTS, get_settings().auth_requests_per_ip, 60, client_ip(request)
    )


AuthRequest = Depends(limit_auth_requests)


def _token(login: service.Login) -> Token:
    return Token(
        access_token=login.token,
        token_type="bearer",
        workspace=WorkspaceName(id=login.workspace[0], name=login.workspace[1]),
        other_workspaces=[WorkspaceName(id=i, name=name) for i, name in login.other_workspaces],
    )


@router.post(
    "/signup",
    summary="Create a workspace and its owner",
    status_code=status.HTTP_201_CREATED,
    responses=problems(
        service.SignupDisabled, PayloadTooLarge, Unprocessable, RateLimited, ServiceBusy
    ),
    dependencies=[AuthRequest],
)
async def sign_up(body: SignupRequest, session: Session) -> SignupRead:
    """Creates a workspace with default lead statuses and you as its owner, signed in."""
    workspace, owner, token = await service.sign_up(session, body)
    return SignupRead(
        workspace=WorkspaceRead.model_validate(workspace),
        user=UserRead.model_validate(owner),
        access_token=token,
        token_type="bearer",
    )


@router.post(
    "/token",
    summary="Log in (OAuth2 password flow)",
    responses=problems(
        service.WrongCredentials, PayloadTooLarge, Unprocessable, RateLimited, ServiceBusy
    ),
    dependencies=[AuthRequest],
)
async def log_in(form: Annotated[LoginForm, Form()], session: Session, request: Request) -> Token:
    """`username` is your email. Send the token back as `Authorization: Bearer …`. When your
    email has an account in several workspaces, `workspace` picks one (else the one you used
    last) and the answer lists the others. After SEN_LOGIN_ATTEMPTS_PER_EMAIL failed attempts
    in 15 minutes an email is refused with 429 until the oldest is 15 minutes old."""
    limiter, email = request.app.state.rate_limiter, normalize_email(form.username)
    attempts = get_settings().login_attempts_per_email
    await limiter.check(_FAILED_LOGINS, attempts, _FAILED_LOGINS_WINDOW, email)
    try:
        login = await service.log_in(session, email, form.password, workspace_id=form.workspace)
    except service.WrongCredentials:
        await limiter.count(_FAILED_LOGINS, attempts, _FAILED_LOGINS_WINDOW, email)
        raise
    return _token(login)


@router.post(
    "/accept-invitation",
    summary="Choose your password with an invitation",
    responses=problems(
        service.InvitationInvalid, PayloadTooLarge, Unprocessable, RateLimited, ServiceBusy
    ),
    dependencies=[AuthRequest],
)
async def accept_invitation(body: InvitationAccept, session: Session) -> Token:
    """The one-time token an admin gave you, and the password you choose: you are signed in.
    The token then stops working."""
    return _token(await service.accept_invitation(session, body))


@router.post(
    "/password",
    summary="Change your password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(
        Unauthorized,
        api_keys.ApiKeyNotAllowed,
        PayloadTooLarge,
        Unprocessable,
        RateLimited,
        ServiceBusy,
    ),
    dependencies=[AuthRequest],
)
async def change_password(body: PasswordChange, ctx: Member) -> None:
    """Your current password and a new one. Everything else signed in as you stops working —
    other sessions, API keys, the calendar feed — except the token you sent this with."""
    await service.change_own_password(ctx, body)


@keys_router.post(
    "",
    summary="Create an API key",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, api_keys.ApiKeyNotAllowed, api_keys.TooManyApiKeys),
)
async def create_api_key(body: ApiKeyCreate, ctx: Member, _: Idempotent) -> ApiKeyCreated:
    """The full `key` is in this response only: it is stored hashed. It acts as you, but it
    can't make or change credentials. At most SEN_API_KEYS_PER_USER live keys a user."""
    api_key, key = await api_keys.create_api_key(ctx, body)
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(api_key).model_dump(), "key": key}
    )


@keys_router.get("", summary="List API keys", responses=problems(*READ_ERRORS))
async def list_api_keys(ctx: Member, query: Annotated[ApiKeyQuery, Query()]) -> Page[ApiKeyRead]:
    """Your keys, newest first (owners and admins see all); never the keys themselves."""
    return (await api_keys.list_api_keys(ctx, query)).page(ApiKeyRead)


@keys_router.delete(
    "/{key_id}",
    summary="Revoke an API key",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(*READ_ERRORS, api_keys.ApiKeyNotAllowed, api_keys.ApiKeyNotFound),
)
async def revoke_api_key(
    key_id: Annotated[uuid.UUID, Path(description="The key's id.")], ctx: Member
) -> None:
    """Immediate: the next request made with this key is a 401."""
    await api_keys.revoke_api_key(ctx, key_id)
