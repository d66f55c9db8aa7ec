"""Users and teams of a workspace. Only owners and admins manage them (the router checks);
API keys manage no credential of anyone's (passwords, emails, roles, invitations)."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.auth import api_keys as api_keys_service
from app.auth.password_policy import password_problem
from app.auth.security import CALENDAR_TOKEN_MARK, INVITATION_MARK, hash_password, new_secret
from app.core.concurrency import check_if_match
from app.core.context import Ctx, Role
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.history import apply_changes, record_change, record_creation
from app.core.ids import new_id
from app.core.models import table_of, utcnow
from app.core.pagination import Rows, columns_of, paginate
from app.core.records import flush_or_conflict
from app.core.settings import get_settings
from app.core.workspace_settings import settings_changed
from app.users.models import Team, User
from app.users.schemas import (
    TeamCreate,
    TeamQuery,
    TeamRead,
    TeamUpdate,
    UserCreate,
    UserQuery,
    UserRead,
    UserUpdate,
)

_USERS = User.__table__.c


class UserNotFound(NotFound):
    code, title = "user_not_found", "User not found"


class TeamNotFound(NotFound):
    code, title = "team_not_found", "Team not found"


class EmailTaken(Conflict):
    code, title = "email_taken", "A user with this email exists in the workspace"


class LastOwner(Conflict):
    code, title = "last_owner", "A workspace needs an active owner"


class TeamNameTaken(Conflict):
    code, title = "team_name_taken", "A team with this name exists"


class UserInactive(Conflict):
    code, title = "user_inactive", "The user is deactivated"


async def callers_changed(ctx: Ctx) -> None:
    """Who a caller is (role, team, active, credentials) and whom they see (teams, managers)
    changed: API processes look cached callers of this workspace up again. Every write to
    users and teams calls it (a trigger did, which Citus can't distribute)."""
    await settings_changed(ctx)


async def list_users(ctx: Ctx, query: UserQuery) -> Rows[Any]:
    """Every member of the workspace, a page at a time."""
    has_password = _USERS.password_hash.isnot(None).label("has_password")
    listed = select(*columns_of(User.__table__, UserRead), has_password)
    return await paginate(ctx, listed, query, table=table_of(User))


async def get_user(ctx: Ctx, user_id: uuid.UUID, *, for_update: bool = False) -> User:
    found = await ctx.session.get(
        User, (ctx.workspace_id, user_id), with_for_update=for_update or None
    )
    if found is None:
        raise UserNotFound()
    return found


async def issue_calendar_token(ctx: Ctx) -> str:
    """A new calendar feed token for the actor, shown once; the previous one stops working."""
    api_keys_service.refuse_api_key(ctx, "issue calendar tokens")
    user = await get_user(ctx, ctx.actor.user_id, for_update=True)  # type: ignore[arg-type]
    token, prefix, digest = new_secret(CALENDAR_TOKEN_MARK)
    user.calendar_token_prefix, user.calendar_token_hash = prefix, digest
    record_change(ctx, "user", user.id, "updated", {"calendar_token": {"old": None, "new": "…"}})
    await ctx.session.flush()
    await callers_changed(ctx)
    return token


async def check_assignable_owner(ctx: Ctx, owner_id: uuid.UUID | None) -> None:
    """A record's owner is an active user of this workspace whom the actor can see (422)."""
    if owner_id is None or owner_id == ctx.actor.user_id:
        return
    user = await ctx.session.get(User, (ctx.workspace_id, owner_id))
    if user is None or not user.is_active or not ctx.actor.can_see_owner(owner_id):
        raise Unprocessable([{"field": "owner_id", "message": "not an active user you can see"}])


async def all_active(ctx: Ctx, user_ids: list[uuid.UUID]) -> bool:
    """Whether every one of these is an active user of the workspace."""
    found = await ctx.session.scalars(
        select(User.id).where(
            User.workspace_id == ctx.workspace_id, User.id.in_(user_ids), User.is_active
        )
    )
    return set(found) == set(user_ids)


async def workspace_owner(ctx: Ctx) -> uuid.UUID:
    """The workspace's first active owner (a workspace always keeps one): who gets what
    nothing else gives to anyone, such as a new lead no rule or form assigns."""
    first = (
        select(User.id)
        .where(User.workspace_id == ctx.workspace_id, User.role == Role.owner, User.is_active)
        .order_by(User.id)
        .limit(1)
    )
    return (await ctx.session.execute(first)).scalar_one()


async def _check_team(ctx: Ctx, team_id: uuid.UUID | None) -> None:
    if team_id is not None and await ctx.session.get(Team, (ctx.workspace_id, team_id)) is None:
        raise Unprocessable([{"field": "team_id", "message": "no such team"}])


async def _email_free(ctx: Ctx, email: str, *, except_id: uuid.UUID | None = None) -> None:
    """`email` comes normalised (schemas' LoginEmail), as every stored one is."""
    stmt = select(User.id).where(User.workspace_id == ctx.workspace_id, User.email == email)
    if except_id:
        stmt = stmt.where(User.id != except_id)
    if await ctx.session.scalar(stmt) is not None:
        raise EmailTaken(f"{email} is already a user here")


def _check_role_grant(ctx: Ctx, role: Role) -> None:
    """Only an owner makes owners: an admin can't promote anyone above themself."""
    if role is Role.owner and ctx.actor.role is not Role.owner:
        raise Forbidden("Only an owner can make another owner")


def check_password_choice(password: str, email: str, *, field: str = "password") -> None:
    """422 when the policy refuses the password for this account (its own email, say)."""
    if problem := password_problem(password, email):
        raise Unprocessable([{"field": field, "message": problem}])


def _refuse_credentials_by_api_key(ctx: Ctx, values: dict[str, Any]) -> None:
    if ctx.actor.api_key_id is None:
        return
    if values.get("password") is not None:
        api_keys_service.refuse_api_key(ctx, "set passwords (invite the user instead)")
    if "email" in values:
        api_keys_service.refuse_api_key(ctx, "change emails")
    if "role" in values and values["role"] != Role.sales:
        api_keys_service.refuse_api_key(ctx, "grant roles")


async def create_user(ctx: Ctx, data: UserCreate) -> User:
    """With a password the user can log in at once; without one they are invited (see
    `invite_user`). API keys add `sales` users without a password only (403 otherwise)."""
    _refuse_credentials_by_api_key(ctx, {"password": data.password, "role": data.role})
    _check_role_grant(ctx, data.role)
    await _check_team(ctx, data.team_id)
    await _email_free(ctx, data.email)
    password_hash = None
    if data.password is not None:
        check_password_choice(data.password, data.email)
        password_hash = await hash_password(data.password)
    values = data.model_dump(exclude={"password"})
    user = User(workspace_id=ctx.workspace_id, password_hash=password_hash, **values)
    ctx.session.add(user)
    await flush_or_conflict(ctx, EmailTaken(f"{data.email} is already a user here"))
    record_creation(ctx, "user", user, ["email", "full_name", "role", "team_id", "is_active"])
    await callers_changed(ctx)
    return user


async def create_first_owner(ctx: Ctx, *, email: str, full_name: str, password_hash: str) -> User:
    """A new workspace's owner. The workspace's creation checks and hashes the password before
    it writes anything, and the email is the only one in the new workspace: no check here."""
    owner = User(
        workspace_id=ctx.workspace_id,
        id=new_id(),
        email=email,
        full_name=full_name,
        password_hash=password_hash,
        role=Role.owner,
    )
    ctx.session.add(owner)
    await ctx.session.flush()
    record_creation(ctx, "user", owner, ["email", "full_name", "role"])
    return owner


def _check_may_change(ctx: Ctx, user: User) -> None:
    if user.role == Role.owner and ctx.actor.role is not Role.owner:
        raise Forbidden("Only an owner can change an owner")


async def update_user(
    ctx: Ctx, user_id: uuid.UUID, data: UserUpdate, *, if_match: str | None
) -> User:
    """Only an owner changes an owner (any field: password, email, role, deactivation); the
    last active owner can't stop being one (409). API keys change no password, email or role
    (403). A new password or a deactivation signs the user out everywhere (`set_password`)."""
    values: dict[str, Any] = data.model_dump(exclude_unset=True)
    _refuse_credentials_by_api_key(ctx, values)
    password = values.pop("password", None)
    user = await get_user(ctx, user_id, for_update=True)
    check_if_match(user.version, if_match)
    _check_may_change(ctx, user)
    if "role" in values:
        _check_role_grant(ctx, values["role"])
    if user.role == Role.owner and (
        values.get("role", Role.owner) != Role.owner or values.get("is_active") is False
    ):
        await _another_owner_remains(ctx, user.id)
    if "team_id" in values:
        await _check_team(ctx, values["team_id"])
    if "email" in values:
        await _email_free(ctx, values["email"], except_id=user.id)
    if user.id == ctx.actor.user_id and values.get("is_active") is False:
        raise Conflict("You cannot deactivate yourself")
    if values.get("is_active") is False and user.is_active:
        await _revoke_credentials(ctx, user, keep_token_id=None)
    apply_changes(ctx, "user", user, values)
    if password:
        own = user.id == ctx.actor.user_id
        await set_password(ctx, user, password, keep_token_id=ctx.actor.token_id if own else None)
    await ctx.session.flush()
    await callers_changed(ctx)
    return user


async def set_password(
    ctx: Ctx,
    user: User,
    password: str,
    *,
    keep_token_id: str | None = None,
    field: str = "password",
) -> None:
    """A new password (checked against the policy and the user's email): every credential
    the user has stops working — tokens, API keys, calendar feed, invitation — except the
    access token `keep_token_id` (the one that made this change)."""
    check_password_choice(password, user.email, field=field)
    user.password_hash = await hash_password(password)
    await _revoke_credentials(ctx, user, keep_token_id=keep_token_id)
    # History never sees hashes: only that the password changed, and by whom.
    record_change(ctx, "user", user.id, "updated", {"password": {"old": None, "new": "changed"}})


async def _revoke_credentials(ctx: Ctx, user: User, *, keep_token_id: str | None) -> None:
    await callers_changed(ctx)
    user.tokens_valid_after = utcnow()
    user.kept_token_id = keep_token_id
    user.updated_at = user.tokens_valid_after
    user.calendar_token_prefix = user.calendar_token_hash = None
    user.invitation_prefix = user.invitation_hash = user.invitation_expires_at = None
    await api_keys_service.revoke_keys_of(ctx, user.id)


async def invite_user(ctx: Ctx, user_id: uuid.UUID) -> tuple[str, datetime]:
    """A one-time token with which the user chooses their password (`POST
    /auth/accept-invitation`), valid SEN_INVITATION_DAYS; a new one replaces the last. Shown
    once, to a signed-in owner or admin (API keys: 403); only an owner invites an owner."""
    api_keys_service.refuse_api_key(ctx, "issue invitations")
    user = await get_user(ctx, user_id, for_update=True)
    _check_may_change(ctx, user)
    if not user.is_active:
        raise UserInactive("Activate the user first")
    token, prefix, digest = new_secret(INVITATION_MARK)
    expires_at = utcnow() + timedelta(days=get_settings().invitation_days)
    user.invitation_prefix, user.invitation_hash = prefix, digest
    user.invitation_expires_at = expires_at
    change = {"invitation_expires_at": {"old": None, "new": expires_at.isoformat()}}
    record_change(ctx, "user", user.id, "updated", change)
    await ctx.session.flush()
    await callers_changed(ctx)
    return token, expires_at


async def _another_owner_remains(ctx: Ctx, user_id: uuid.UUID) -> None:
    others = await ctx.session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.workspace_id == ctx.workspace_id,
            User.role == Role.owner,
            User.is_active,
            User.id != user_id,
        )
    )
    if not others:
        raise LastOwner("Make someone else an owner first: a workspace keeps one owner")


