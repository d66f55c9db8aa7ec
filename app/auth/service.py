"""Sign-up, password login, invitations and changing one's own password."""

import hmac
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.api_keys import refuse_api_key
from app.auth.schemas import InvitationAccept, PasswordChange, SignupRequest
from app.auth.security import (
    INVITATION_MARK,
    create_access_token,
    hash_api_key,
    split_api_key,
    verify_password,
)
from app.core.context import Actor, Ctx, Role
from app.core.db import enter_workspace, look_up_before_workspace
from app.core.errors import Forbidden, Unauthorized, Unprocessable
from app.core.models import utcnow
from app.core.schemas import normalize_email
from app.core.settings import get_settings
from app.core.tenancy import Workspace
from app.users import service as users_service
from app.users.models import User
from app.workspaces.service import create_workspace

# An email in more workspaces than this is not a person's: the rest are not offered.
_ACCOUNTS_LISTED = 50


class SignupDisabled(Forbidden):
    code, title = "signup_disabled", "Sign-up is turned off on this server"


class WrongCredentials(Unauthorized):
    code, title = "wrong_credentials", "Wrong email or password"


class InvitationInvalid(Unauthorized):
    code, title = "invitation_invalid", "This invitation is unknown, used or expired"


@dataclass(frozen=True)
class Login:
    token: str
    workspace: Any  # (id, name)
    other_workspaces: list[Any]


class Identity(Protocol):
    id: uuid.UUID
    workspace_id: uuid.UUID


def issue_token(user: Identity) -> str:
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


def _accounts_of(email: str) -> Any:
    """The active accounts with this email, the one a login without `workspace` picks first:
    an account with a password, then the most recently used, then the newest."""
    return (
        select(User.id, User.workspace_id, User.password_hash, Workspace.name)
        .join(Workspace, Workspace.id == User.workspace_id)
        .where(User.email == email, User.is_active)
        .order_by(
            User.password_hash.is_(None),
            User.last_login_at.desc().nulls_last(),
            User.created_at.desc(),
            User.id,
        )
        .limit(_ACCOUNTS_LISTED)
    )


async def log_in(
    session: AsyncSession, email: str, password: str, *, workspace_id: uuid.UUID | None = None
) -> Login:
    """A token for one account, or 401. Exactly one password check whatever the email
    matches (none, one, or accounts in many workspaces), so its cost tells nothing: against
    the account in `workspace_id` if given, else the one used last."""
    email = normalize_email(email)
    accounts: list[Any] = []
    if "\x00" not in email:  # PostgreSQL text can't hold NUL: no such account exists
        # The look-up's read-only transaction ends with it: no connection is held while this
        # login waits for a hashing thread.
        accounts = await look_up_before_workspace(session, _accounts_of(email))
    chosen = next(
        (a for a in accounts if workspace_id is None or a.workspace_id == workspace_id), None
    )
    if not await verify_password(password, chosen.password_hash if chosen else None):
        raise WrongCredentials()
    assert chosen is not None
    await enter_workspace(session, chosen.workspace_id)
    await session.execute(
        update(User)
        .where(User.workspace_id == chosen.workspace_id, User.id == chosen.id)
        .values(last_login_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    others = [(a.workspace_id, a.name) for a in accounts if a is not chosen]
    return Login(issue_token(chosen), (chosen.workspace_id, chosen.name), others)


async def accept_invitation(session: AsyncSession, data: InvitationAccept) -> Login:
    """The invited user chooses their password with their one-time token and is signed in;
    the token then stops working. Unknown, used or expired tokens are a 401."""
    prefix = split_api_key(data.token, INVITATION_MARK)
    found = None
    if prefix is not None:
        candidates = await look_up_before_workspace(
            session,
            select(User.id, User.workspace_id, User.invitation_hash).where(
                User.invitation_prefix == prefix,
                User.is_active,
                User.invitation_expires_at > utcnow(),
            ),
        )
        digest = hash_api_key(data.token)
        found = next(
            (c for c in candidates if hmac.compare_digest(c.invitation_hash or "", digest)), None
        )
    if found is None:
        raise InvitationInvalid("Ask an admin of your workspace for a new invitation")
    await enter_workspace(session, found.workspace_id)
    ctx = Ctx(
        session=session,
        actor=Actor(user_id=found.id, role=Role.sales),  # the invited user, acting for themself
        workspace_id=found.workspace_id,
    )
    user = await users_service.get_user(ctx, found.id, for_update=True)
    if user.invitation_hash != found.invitation_hash:  # accepted a moment ago by a twin request
        raise InvitationInvalid("This invitation was just used")
    await users_service.set_password(ctx, user, data.password)
    workspace = await session.get(Workspace, user.workspace_id)
    assert workspace is not None
    return Login(issue_token(user), (workspace.id, workspace.name), [])


async def change_own_password(ctx: Ctx, data: PasswordChange) -> None:
    """Your current password, then the new one. Every credential you have stops working (API
    keys, calendar feed, other sessions) except the token that made this change."""
    refuse_api_key(ctx, "change a password")
    user = await users_service.get_user(ctx, ctx.actor.user_id)  # type: ignore[arg-type]
    if not await verify_password(data.current_password, user.password_hash):
        raise Unprocessable(
            [{"field": "current_password", "message": "is not your current password"}]
        )
    user = await users_service.get_user(ctx, user.id, for_update=True)
    await users_service.set_password(
        ctx, user, data.new_password, keep_token_id=ctx.actor.token_id, field="new_password"
    )
