"""Sign-up, password login and API keys."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.schemas import ApiKeyCreate, SignupRequest
from app.auth.security import create_access_token, new_api_key, verify_password
from app.core.context import Ctx
from app.core.db import AUTH_ROLE
from app.core.errors import Forbidden, NotFound, Unauthorized
from app.core.history import jsonable, record_change, record_creation
from app.core.models import utcnow
from app.core.settings import get_settings
from app.users.models import User
from app.workspaces.models import Workspace
from app.workspaces.service import create_workspace


class SignupDisabled(Forbidden):
    code, title = "signup_disabled", "Sign-up is turned off on this server"


class WrongCredentials(Unauthorized):
    code, title = "wrong_credentials", "Wrong email or password"


class ApiKeyNotFound(NotFound):
    code, title = "api_key_not_found", "API key not found"


def issue_token(user: User) -> str:
    settings = get_settings()
    return create_access_token(
        settings.jwt_secret(),
        user_id=user.id,
        workspace_id=user.workspace_id,
        minutes=settings.access_token_minutes,
    )


async def sign_up(session: AsyncSession, data: SignupRequest) -> tuple[Workspace, User, str]:
    """A new workspace with its owner, signed in. SEN_SIGNUP_ENABLED=false turns this off."""
    if not get_settings().signup_enabled:
        raise SignupDisabled("Ask the administrator of this server for an account")
    workspace, owner = await create_workspace(
        session,
        name=data.workspace_name,
        owner_email=data.email,
        owner_password=data.password,
        owner_name=data.full_name,
    )
    return workspace, owner, issue_token(owner)


async def log_in(session: AsyncSession, email: str, password: str) -> str:
    """An access token, or 401. Unknown emails cost one hash check too, so timing tells nothing."""
    if "\x00" in email:  # PostgreSQL text can't hold NUL; no such user can exist
        verify_password(password, None)
        raise WrongCredentials()
    session.info["role"] = AUTH_ROLE
    candidates = list(
        await session.scalars(
            select(User).where(func.lower(User.email) == email.strip().lower(), User.is_active)
        )
    )
    if not candidates:
        verify_password(password, None)
    for user in candidates:  # one email may belong to people in several workspaces
        if verify_password(password, user.password_hash):
            return issue_token(user)
    raise WrongCredentials()


class KeysNeedASignedInUser(Forbidden):
    code, title = "api_key_not_allowed", "API keys are managed by a signed-in user"


def _refuse_api_key_callers(ctx: Ctx) -> None:
    # A leaked key must not be able to mint more keys, or to revoke the owner's others.
    if ctx.actor.api_key_id is not None:
        raise KeysNeedASignedInUser("Sign in with your password to manage API keys")


async def create_api_key(ctx: Ctx, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    """The key acts for the user who made it; only its hash is stored. Not with an API key."""
    _refuse_api_key_callers(ctx)
    key, prefix, key_hash = new_api_key()
    api_key = ApiKey(
        workspace_id=ctx.workspace_id,
        user_id=ctx.actor.user_id,
        name=data.name,
        prefix=prefix,
        key_hash=key_hash,
    )
    ctx.session.add(api_key)
    await ctx.session.flush()
    record_creation(ctx, "api_key", api_key, ["name", "prefix", "user_id"])
    return api_key, key


async def list_api_keys(ctx: Ctx) -> list[ApiKey]:
    """Your keys; owners and admins see everyone's."""
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)
    if not ctx.actor.is_admin:
        stmt = stmt.where(ApiKey.user_id == ctx.actor.user_id)
    return list(await ctx.session.scalars(stmt))


async def revoke_api_key(ctx: Ctx, key_id: uuid.UUID) -> None:
    """Takes effect at once: the next request with the key is a 401. Not with an API key."""
    _refuse_api_key_callers(ctx)
    api_key = await ctx.session.get(ApiKey, (ctx.workspace_id, key_id))
    if api_key is None or (not ctx.actor.is_admin and api_key.user_id != ctx.actor.user_id):
        raise ApiKeyNotFound()
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        record_change(
            ctx,
            "api_key",
            api_key.id,
            "deleted",
            {"revoked_at": {"old": None, "new": jsonable(api_key.revoked_at)}},
        )
    await ctx.session.flush()