async def list_teams(ctx: Ctx, query: TeamQuery) -> Rows[Any]:
    """The workspace's teams, a page at a time."""
    listed = select(*columns_of(Team.__table__, TeamRead))
    return await paginate(ctx, listed, query, table=table_of(Team))


async def get_team(ctx: Ctx, team_id: uuid.UUID) -> Team:
    found = await ctx.session.get(Team, (ctx.workspace_id, team_id))
    if found is None:
        raise TeamNotFound()
    return found


async def _check_manager(ctx: Ctx, manager_id: uuid.UUID | None) -> None:
    if (
        manager_id is not None
        and await ctx.session.get(User, (ctx.workspace_id, manager_id)) is None
    ):
        raise Unprocessable([{"field": "manager_id", "message": "no such user"}])


async def _flush_team(ctx: Ctx, name: str) -> None:
    await flush_or_conflict(ctx, TeamNameTaken(f"A team named {name!r} exists"))


async def create_team(ctx: Ctx, data: TeamCreate) -> Team:
    await _check_manager(ctx, data.manager_id)
    team = Team(workspace_id=ctx.workspace_id, **data.model_dump())
    ctx.session.add(team)
    await _flush_team(ctx, data.name)
    record_creation(ctx, "team", team, ["name", "manager_id"])
    await callers_changed(ctx)
    return team


async def update_team(
    ctx: Ctx, team_id: uuid.UUID, data: TeamUpdate, *, if_match: str | None
) -> Team:
    team = await get_team(ctx, team_id)
    check_if_match(team.version, if_match)
    values = data.model_dump(exclude_unset=True)
    if "manager_id" in values:
        await _check_manager(ctx, values["manager_id"])
    apply_changes(ctx, "team", team, values)
    await _flush_team(ctx, team.name)
    await callers_changed(ctx)
    return team
