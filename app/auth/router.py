import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service
from app.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyRead,
    SignupRead,
    SignupRequest,
    Token,
)
from app.core.auth import Member
from app.core.errors import problems
from app.core.idempotency import Idempotent
from app.core.routing import CommittingRoute, get_session
from app.users.schemas import UserRead, WorkspaceRead

router = APIRouter(prefix="/auth", tags=["auth"], route_class=CommittingRoute)
keys_router = APIRouter(prefix="/api-keys", tags=["api-keys"], route_class=CommittingRoute)
Session = Annotated[AsyncSession, Depends(get_session)]


@router.post(
    "/signup",
    summary="Create a workspace and its owner",
    status_code=status.HTTP_201_CREATED,
    responses=problems(403, 413, 422),
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


@router.post("/token", summary="Log in (OAuth2 password flow)", responses=problems(401, 422))
async def log_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: Session) -> Token:
    """`username` is your email. Send the token back as `Authorization: Bearer …`."""
    token = await service.log_in(session, form.username, form.password)
    return Token(access_token=token, token_type="bearer")


@keys_router.post(
    "",
    summary="Create an API key",
    status_code=status.HTTP_201_CREATED,
    responses=problems(401, 403, 409, 413, 422),
)
async def create_api_key(body: ApiKeyCreate, ctx: Member, _: Idempotent) -> ApiKeyCreated:
    """The full `key` is in this response only: it is stored hashed. It acts as you."""
    api_key, key = await service.create_api_key(ctx, body)
    return ApiKeyCreated.model_validate(
        {**ApiKeyRead.model_validate(api_key).model_dump(), "key": key}
    )


@keys_router.get("", summary="List API keys", responses=problems(401))
async def list_api_keys(ctx: Member) -> ApiKeyList:
    """Your keys by prefix (owners and admins see all); never the keys themselves."""
    return ApiKeyList(data=[ApiKeyRead.model_validate(k) for k in await service.list_api_keys(ctx)])


@keys_router.delete(
    "/{key_id}",
    summary="Revoke an API key",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(401, 403, 404, 422),
)
async def revoke_api_key(
    key_id: Annotated[uuid.UUID, Path(description="The key's id.")], ctx: Member
) -> None:
    """Immediate: the next request made with this key is a 401."""
    await service.revoke_api_key(ctx, key_id)
