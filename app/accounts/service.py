"""Accounts (organisations): the business rules, and the only place that writes them."""

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, literal, select

from app.accounts.models import Account
from app.accounts.schemas import AccountCreate, AccountQuery, AccountRead, AccountUpdate
from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound
from app.core.pagination import equals, has_all, one_of
from app.core.records import DuplicatePolicy, Patched, Resource
from app.core.repoint import repoint
from app.custom_fields import service as custom_fields
from app.duplicates import service as duplicates_service
from app.users import service as users_service


class AccountNotFound(NotFound):
    code, title = "account_not_found", "Account not found"


class AccountHierarchyCycle(Conflict):
    code, title = "account_hierarchy_cycle", "An account cannot be its own ancestor"


_HISTORY = (
    "name", "type", "tax_code", "industry", "size", "website", "email", "phone", "address",
    "province", "parent_id", "owner_id", "tags", "custom_fields",
)  # fmt: skip
ACCOUNTS = Resource(
    model=Account,
    name="account",
    read=AccountRead,
    query=AccountQuery,
    not_found=AccountNotFound,
    filters={
        "type": one_of("type"),
        "owner_id": equals("owner_id"),
        "parent_id": equals("parent_id"),
        "tax_code": equals("tax_code"),
        "province": equals("province"),
        "industry": equals("industry"),
        "tag": has_all("tags"),
    },
    searched=("name", "tax_code", "email", "phone", "phone_e164", "website"),
    history=_HISTORY,
    owner_check=users_service.check_assignable_owner,
    custom_fields=custom_fields.validate_values,
    duplicates=duplicates_service.refuse_duplicates,
)
_ACCOUNTS = Account.__table__.c


async def _check_parent(ctx: Ctx, parent_id: uuid.UUID, *, child_id: uuid.UUID | None) -> None:
    """The parent is a live account the actor can see, and not the child or one of its
    descendants (that would close a loop)."""
    await records.referenced(ctx, ACCOUNTS, parent_id, field="parent_id")
    if child_id is None:
        return
    await _tree_lock(ctx)
    if child_id in await _ancestors(ctx, parent_id):
        raise AccountHierarchyCycle()


async def _tree_lock(ctx: Ctx) -> None:
    # Two concurrent re-parentings could each pass the check and close a loop together:
    # hierarchy changes in a workspace take turns.
    await ctx.session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(f"account-tree:{ctx.workspace_id}")))
    )


async def _ancestors(ctx: Ctx, account_id: uuid.UUID) -> set[uuid.UUID]:
    """The account and every account above it (deleted ones included: they can come back)."""
    up = (
        select(_ACCOUNTS.id, _ACCOUNTS.parent_id, literal(0).label("depth"))
        .where(_ACCOUNTS.workspace_id == ctx.workspace_id, _ACCOUNTS.id == account_id)
        .cte("up", recursive=True)
    )
    above = Account.__table__.alias("above")
    up = up.union(
        select(above.c.id, above.c.parent_id, (up.c.depth + 1).label("depth")).where(
            above.c.workspace_id == ctx.workspace_id,
            above.c.id == up.c.parent_id,
            up.c.depth < 1000,
        )
    )
    return set(await ctx.session.scalars(select(up.c.id)))


async def create_account(
    ctx: Ctx, data: AccountCreate, *, duplicates: DuplicatePolicy = DuplicatePolicy.ask
) -> Account:
    """Owner defaults to the creator; a new account is a `prospect` unless told otherwise. The
    workspace's duplicate rules apply (409)."""
    values = await account_values(ctx, data)
    return await records.create(ctx, ACCOUNTS, values, duplicates=duplicates)


async def account_values(ctx: Ctx, data: AccountCreate) -> dict[str, Any]:
    """A new account's values after the account's own rules (`create_account`'s), for the
    resource layer to create (`records.create`, or `records.prepare` and `create_many`)."""
    if data.parent_id is not None:
        await _check_parent(ctx, data.parent_id, child_id=None)
    return data.model_dump()


async def update_account(
    ctx: Ctx,
    account_id: uuid.UUID,
    data: AccountUpdate,
    *,
    if_match: str | None,
    duplicates: DuplicatePolicy = DuplicatePolicy.ask,
) -> Patched[Account]:
    """Applies only the fields sent; a stale If-Match is a 412; a loop in the hierarchy a 409."""

    async def rules(account: Account, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("parent_id") is not None and values["parent_id"] != account.parent_id:
            await _check_parent(ctx, values["parent_id"], child_id=account.id)
        return values

    values = data.model_dump(exclude_unset=True)
    return await records.patch(
        ctx, ACCOUNTS, account_id, values, if_match=if_match, rules=rules, duplicates=duplicates
    )


async def make_customer(ctx: Ctx, account_id: uuid.UUID | None) -> None:
    """A prospect's first won deal makes it a customer, in its history too; whoever won the
    deal, even one who can't see the account."""
    if account_id is None:
        return
    account = await records.find_visible(
        ctx, Account, account_id, include_deleted=True, for_update=True, any_owner=True
    )
    if account is not None and account.type == "prospect":
        await records.apply_patch(ctx, ACCOUNTS, account, {"type": "customer"})


async def accounts_like(
    ctx: Ctx,
    *,
    email: str | None,
    phone_e164: str | None,
    name: str | None,
    tax_code: str | None,
    limit: int,
) -> list[Any]:
    """Accounts the actor can see with the same email, phone, name (ignoring case) or tax
    code, newest first, as list rows."""
    conditions = []
    if email:
        conditions.append(func.lower(_ACCOUNTS.email) == email.lower())
    if phone_e164:
        conditions.append(_ACCOUNTS.phone_e164 == phone_e164)
    if name:
        conditions.append(func.lower(_ACCOUNTS.name) == name.lower())
    if tax_code:
        conditions.append(_ACCOUNTS.tax_code == tax_code)
    return await records.any_matching(ctx, ACCOUNTS, conditions, limit=limit)


async def move_children(
    ctx: Ctx, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID, *, keep: Collection[uuid.UUID]
) -> list[uuid.UUID]:
    """The child accounts of any of `from_ids` (deleted ones too) are `to_id`'s from now on,
    each move in the child's history; the accounts in `keep` (a merge's own, which it changes
    itself) stay as they are. Hierarchy changes take turns from here to the commit."""
    await _tree_lock(ctx)
    outside = _ACCOUNTS.id.not_in(list(keep))
    return await repoint(ctx, ACCOUNTS, "parent_id", from_ids, to_id, where=[outside])


async def check_hierarchy(ctx: Ctx, account: Account) -> None:
    """The account is not its own ancestor (after a merge moved children onto it): 409."""
    if account.parent_id is not None and account.id in await _ancestors(ctx, account.parent_id):
        raise AccountHierarchyCycle()
