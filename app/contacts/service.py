"""Contacts (people) and their links to accounts: the business rules, and the only place that
writes them."""

import uuid
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, update

from app.accounts import service as accounts_service
from app.accounts.models import Account
from app.contacts.models import AccountContact, Contact
from app.contacts.schemas import (
    AccountLinkCreate,
    AccountLinkUpdate,
    ContactCreate,
    ContactQuery,
    ContactRead,
    ContactUpdate,
)
from app.core import sql
from app.core.concurrency import check_if_match
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.history import (
    History,
    HistoryQuery,
    apply_changes,
    history_of,
    insert_with_history,
    jsonable,
    record_change,
    register_links,
)
from app.core.limits import ACCOUNTS_PER_CONTACT, LimitReached
from app.core.models import utcnow
from app.core.pagination import (
    Rows,
    apply_filters,
    at_least,
    before,
    columns_of,
    equals,
    has_all,
    paginate,
)
from app.core.records import (
    check_visible,
    flush_or_conflict,
    get_visible,
    restore,
    restrict_to_visible,
    soft_delete,
)
from app.core.search import derived_columns
from app.custom_fields import service as custom_fields
from app.users import service as users_service

RESOURCE = "contact"
_CONTACTS = Contact.__table__.c
_LINKS = AccountContact.__table__.c
_LISTED = columns_of(Contact.__table__, ContactRead)
SORTS = {
    "created_at": _CONTACTS.created_at,
    "updated_at": _CONTACTS.updated_at,
    "full_name": _CONTACTS.full_name,
}
FILTERS = {
    "owner_id": equals(_CONTACTS.owner_id),
    "account_id": lambda account_id: _CONTACTS.id.in_(
        select(_LINKS.contact_id).where(_LINKS.account_id == account_id)
    ),
    "province": equals(_CONTACTS.province),
    "do_not_contact": equals(_CONTACTS.do_not_contact),
    "tag": has_all(_CONTACTS.tags),
    "created_after": at_least(_CONTACTS.created_at),
    "created_before": before(_CONTACTS.created_at),
}
_HISTORY_FIELDS = [
    "full_name", "first_name", "last_name", "email", "phone", "title", "birthday", "gender",
    "province", "do_not_contact", "owner_id", "tags", "custom_fields",
]  # fmt: skip
_SEARCHED = ("full_name", "email", "phone", "phone_e164")
# A contact's links as it reads them: live accounts only, the primary one first.
_LINKS_OF = (
    select(_LINKS.contact_id, _LINKS.account_id, _LINKS.role, _LINKS.is_primary)
    .join(
        Account.__table__,
        (Account.workspace_id == _LINKS.workspace_id) & (Account.id == _LINKS.account_id),
    )
    .where(Account.deleted_at.is_(None))
    .order_by(_LINKS.is_primary.desc(), _LINKS.created_at, _LINKS.id)
)


# The history keeps every link (it is the record's, not a viewer's); each viewer is shown the
# links to accounts they can see, as the contact reads.
register_links(RESOURCE, "accounts", model=Account, key="account_id")


class ContactNotFound(NotFound):
    code, title = "contact_not_found", "Contact not found"


class AccountLinkNotFound(NotFound):
    code, title = "account_link_not_found", "The contact is not linked to this account"


class AlreadyLinked(Conflict):
    code, title = "already_linked", "The contact is already linked to this account"


class TooManyAccountLinks(LimitReached):
    code, title = "account_link_limit", "The contact is linked to as many accounts as allowed"


def _name_parts(full_name: str) -> dict[str, str | None]:
    """Vietnamese order: the family name (họ) comes first, the given name (tên) last."""
    words = [word[:100] for word in full_name.split()]  # a part fits its column
    if len(words) < 2:
        return {"last_name": None, "first_name": words[0] if words else None}
    return {"last_name": words[0], "first_name": words[-1]}


