"""Contacts (people) and their links to accounts: the business rules, and the only place that
writes them."""

import uuid
from typing import Any

from sqlalchemy import func, select, update

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
from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound
from app.core.history import jsonable, record_change, register_links
from app.core.ids import new_id
from app.core.limits import ACCOUNTS_PER_CONTACT, LimitReached
from app.core.models import table_of, utcnow
from app.core.pagination import FilterOn, Rows, equals, has_all
from app.core.records import (
    DuplicatePolicy,
    Patched,
    Resource,
    flush_or_conflict,
    restrict_to_visible,
)
from app.custom_fields import service as custom_fields
from app.duplicates import service as duplicates_service
from app.users import service as users_service

_LINK_TABLE = table_of(AccountContact)
_LINKS = _LINK_TABLE.c
_ACCOUNTS = Account.__table__.c
# The history keeps every link (it is the record's, not a viewer's); each viewer is shown the
# links to accounts they can see, as the contact reads.
register_links("contact", "accounts", model=Account, key="account_id")


class ContactNotFound(NotFound):
    code, title = "contact_not_found", "Contact not found"


class AccountLinkNotFound(NotFound):
    code, title = "account_link_not_found", "The contact is not linked to this account"


class AlreadyLinked(Conflict):
    code, title = "already_linked", "The contact is already linked to this account"


class TooManyAccountLinks(LimitReached):
    code, title = "account_link_limit", "The contact is linked to as many accounts as allowed"


def _linked_to(on: FilterOn, account_id: uuid.UUID) -> Any:
    return on.columns.id.in_(
        select(_LINKS.contact_id).where(
            _LINKS.workspace_id == on.workspace_id, _LINKS.account_id == account_id
        )
    )


async def _with_links(ctx: Ctx, contact: Contact) -> ContactRead:
    """The contact as it reads: its columns and its links to accounts the actor can see."""
    fields = {
        name: getattr(contact, name) for name in ContactRead.model_fields if name != "accounts"
    }
    # A contact made in this transaction reads with the links it was made with (a conversion
    # answers with it); changing its links forgets them (`_locked`).
    made = records.rows_made_with(ctx, CONTACTS, contact, _LINK_TABLE)
    if made is not None:
        # Visible and live as `_links_by_contact` has them; the accounts are in the identity
        # map (the link was checked against them), so this asks no query.
        links = [
            {name: link[name] for name in ("account_id", "role", "is_primary")}
            for link in made
            if await records.find_visible(ctx, Account, link["account_id"]) is not None
        ]
    else:
        links = (await _links_by_contact(ctx, [contact.id]))[contact.id]
    return ContactRead.model_validate({**fields, "accounts": links})


_HISTORY = (
    "full_name", "first_name", "last_name", "email", "phone", "title", "birthday", "gender",
    "province", "do_not_contact", "owner_id", "tags", "custom_fields",
)  # fmt: skip
CONTACTS = Resource(
    model=Contact,
    name="contact",
    read=ContactRead,
    query=ContactQuery,
    not_found=ContactNotFound,
    filters={
        "owner_id": equals("owner_id"),
        "account_id": _linked_to,
        "province": equals("province"),
        "do_not_contact": equals("do_not_contact"),
        "tag": has_all("tags"),
    },
    searched=("full_name", "email", "phone", "phone_e164"),
    history=_HISTORY,
    owner_check=users_service.check_assignable_owner,
    custom_fields=custom_fields.validate_values,
    present=_with_links,
    duplicates=duplicates_service.refuse_duplicates,
)


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
    stmt = (
        select(_LINKS.contact_id, _LINKS.account_id, _LINKS.role, _LINKS.is_primary)
        .join(
            Account.__table__,
            (_ACCOUNTS.workspace_id == _LINKS.workspace_id) & (_ACCOUNTS.id == _LINKS.account_id),
        )
        .where(
            _LINKS.workspace_id == ctx.workspace_id,
            _LINKS.contact_id.in_(contact_ids),
            _ACCOUNTS.deleted_at.is_(None),
        )
        .order_by(_LINKS.is_primary.desc(), _LINKS.created_at, _LINKS.id)
    )  # live accounts only, the primary one first
    if not all_accounts:
        stmt = restrict_to_visible(stmt, table_of(Account), ctx.actor)
    if contact_ids:
        for row in await records.fetch(ctx, stmt):
            links[row["contact_id"]].append(
                {
                    "account_id": row["account_id"],
                    "role": row["role"],
                    "is_primary": row["is_primary"],
                }
            )
    return links


