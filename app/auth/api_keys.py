"""API keys: an integrator's credential, acting as the user who made it. A key can do what its
user does with data, but it never makes or changes a credential (DESIGN §4: a credential can
never mint a stronger one)."""

import uuid
from typing import Any

from sqlalchemy import func, select, update

from app.auth.models import ApiKey
from app.auth.schemas import ApiKeyCreate, ApiKeyQuery, ApiKeyRead
from app.auth.security import new_api_key
from app.core.context import Ctx
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.history import jsonable, record_change, record_creation
from app.core.models import table_of, utcnow
from app.core.pagination import Rows, columns_of, paginate
from app.core.settings import get_settings

RESOURCE = "api_key"
_KEYS = ApiKey.__table__.c


class ApiKeyNotFound(NotFound):
    code, title = "api_key_not_found", "API key not found"


class ApiKeyNotAllowed(Forbidden):
    code, title = "api_key_not_allowed", "Not with an API key"


class TooManyApiKeys(Conflict):
    code, title = "api_key_limit", "You have as many API keys as a user may have"


def refuse_api_key(ctx: Ctx, what: str) -> None:
    """403 when the caller is an API key: a leaked key must not be able to make, change or
    revoke a credential (keys, passwords, emails, roles, feed tokens, invitations)."""
    if ctx.actor.api_key_id is not None:
        raise ApiKeyNotAllowed(f"An API key can't {what}: sign in with your password")


async def create_api_key(ctx: Ctx, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    """The key acts for the user who made it; only its hash is stored. At most
    SEN_API_KEYS_PER_USER live keys a user (409 beyond): revoke one first."""
    refuse_api_key(ctx, "make API keys")
    live = await ctx.session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(
            ApiKey.workspace_id == ctx.workspace_id,
            ApiKey.user_id == ctx.actor.user_id,
            ApiKey.revoked_at.is_(None),
        )
    )
    cap = get_settings().api_keys_per_user
    if (live or 0) >= cap:
        raise TooManyApiKeys(f"A user may have {cap} live API keys; revoke one first")
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
    record_creation(ctx, RESOURCE, api_key, ["name", "prefix", "user_id"])
    return api_key, key


async def list_api_keys(ctx: Ctx, query: ApiKeyQuery) -> Rows[Any]:
    """Your keys, newest first; owners and admins see everyone's. Never the keys themselves."""
    stmt = select(*columns_of(ApiKey.__table__, ApiKeyRead))
    if not ctx.actor.is_admin:
        stmt = stmt.where(_KEYS.user_id == ctx.actor.user_id)
    return await paginate(ctx, stmt, query, table=table_of(ApiKey))


async def revoke_api_key(ctx: Ctx, key_id: uuid.UUID) -> None:
    """Takes effect at once: the next request with the key is a 401. Not with an API key."""
    refuse_api_key(ctx, "revoke API keys")
    api_key = await ctx.session.get(ApiKey, (ctx.workspace_id, key_id))
    if api_key is None or (not ctx.actor.is_admin and api_key.user_id != ctx.actor.user_id):
        raise ApiKeyNotFound()
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        record_change(
            ctx,
            RESOURCE,
            api_key.id,
            "deleted",
            {"revoked_at": {"old": None, "new": jsonable(api_key.revoked_at)}},
        )
    await ctx.session.flush()


async def revoke_keys_of(ctx: Ctx, user_id: uuid.UUID) -> None:
    """Every live key of the user, for good: their password changed or they were
    deactivated. Re-activating the user brings none back."""
    now = utcnow()
    revoked = await ctx.session.scalars(
        update(ApiKey)
        .where(
            ApiKey.workspace_id == ctx.workspace_id,
            ApiKey.user_id == user_id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .returning(ApiKey.id)
    )
    for key_id in revoked:
        change = {"revoked_at": {"old": None, "new": jsonable(now)}}
        record_change(ctx, RESOURCE, key_id, "deleted", change)
