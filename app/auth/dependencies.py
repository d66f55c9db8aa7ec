"""The request's caller: a bearer credential (JWT or API key) -> `Ctx`, and the per-route
permission aliases routers declare (`Member`, `Admin`). The auth domain's, not core's: it reads
users, teams and API keys."""

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import ApiKey
from app.auth.security import (
    CALENDAR_TOKEN_MARK,
    decode_access_token,
    hash_api_key,
    split_api_key,
)
from app.core import sql
from app.core.context import Actor, Ctx, Role
from app.core.db import enter_workspace, look_up_before_workspace
from app.core.errors import Forbidden, Unauthorized
from app.core.models import utcnow
from app.core.settings import get_settings
from app.core.transaction import state_of
from app.users.models import Team, User

bearer = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    description="A JWT from /api/v1/auth/token, or an API key (`sen_…`) in the same header.",
)


class Permission(StrEnum):
    MEMBER = "member"  # any signed-in member of the workspace
    ADMIN = "admin"  # users, teams, statuses, custom fields: owners and admins only


# The caller's row, read whenever this process has no current copy of it (see _CALLERS): a
# fixed statement in the request's transaction (after its workspace setting), no compile step.
_CALLER_SQL = (
    "SELECT u.id, u.workspace_id, u.role, u.team_id, u.is_active, w.settings_version,"
    " u.tokens_valid_after, u.kept_token_id"
    " FROM users u JOIN workspaces w ON w.id = u.workspace_id"
    " WHERE u.workspace_id = $1 AND u.id = $2"
)


class Caller(NamedTuple):
    id: uuid.UUID
    workspace_id: uuid.UUID
    role: str
    team_id: uuid.UUID | None
    is_active: bool
    settings_version: int
    tokens_valid_after: datetime | None
    kept_token_id: str | None

    def accepts(self, claims: dict[str, Any]) -> bool:
        """A token issued after the user's credentials were last revoked, or the one token
        kept then (the one they changed their own password with)."""
        if self.tokens_valid_after is None:
            return True
        return bool(
            claims["iat"] >= self.tokens_valid_after.timestamp()
            or claims["jti"] == self.kept_token_id
        )