async def with_accounts(ctx: Ctx, rows: list[Any]) -> list[dict[str, Any]]:
    """Contact rows (the columns ContactRead shows) with their account links, in one query."""
    links = await _links_by_contact(ctx, [row["id"] for row in rows])
    return [{**dict(row.items()), "accounts": links[row["id"]]} for row in rows]


async def list_contacts(ctx: Ctx, query: ContactQuery) -> Rows[Any]:
    """Contacts visible to the actor, filtered, sorted and paginated, each with its accounts."""
    rows = await records.list_page(ctx, CONTACTS, query)
    rows.data = await with_accounts(ctx, rows.data)
    return rows


async def list_account_contacts(ctx: Ctx, account_id: uuid.UUID, query: ContactQuery) -> Rows[Any]:
    """The contacts of an account the actor can see (404 otherwise) that the actor can see."""
    await records.get(ctx, accounts_service.ACCOUNTS, account_id)
    return await list_contacts(ctx, query.model_copy(update={"account_id": account_id}))


async def _linkable_account(ctx: Ctx, account_id: uuid.UUID) -> None:
    """A link needs a live account the actor can see: another team's is refused like a missing
    one (422), so the answer doesn't tell it exists."""
    await records.referenced(ctx, accounts_service.ACCOUNTS, account_id, field="account_id")


async def create_contact(
    ctx: Ctx, data: ContactCreate, *, duplicates: DuplicatePolicy = DuplicatePolicy.ask
) -> Contact:
    """Owner defaults to the creator; family and given names come from `full_name` unless sent;
    `account_id` links the new contact to that account as its primary one. The workspace's
    duplicate rules apply (409)."""
    values: dict[str, Any] = data.model_dump(exclude={"account_id", "account_role"})
    parts = _name_parts(data.full_name)
    values["last_name"] = data.last_name or parts["last_name"]
    values["first_name"] = data.first_name or parts["first_name"]
    values["id"] = new_id()
    links: list[dict[str, Any]] = []
    if data.account_id is not None:
        await _linkable_account(ctx, data.account_id)
        links.append({"account_id": data.account_id, "role": data.account_role, "is_primary": True})
    # The link goes in with the contact: one statement.
    rows = [(_LINK_TABLE, {**link, "contact_id": values["id"]}) for link in links]
    return await records.create(ctx, CONTACTS, values, with_rows=rows, duplicates=duplicates)


async def update_contact(
    ctx: Ctx,
    contact_id: uuid.UUID,
    data: ContactUpdate,
    *,
    if_match: str | None,
    duplicates: DuplicatePolicy = DuplicatePolicy.ask,
) -> Patched[Contact]:
    """Applies only the fields sent; a stale If-Match is a 412; duplicate rules apply (409)."""
    values = data.model_dump(exclude_unset=True)
    return await records.patch(
        ctx, CONTACTS, contact_id, values, if_match=if_match, duplicates=duplicates
    )


