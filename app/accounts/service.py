"""Accounts (organisations): the business rules, and the only place that writes them."""

import uuid
from types import SimpleNamespace
from typing import Any

from asyncpg import Record
from sqlalchemy import func, literal, select

from app.accounts.models import Account
from app.accounts.schemas import AccountCreate, AccountQuery, AccountRead, AccountUpdate
from app.core.concurrency import check_if_match
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.history import History, HistoryQuery, apply_changes, history_of, insert_with_history
from app.core.pagination import (
    Rows,
    apply_filters,
    at_least,
    before,
    columns_of,
    equals,
    has_all,
    one_of,
    paginate,
)
from app.core.records import (
    check_visible,
    get_visible,
    restore,
    restrict_to_visible,
    soft_delete,
)
from app.core.search import derived_columns
from app.custom_fields import service as custom_fields
from app.users import service as users_service

RESOURCE = "account"
_ACCOUNTS = Account.__table__.c
_LISTED = columns_of(Account.__table__, AccountRead)
SORTS = {
    "created_at": _ACCOUNTS.created_at,
    "updated_at": _ACCOUNTS.updated_at,
    "name": _ACCOUNTS.name,
}
FILTERS = {
    "type": one_of(_ACCOUNTS.type),
    "owner_id": equals(_ACCOUNTS.owner_id),
    "parent_id": equals(_ACCOUNTS.parent_id),
    "tax_code": equals(_ACCOUNTS.tax_code),
    "province": equals(_ACCOUNTS.province),
    "industry": equals(_ACCOUNTS.industry),
    "tag": has_all(_ACCOUNTS.tags),
    "created_after": at_least(_ACCOUNTS.created_at),
    "created_before": before(_ACCOUNTS.created_at),
}
_HISTORY_FIELDS = [
    "name", "type", "tax_code", "industry", "size", "website", "email", "phone", "address",
    "province", "parent_id", "owner_id", "tags", "custom_fields",
]  # fmt: skip
_SEARCHED = ("name", "tax_code", "email", "phone", "phone_e164", "website")


class AccountNotFound(NotFound):
    code, title = "account_not_found", "Account not found"


class AccountHierarchyCycle(Conflict):
    code, title = "account_hierarchy_cycle", "An account cannot be its own ancestor"


async def list_accounts(ctx: Ctx, query: AccountQuery) -> Rows[Record]:
    """Accounts visible to the actor, filtered, sorted and paginated by cursor."""
    stmt = restrict_to_visible(select(*_LISTED), Account, ctx.actor)
    stmt = apply_filters(stmt, query, FILTERS)
    return await paginate(
        ctx, stmt, query, model=Account, sorts=SORTS, search_column=_ACCOUNTS.search_text
    )


async def get_account(
    ctx: Ctx, account_id: uuid.UUID, *, include_deleted: bool = False, for_update: bool = False
) -> Account:
    """A visible account; another workspace's or an invisible one is a 404."""
    return await get_visible(
        ctx,
        Account,
        account_id,
        not_found=AccountNotFound,
        include_deleted=include_deleted,
        for_update=for_update,
    )


async def check_account(ctx: Ctx, account_id: uuid.UUID) -> None:
    """AccountNotFound unless the account is live and visible (free for one made or checked in
    this transaction)."""
    await check_visible(ctx, Account, account_id, not_found=AccountNotFound)


async def _check_parent(ctx: Ctx, parent_id: uuid.UUID, *, child_id: uuid.UUID | None) -> None:
    """The parent is a live account the actor can see, and not the child or one of its
    descendants (that would close a loop)."""
    try:
        await get_account(ctx, parent_id)
    except AccountNotFound:
        raise Unprocessable([{"field": "parent_id", "message": "not an account you can see"}])
    if child_id is None:
        return
    # Two concurrent re-parentings could each pass the check and close a loop together:
    # hierarchy changes in a workspace take turns.
    await ctx.session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(f"account-tree:{ctx.workspace_id}")))
    )
    if child_id in await _ancestors(ctx, parent_id):
        raise AccountHierarchyCycle()


async def _ancestors(ctx: Ctx, account_id: uuid.UUID) -> set[uuid.UUID]:
    """The account and every account above it (deleted ones included: they can come back)."""
    up = (
        select(_ACCOUNTS.id, _ACCOUNTS.parent_id, literal(0).label("depth"))
        .where(_ACCOUNTS.id == account_id)
        .cte("up", recursive=True)
    )
    above = Account.__table__.alias("above")
    up = up.union(
        select(above.c.id, above.c.parent_id, (up.c.depth + 1).label("depth")).where(
            above.c.id == up.c.parent_id, up.c.depth < 1000
        )
    )
    return set(await ctx.session.scalars(select(up.c.id)))


async def create_account(ctx: Ctx, data: AccountCreate) -> SimpleNamespace:
    """Owner defaults to the creator; a new account is a `prospect` unless told otherwise."""
    values: dict[str, Any] = data.model_dump()
    values["owner_id"] = data.owner_id or ctx.actor.user_id
    await users_service.check_assignable_owner(ctx, values["owner_id"])
    if data.parent_id is not None:
        await _check_parent(ctx, data.parent_id, child_id=None)
    values["custom_fields"] = await custom_fields.validate_values(ctx, RESOURCE, data.custom_fields)
    values.update(derived_columns(values, _SEARCHED))
    return await insert_with_history(
        ctx, Account, values, resource=RESOURCE, fields=_HISTORY_FIELDS
    )


async def update_account(
    ctx: Ctx, account_id: uuid.UUID, data: AccountUpdate, *, if_match: str | None
) -> Account:
    """Applies only the fields sent; a stale If-Match is a 412; a loop in the hierarchy a 409."""
    account = await get_account(ctx, account_id, for_update=True)
    check_if_match(account.version, if_match)
    values = data.model_dump(exclude_unset=True)
    if values.get("owner_id") != account.owner_id:
        await users_service.check_assignable_owner(ctx, values.get("owner_id"))
    if values.get("parent_id") is not None and values["parent_id"] != account.parent_id:
        await _check_parent(ctx, values["parent_id"], child_id=account.id)
    if "custom_fields" in values:
        values["custom_fields"] = await custom_fields.validate_values(
            ctx, RESOURCE, values["custom_fields"], existing=account.custom_fields
        )
    if apply_changes(ctx, RESOURCE, account, values):
        for name, value in derived_columns(account, _SEARCHED).items():
            setattr(account, name, value)
        await ctx.session.flush()
    return account


async def delete_account(ctx: Ctx, account_id: uuid.UUID, *, if_match: str | None) -> None:
    """Soft delete: hidden from lists, kept with its history, restorable. Its subsidiaries keep
    their `parent_id`."""
    account = await get_account(ctx, account_id, for_update=True)
    soft_delete(ctx, RESOURCE, account, if_match=if_match)
    await ctx.session.flush()


async def restore_account(ctx: Ctx, account_id: uuid.UUID) -> Account:
    """Brings a soft-deleted account back; restoring a live one changes nothing."""
    account = await get_account(ctx, account_id, include_deleted=True, for_update=True)
    restore(ctx, RESOURCE, account)
    await ctx.session.flush()
    return account


async def account_history(ctx: Ctx, account_id: uuid.UUID, query: HistoryQuery) -> History:
    """Every change to the account, oldest first."""
    account = await get_account(ctx, account_id, include_deleted=True)
    return await history_of(ctx, RESOURCE, account.id, query)