async def _caller(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> Caller | None:
    record = await sql.fetch_fixed_row(session, _CALLER_SQL, workspace_id, user_id)
    return Caller(*record) if record else None


async def _actor_for(session: AsyncSession, user: Caller, api_key_id: uuid.UUID | None) -> Actor:
    role = Role(user.role)
    if role in (Role.owner, Role.admin):
        return Actor(user_id=user.id, role=role, team_id=user.team_id, api_key_id=api_key_id)
    team_ids: set[uuid.UUID] = {user.team_id} if user.team_id else set()
    if role is Role.manager:
        managed = await session.scalars(
            select(Team.id).where(
                Team.workspace_id == user.workspace_id, Team.manager_id == user.id
            )
        )
        team_ids |= set(managed)
    owners: set[uuid.UUID] = {user.id}
    if team_ids:
        members = await session.scalars(
            select(User.id).where(
                User.workspace_id == user.workspace_id, User.team_id.in_(team_ids)
            )
        )
        owners |= set(members)
    return Actor(
        user_id=user.id,
        role=role,
        team_id=user.team_id,
        visible_owner_ids=frozenset(owners),
        api_key_id=api_key_id,
    )


async def acting_user(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID
) -> Actor | None:
    """The user as they act now (role, and whose records they see), for work done later on
    their behalf (a job running their export); None once they are gone or deactivated."""
    caller = await _caller(session, workspace_id, user_id)
    if caller is None or not caller.is_active:
        return None
    return await _actor_for(session, caller, None)


async def _user_from_api_key(session: AsyncSession, key: str) -> tuple[Caller, uuid.UUID] | None:
    prefix = split_api_key(key)
    if prefix is None:
        return None
    candidates = await look_up_before_workspace(
        session,
        select(
            ApiKey.id, ApiKey.workspace_id, ApiKey.user_id, ApiKey.key_hash, ApiKey.last_used_at
        ).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)),
    )
    digest = hash_api_key(key)
    found = next((k for k in candidates if hmac.compare_digest(k.key_hash, digest)), None)
    if found is None:
        return None
    await enter_workspace(session, found.workspace_id)
    now = utcnow()
    if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
        # Coarse on purpose: not one UPDATE per request.
        await session.execute(
            update(ApiKey)
            .where(ApiKey.workspace_id == found.workspace_id, ApiKey.id == found.id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    user = await _caller(session, found.workspace_id, found.user_id)
    return (user, found.id) if user else None


# Callers this process has looked up, with whom they see, by (workspace, user). An entry is
# used only while its workspace's settings version is current, which the request's BEGIN
# message checks (migration 0008: any change to users or teams bumps the version), so a
# cached caller costs no round trip and is never staler than a fresh look-up would be.
_CALLERS: dict[tuple[uuid.UUID, uuid.UUID], tuple[Caller, Actor]] = {}
_CALLERS_MAX = 10_000


async def _still_current(session: AsyncSession, version: int) -> bool:
    """Whether `version` is still the workspace's, checked in the BEGIN message that starts the
    request's transaction: no extra round trip."""
    state = state_of(session)
    state.expected_settings_version = version
    await sql.begin(session)
    # Taken by the BEGIN unless the transaction had begun already: then nothing was checked,
    # and the entry counts as stale (the caller is looked up afresh).
    current = state.expected_settings_version is None and not state.stale_settings
    state.expected_settings_version, state.stale_settings = None, False
    return current


async def _jwt_caller(session: AsyncSession, token: str) -> tuple[Caller, Actor] | None:
    claims = decode_access_token(get_settings().jwt_secret(), token)
    if claims is None:
        return None
    workspace_id, user_id = uuid.UUID(claims["wid"]), uuid.UUID(claims["sub"])
    await enter_workspace(session, workspace_id)
    key = (workspace_id, user_id)
    found = _CALLERS.get(key)
    if found is None or not await _still_current(session, found[0].settings_version):
        caller = await _caller(session, workspace_id, user_id)
        if caller is None:
            return None
        found = (caller, await _actor_for(session, caller, None))
        if len(_CALLERS) >= _CALLERS_MAX:
            _CALLERS.clear()
        _CALLERS[key] = found
    if not found[0].accepts(claims):
        return None  # issued before a new password or a deactivation
    return found[0], replace(found[1], token_id=claims["jti"])


async def authenticate(session: AsyncSession, token: str | None) -> Ctx:
    """Resolve a bearer credential to a context bound to its workspace; 401 when it fails."""
    if not token:
        raise Unauthorized("Send `Authorization: Bearer <token or API key>`")
    found: tuple[Caller, Actor] | None = None
    if token.startswith("sen_"):
        resolved = await _user_from_api_key(session, token)
        if resolved is not None and resolved[0].is_active:
            user, api_key_id = resolved
            found = (user, await _actor_for(session, user, api_key_id))
    else:
        found = await _jwt_caller(session, token)
    if found is None or not found[0].is_active:
        error = Unauthorized("The token or API key is invalid, expired or revoked")
        error.headers["WWW-Authenticate"] = "Bearer"
        raise error
    user, actor = found
    return Ctx(
        session=session,
        actor=actor,
        workspace_id=user.workspace_id,
        settings_version=user.settings_version,
    )


async def authenticate_calendar_feed(session: AsyncSession, token: str) -> Ctx:
    """A calendar app's feed token -> the context of the user whose agenda it reads; 401 when
    it is unknown or replaced. It authenticates nothing but `GET /calendar.ics`."""
    prefix = split_api_key(token, CALENDAR_TOKEN_MARK)
    if prefix is not None:
        candidates = await look_up_before_workspace(
            session,
            select(User.id, User.workspace_id, User.calendar_token_hash).where(
                User.calendar_token_prefix == prefix, User.is_active
            ),
        )
        digest = hash_api_key(token)
        user = next(
            (u for u in candidates if hmac.compare_digest(u.calendar_token_hash or "", digest)),
            None,
        )
        if user is not None:
            await enter_workspace(session, user.workspace_id)
            caller = await _caller(session, user.workspace_id, user.id)
            if caller is not None and caller.is_active:
                actor = await _actor_for(session, caller, None)
                return Ctx(session=session, actor=actor, workspace_id=caller.workspace_id)
    raise Unauthorized("The calendar token is invalid or was replaced by a newer one")


def requires(permission: Permission) -> Callable[..., Awaitable[Ctx]]:
    async def dependency(request: Request, token: Annotated[str | None, Depends(bearer)]) -> Ctx:
        # The session CommittingRoute opened for this request (what get_session returns).
        ctx = await authenticate(request.state.session, token)
        if permission is Permission.ADMIN and not ctx.actor.is_admin:
            raise Forbidden("Only workspace owners and admins can do this")
        request.state.ctx = ctx
        return ctx

    return dependency


Member = Annotated[Ctx, Depends(requires(Permission.MEMBER))]
Admin = Annotated[Ctx, Depends(requires(Permission.ADMIN))]