async def list_links(ctx: Ctx, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    """The contact's accounts, the primary one first."""
    contact = await records.get(ctx, CONTACTS, contact_id)
    return (await _links_by_contact(ctx, [contact.id]))[contact.id]


async def _get_link(ctx: Ctx, contact_id: uuid.UUID, account_id: uuid.UUID) -> AccountContact:
    """The link, if its account is one the actor can see: another team's is not theirs to
    change, and a 404 doesn't tell it exists."""
    try:
        await records.get(ctx, accounts_service.ACCOUNTS, account_id)
    except accounts_service.AccountNotFound:
        raise AccountLinkNotFound()
    link = await ctx.session.scalar(
        select(AccountContact).where(
            AccountContact.workspace_id == ctx.workspace_id,
            AccountContact.contact_id == contact_id,
            AccountContact.account_id == account_id,
        )
    )
    if link is None:
        raise AccountLinkNotFound()
    return link


async def _clear_primary(ctx: Ctx, contact_id: uuid.UUID) -> None:
    await ctx.session.execute(
        update(AccountContact)
        .where(
            AccountContact.workspace_id == ctx.workspace_id,
            AccountContact.contact_id == contact_id,
            AccountContact.is_primary,
        )
        .values(is_primary=False)
    )


async def _locked(ctx: Ctx, contact_id: uuid.UUID) -> Contact:
    """The contact, locked for a change to its links (which its read then reads back)."""
    contact = await records.get(ctx, CONTACTS, contact_id, for_update=True)
    records.forget_rows_made_with(ctx, CONTACTS, contact)
    return contact


async def _links_changed(ctx: Ctx, contact: Contact, before: list[dict[str, Any]]) -> Contact:
    """The contact's links are part of what it reads as: a change bumps its version and is
    kept in its history like any field's."""
    await ctx.session.flush()
    after = (await _links_by_contact(ctx, [contact.id], all_accounts=True))[contact.id]
    if after != before:
        contact.updated_at = utcnow()
        change = {"accounts": {"old": jsonable(before), "new": jsonable(after)}}
        record_change(ctx, CONTACTS.name, contact.id, "updated", change)
        await ctx.session.flush()
    return contact


async def _all_links(ctx: Ctx, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    return (await _links_by_contact(ctx, [contact_id], all_accounts=True))[contact_id]


async def link_account(ctx: Ctx, contact_id: uuid.UUID, data: AccountLinkCreate) -> Contact:
    """Link the contact to an account it isn't linked to yet (409 if it is). At most
    ACCOUNTS_PER_CONTACT links: 409 `account_link_limit` beyond, unlink one first."""
    contact = await _locked(ctx, contact_id)
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


async def ensure_linked(ctx: Ctx, contact_id: uuid.UUID, account_id: uuid.UUID) -> Contact:
    """Link the contact to the account unless it already is (two conversions onto the same
    records queue on the contact's row lock); primary if the contact has no primary yet."""
    contact = await _locked(ctx, contact_id)
    links = await _all_links(ctx, contact.id)
    if any(link["account_id"] == account_id for link in links):
        return contact
    primary = not any(link["is_primary"] for link in links)
    return await link_account(
        ctx, contact.id, AccountLinkCreate(account_id=account_id, is_primary=primary)
    )


async def update_link(
    ctx: Ctx, contact_id: uuid.UUID, account_id: uuid.UUID, data: AccountLinkUpdate
) -> Contact:
    """Change the contact's role at the account, or make it the primary one."""
    contact = await _locked(ctx, contact_id)
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
    contact = await _locked(ctx, contact_id)
    link = await _get_link(ctx, contact.id, account_id)
    before = await _all_links(ctx, contact.id)
    await ctx.session.delete(link)
    await _links_changed(ctx, contact, before)


async def contacts_like(
    ctx: Ctx, *, email: str | None, phone_e164: str | None, limit: int
) -> list[dict[str, Any]]:
    """Contacts the actor can see with the same email (ignoring case) or phone, newest first,
    each with its accounts."""
    contacts = Contact.__table__.c
    conditions = []
    if email:
        conditions.append(func.lower(contacts.email) == email.lower())
    if phone_e164:
        conditions.append(contacts.phone_e164 == phone_e164)
    rows = await records.any_matching(ctx, CONTACTS, conditions, limit=limit)
    return await with_accounts(ctx, rows)
