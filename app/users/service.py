"""Users and teams of a workspace. Only owners and admins manage them (the router checks)."""

import uuid
from typing import Any

from sqlalchemy import func, select

from app.auth.security import CALENDAR_TOKEN_MARK, hash_password, new_secret
from app.core.concurrency import check_if_match
from app.core.context import Ctx, Role
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.history import apply_changes, record_change, record_creation
from app.core.models import utcnow
from app.core.records import flush_or_conflict
from app.users.models import Team, User
from app.users.schemas import TeamCreate, TeamUpdate, UserCreate, UserUpdate


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


async def list_users(ctx: Ctx) -> list[User]:
    return list(await ctx.session.scalars(select(User).order_by(User.full_name, User.id)))


async def get_user(ctx: Ctx, user_id: uuid.UUID, *, for_update: bool = False) -> User:
    found = await ctx.session.get(
        User, (ctx.workspace_id, user_id), with_for_update=for_update or None
    )
    if found is None:
        raise UserNotFound()
    return found


async def issue_calendar_token(ctx: Ctx) -> str:
    """A new calendar feed token for the actor, shown once; the previous one stops working."""
    if ctx.actor.api_key_id is not None:
        raise Forbidden("An API key can't issue credentials: sign in as the user")
    user = await get_user(ctx, ctx.actor.user_id, for_update=True)  # type: ignore[arg-type]
    token, prefix, digest = new_secret(CALENDAR_TOKEN_MARK)
    user.calendar_token_prefix, user.calendar_token_hash = prefix, digest
    record_change(ctx, "user", user.id, "updated", {"calendar_token": {"old": None, "new": "…"}})
    await ctx.session.flush()
    return token


async def check_assignable_owner(ctx: Ctx, owner_id: uuid.UUID | None) -> None:
    """A record's owner is an active user of this workspace whom the actor can see (422)."""
    if owner_id is None or owner_id == ctx.actor.user_id:
        return
    user = await ctx.session.get(User, (ctx.workspace_id, owner_id))
    if user is None or not user.is_active or not ctx.actor.can_see_owner(owner_id):
        raise Unprocessable([{"field": "owner_id", "message": "not an active user you can see"}])


async def _check_team(ctx: Ctx, team_id: uuid.UUID | None) -> None:
    if team_id is not None and await ctx.session.get(Team, (ctx.workspace_id, team_id)) is None:
        raise Unprocessable([{"field": "team_id", "message": "no such team"}])


async def _email_free(ctx: Ctx, email: str, *, except_id: uuid.UUID | None = None) -> None:
    stmt = select(User.id).where(func.lower(User.email) == email.lower())
    if except_id:
        stmt = stmt.where(User.id != except_id)
    if await ctx.session.scalar(stmt) is not None:
        raise EmailTaken(f"{email} is already a user here")


def _check_role_grant(ctx: Ctx, role: Role) -> None:
    """Only an owner makes owners: an admin can't promote anyone above themself."""
    if role is Role.owner and ctx.actor.role is not Role.owner:
        raise Forbidden("Only an owner can make another owner")


async def create_user(ctx: Ctx, data: UserCreate) -> User:
    _check_role_grant(ctx, data.role)
    await _check_team(ctx, data.team_id)
    await _email_free(ctx, data.email)
    values = data.model_dump(exclude={"password"})
    user = User(workspace_id=ctx.workspace_id, password_hash=hash_password(data.password), **values)
    ctx.session.add(user)
    await flush_or_conflict(ctx, EmailTaken(f"{data.email} is already a user here"))
    record_creation(ctx, "user", user, ["email", "full_name", "role", "team_id", "is_active"])
    return user


async def update_user(
    ctx: Ctx, user_id: uuid.UUID, data: UserUpdate, *, if_match: str | None
) -> User:
    """Only an owner changes an owner (any field: password, email, role, deactivation); the
    last active owner can't stop being one (409). A new password signs out every token issued
    before it."""
    user = await get_user(ctx, user_id, for_update=True)
    check_if_match(user.version, if_match)
    values: dict[str, Any] = data.model_dump(exclude_unset=True)
    if user.role == Role.owner and ctx.actor.role is not Role.owner:
        raise Forbidden("Only an owner can change an owner")
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
    if password := values.pop("password", None):
        user.password_hash = hash_password(password)
        user.tokens_valid_after = utcnow()
        user.updated_at = user.tokens_valid_after
        # History never sees hashes: only that the password changed, and by whom.
        record_change(
            ctx, "user", user.id, "updated", {"password": {"old": None, "new": "changed"}}
        )
    apply_changes(ctx, "user", user, values)
    await ctx.session.flush()
    return user


async def _another_owner_remains(ctx: Ctx, user_id: uuid.UUID) -> None:
    others = await ctx.session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.owner, User.is_active, User.id != user_id)
    )
    if not others:
        raise LastOwner("Make someone else an owner first: a workspace keeps one owner")


async def list_teams(ctx: Ctx) -> list[Team]:
    return list(await ctx.session.scalars(select(Team).order_by(Team.name, Team.id)))


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
    return team
