"""Who is acting, in which workspace, on which session: passed to every service call."""

import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, Table
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.transaction import TransactionState, state_of


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    manager = "manager"
    sales = "sales"


@dataclass(frozen=True)
class Actor:
    """A user (directly or through one of their API keys), or the system (jobs)."""

    user_id: uuid.UUID | None
    role: Role
    team_id: uuid.UUID | None = None
    # Owners whose records this actor sees; None means every record in the workspace.
    visible_owner_ids: frozenset[uuid.UUID] | None = None
    api_key_id: uuid.UUID | None = None
    token_id: str | None = None  # the access token's `jti`, when a JWT authenticated it

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.owner, Role.admin)

    def can_see_owner(self, owner_id: uuid.UUID | None) -> bool:
        if self.visible_owner_ids is None:
            return True
        return owner_id is not None and owner_id in self.visible_owner_ids

    def sees_rows_of(self, table: Table) -> ColumnElement[bool] | None:
        """The condition on `table`'s rows this actor may see (DESIGN §4: sales and managers
        see what they or their teams own); None when they see every row."""
        if self.visible_owner_ids is None or "owner_id" not in table.c:
            return None
        return table.c.owner_id.in_(self.visible_owner_ids)


SYSTEM = Actor(user_id=None, role=Role.owner)


@dataclass(frozen=True)
class Ctx:
    session: AsyncSession
    actor: Actor
    workspace_id: uuid.UUID
    # The workspace's settings version as read with the caller (None: unknown, don't cache).
    settings_version: int | None = None

    @property
    def state(self) -> TransactionState:
        """What this session carries between the parts of its transaction (jobs to send after
        commit, whether settings changed, the workspace wall's setting)."""
        return state_of(self.session)