async def _links_by_contact(
    ctx: Ctx, contact_ids: list[uuid.UUID], *, all_accounts: bool = False
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each contact's links to live accounts the actor can see (`all_accounts`: every one, for
    the history, which is the record's and not a viewer's)."""
    links: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in contact_ids}
    stmt = _LINKS_OF.where(_LINKS.contact_id.in_(contact_ids))
    if not all_accounts:
        stmt = restrict_to_visible(stmt, Account, ctx.actor)
    if contact_ids:
        for row in await sql.fetch(ctx, stmt):
            links[row["contact_id"]].append(
                {
                    "account_id": row["account_id"],
                    "role": row["role"],
                    "is_primary": row["is_primary"],
                }
            )
    return links


async def _view(ctx: Ctx, contact: Any) -> SimpleNamespace:
    """The contact as it reads: its columns and its account links."""
    fields = {
        name: getattr(contact, name) for name in ContactRead.model_fields if name != "accounts"
    }
    links = await _links_by_contact(ctx, [contact.id])
    return SimpleNamespace(**fields, accounts=links[contact.id])


async def with_accounts(ctx: Ctx, rows: list[Any]) -> list[dict[str, Any]]:
    """Contact rows (the columns ContactRead shows) with their account links, in one query."""
    links = await _links_by_contact(ctx, [row["id"] for row in rows])
    return [{**dict(row.items()), "accounts": links[row["id"]]} for row in rows]


async def list_contacts(ctx: Ctx, query: ContactQuery) -> Rows[Any]:
    """Contacts visible to the actor, filtered, sorted and paginated, each with its accounts."""
    stmt = restrict_to_visible(select(*_LISTED), Contact, ctx.actor)
    stmt = apply_filters(stmt, query, FILTERS)
    rows = await paginate(
        ctx, stmt, query, model=Contact, sorts=SORTS, search_column=_CONTACTS.search_text
    )
    rows.data = await with_accounts(ctx, rows.data)
    return rows


async def list_account_contacts(ctx: Ctx, account_id: uuid.UUID, query: ContactQuery) -> Rows[Any]:
    """The contacts of an account the actor can see (404 otherwise) that the actor can see."""
    await accounts_service.get_account(ctx, account_id)
    return await list_contacts(ctx, query.model_copy(update={"account_id": account_id}))


async def get_contact(
    ctx: Ctx, contact_id: uuid.UUID, *, include_deleted: bool = False, for_update: bool = False
) -> Contact:
    """A visible contact; another workspace's or an invisible one is a 404."""
    return await get_visible(
        ctx,
        Contact,
        contact_id,
        not_found=ContactNotFound,
        include_deleted=include_deleted,
        for_update=for_update,
    )


async def check_contact(ctx: Ctx, contact_id: uuid.UUID) -> None:
    """ContactNotFound unless the contact is live and visible (free for one made or checked in
    this transaction)."""
    await check_visible(ctx, Contact, contact_id, not_found=ContactNotFound)


async def read_contact(ctx: Ctx, contact_id: uuid.UUID) -> SimpleNamespace:
    """A visible contact as it reads, with its account links."""
    return await _view(ctx, await get_contact(ctx, contact_id))


async def _linkable_account(ctx: Ctx, account_id: uuid.UUID) -> None:
    """A link needs a live account the actor can see: another team's is refused like a missing
    one (422), so the answer doesn't tell it exists."""
    try:
        await accounts_service.check_account(ctx, account_id)
    except accounts_service.AccountNotFound:
        raise Unprocessable([{"field": "account_id", "message": "not an account you can see"}])


