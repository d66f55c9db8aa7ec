"""Creating a workspace: the tenant row, its seeded settings and its first owner, in one go."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.security import hash_password
from app.automations.examples import seed_examples
from app.core.context import SYSTEM, Ctx
from app.core.db import enter_workspace
from app.core.ids import new_id
from app.core.schemas import normalize_email
from app.core.tenancy import Workspace
from app.duplicates.service import seed_rules
from app.leads.statuses import seed_statuses
from app.pipelines.service import seed_default_pipeline
from app.users import service as users_service
from app.users.models import User


async def create_workspace(
    session: AsyncSession, *, name: str, owner_email: str, owner_password: str, owner_name: str
) -> tuple[Workspace, User]:
    """A new workspace with its default lead statuses, sales pipeline, duplicate rules and
    example workflows (switched off), and its owner; the caller commits. The password must
    pass the policy (422)."""
    owner_email = normalize_email(owner_email)
    users_service.check_password_choice(owner_password, owner_email)
    password_hash = await hash_password(owner_password)
    workspace = Workspace(id=new_id(), name=name)
    await enter_workspace(session, workspace.id)
    session.add(workspace)
    await session.flush()
    ctx = Ctx(session=session, actor=SYSTEM, workspace_id=workspace.id)
    seed_statuses(ctx)
    seed_default_pipeline(ctx)
    seed_rules(ctx)
    seed_examples(ctx)
    owner = await users_service.create_first_owner(
        ctx, email=owner_email, full_name=owner_name, password_hash=password_hash
    )
    return workspace, owner