async def create_contact(ctx: Ctx, data: ContactCreate) -> SimpleNamespace:
    """Owner defaults to the creator; family and given names come from `full_name` unless sent;
    `account_id` links the new contact to that account as its primary one."""
    values: dict[str, Any] = data.model_dump(exclude={"account_id", "account_role"})
    parts = _name_parts(data.full_name)
    values["last_name"] = data.last_name or parts["last_name"]
    values["first_name"] = data.first_name or parts["first_name"]
    values["owner_id"] = data.owner_id or ctx.actor.user_id
    await users_service.check_assignable_owner(ctx, values["owner_id"])
    values["custom_fields"] = await custom_fields.validate_values(ctx, RESOURCE, data.custom_fields)
    values.update(derived_columns(values, _SEARCHED))
    if data.account_id is not None:
        await _linkable_account(ctx, data.account_id)
    contact = await insert_with_history(
        ctx, Contact, values, resource=RESOURCE, fields=_HISTORY_FIELDS
    )
    if data.account_id is not None:
        ctx.session.add(
            AccountContact(
                workspace_id=ctx.workspace_id,
                contact_id=contact.id,
                account_id=data.account_id,
                role=data.account_role,
                is_primary=True,
            )
        )
        await ctx.session.flush()
    return await _view(ctx, contact)


async def update_contact(
    ctx: Ctx, contact_id: uuid.UUID, data: ContactUpdate, *, if_match: str | None
) -> SimpleNamespace:
    """Applies only the fields sent; a stale If-Match is a 412."""
    contact = await get_contact(ctx, contact_id, for_update=True)
    check_if_match(contact.version, if_match)
    values = data.model_dump(exclude_unset=True)
    if values.get("owner_id") != contact.owner_id:
        await users_service.check_assignable_owner(ctx, values.get("owner_id"))
    if "custom_fields" in values:
        values["custom_fields"] = await custom_fields.validate_values(
            ctx, RESOURCE, values["custom_fields"], existing=contact.custom_fields
        )
    if apply_changes(ctx, RESOURCE, contact, values):
        for name, value in derived_columns(contact, _SEARCHED).items():
            setattr(contact, name, value)
        await ctx.session.flush()
    return await _view(ctx, contact)


async def delete_contact(ctx: Ctx, contact_id: uuid.UUID, *, if_match: str | None) -> None:
    """Soft delete: hidden from lists, kept with its links and history, restorable."""
    contact = await get_contact(ctx, contact_id, for_update=True)
    soft_delete(ctx, RESOURCE, contact, if_match=if_match)
    await ctx.session.flush()


async def restore_contact(ctx: Ctx, contact_id: uuid.UUID) -> SimpleNamespace:
    """Brings a soft-deleted contact back; restoring a live one changes nothing."""
    contact = await get_contact(ctx, contact_id, include_deleted=True, for_update=True)
    restore(ctx, RESOURCE, contact)
    await ctx.session.flush()
    return await _view(ctx, contact)


async def contact_history(ctx: Ctx, contact_id: uuid.UUID, query: HistoryQuery) -> History:
    """A page of the contact's changes, oldest first, its links to accounts the actor can see
    included."""
    contact = await get_contact(ctx, contact_id, include_deleted=True)
    return await history_of(ctx, RESOURCE, contact.id, query)


async def list_links(ctx: Ctx, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    """The contact's accounts, the primary one first."""
    contact = await get_contact(ctx, contact_id)
    return (await _links_by_contact(ctx, [contact.id]))[contact.id]


async def _get_link(ctx: Ctx, contact_id: uuid.UUID, account_id: uuid.UUID) -> AccountContact:
    """The link, if its account is one the actor can see: another team's is not theirs to
    change, and a 404 doesn't tell it exists."""
    try:
        await accounts_service.check_account(ctx, account_id)
    except accounts_service.AccountNotFound:
        raise AccountLinkNotFound()
    link = await ctx.session.scalar(
        select(AccountContact).where(
            AccountContact.contact_id == contact_id, AccountContact.account_id == account_id
        )
    )
    if link is None:
        raise AccountLinkNotFound()
    return link


async def _clear_primary(ctx: Ctx, contact_id: uuid.UUID) -> None:
    await ctx.session.execute(
        update(AccountContact)
        .where(AccountContact.contact_id == contact_id, AccountContact.is_primary)
        .values(is_primary=False)
    )


async def _links_changed(
    ctx: Ctx, contact: Contact, before: list[dict[str, Any]]
) -> SimpleNamespace:
    """The contact's links are part of what it reads as: a change bumps its version and is
    kept in its history like any field's."""
    await ctx.session.flush()
    after = (await _links_by_contact(ctx, [contact.id], all_accounts=True))[contact.id]
    if after != before:
        contact.updated_at = utcnow()
        change = {"accounts": {"old": jsonable(before), "new": jsonable(after)}}
        record_change(ctx, RESOURCE, contact.id, "updated", change)
        await ctx.session.flush()
    return await _view(ctx, contact)


async def _all_links(ctx: Ctx, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    return (await _links_by_contact(ctx, [contact_id], all_accounts=True))[contact_id]


async def link_account(ctx: Ctx, contact_id: uuid.UUID, data: AccountLinkCreate) -> SimpleNamespace:
    """Link the contact to an account it isn't linked to yet (409 if it is). At most
    ACCOUNTS_PER_CONTACT links: 409 `account_link_limit` beyond, unlink one first."""
    contact = await get_contact(ctx, contact_id, for_update=True)
    await _linkable_account(ctx, data.account_id)
    before = await _all_links(ctx, contact.id)
    # Counted under the contact's row lock. Links to deleted accounts don't count: nobody
    # sees or can remove them; restoring such an account may take a contact past the cap.
    if len(before) >= ACCOUNTS_PER_CONTACT:
        raise TooManyAccountLinks(
            f"A contact is linked to at most {ACCOUNTS_PER_CONTACT} accounts; unlink one first"
        )
    if data.is_primary:
        await _clear_primary(ctx, contact.id)
    ctx.session.add(
        AccountContact(
            workspace_id=ctx.workspace_id,
            contact_id=contact.id,
            account_id=data.account_id,
            role=data.role,
            is_primary=data.is_primary,
        )
    )
    await flush_or_conflict(ctx, AlreadyLinked())
    return await _links_changed(ctx, contact, before)


async def ensure_linked(ctx: Ctx, contact_id: uuid.UUID, account_id: uuid.UUID) -> SimpleNamespace:
    """Link the contact to the account unless it already is (two conversions onto the same
    records queue on the contact's row lock); primary if the contact has no primary yet."""
    contact = await get_contact(ctx, contact_id, for_update=True)
    links = await _all_links(ctx, contact.id)
    if any(link["account_id"] == account_id for link in links):
        return await _view(ctx, contact)
    primary = not any(link["is_primary"] for link in links)
    return await link_account(
        ctx, contact.id, AccountLinkCreate(account_id=account_id, is_primary=primary)
    )


async def update_link(
    ctx: Ctx, contact_id: uuid.UUID, account_id: uuid.UUID, data: AccountLinkUpdate
) -> SimpleNamespace:
    """Change the contact's role at the account, or make it the primary one."""
    contact = await get_contact(ctx, contact_id, for_update=True)
    link = await _get_link(ctx, contact.id, account_id)
    before = await _all_links(ctx, contact.id)
    values = data.model_dump(exclude_unset=True)
    if values.get("is_primary"):
        await _clear_primary(ctx, contact.id)
        await ctx.session.refresh(link)
    for field, value in values.items():
        setattr(link, field, value)
    return await _links_changed(ctx, contact, before)


async def unlink_account(ctx: Ctx, contact_id: uuid.UUID, account_id: uuid.UUID) -> None:
    """Remove the link; the contact and the account stay."""
    contact = await get_contact(ctx, contact_id, for_update=True)
    link = await _get_link(ctx, contact.id, account_id)
    before = await _all_links(ctx, contact.id)
    await ctx.session.delete(link)
    await _links_changed(ctx, contact, before)
