"""The records a workflow acts on: how each kind is read (with the records it points at, for
conditions like `account.type` and `owner.team_id`), which of its fields exist, and how one
changes — always through the record's own domain service, as a member's edit would."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from app.accounts import service as accounts
from app.accounts.schemas import AccountRead, AccountUpdate
from app.contacts import service as contacts
from app.contacts.schemas import ContactRead, ContactUpdate
from app.core import records
from app.core.context import Ctx
from app.core.errors import NotFound
from app.core.records import DuplicatePolicy, Resource
from app.custom_fields import service as custom_fields
from app.custom_fields.schemas import CustomFieldType
from app.deals import service as deals
from app.deals.schemas import DealRead, DealUpdate
from app.leads import service as leads
from app.leads.schemas import LeadRead, LeadUpdate
from app.users import service as users
from app.users.schemas import UserRead

Record = dict[str, Any]
Update = Callable[[Ctx, uuid.UUID, dict[str, Any]], Awaitable[Any]]
# A workflow's own change is the user's "save anyway": its duplicates were the record's already.
_ALLOWED = DuplicatePolicy.allowed


@dataclass(frozen=True)
class Related:
    """A record this kind points at: where its id is, and how it reads."""

    key: Callable[[Record], Any]  # the related record's id, from the record as read
    read: type[BaseModel]
    load: Callable[[Ctx, uuid.UUID], Awaitable[Record | None]]


@dataclass(frozen=True)
class Target:
    resource: Resource[Any, Any]
    read: type[BaseModel]
    patch: type[BaseModel]  # its update body: the fields a workflow may set
    update: Update
    date_fields: tuple[str, ...] = ()
    related: dict[str, Related] = field(default_factory=dict)
    email_field: str | None = "email"  # where `send_email` to the record goes


async def _user(ctx: Ctx, user_id: uuid.UUID) -> Record | None:
    try:
        user = await users.get_user(ctx, user_id)
    except NotFound:
        return None
    return UserRead.model_validate(user).model_dump(mode="json")


def _loader(resource: Resource[Any, Any]) -> Callable[[Ctx, uuid.UUID], Awaitable[Record | None]]:
    async def load(ctx: Ctx, record_id: uuid.UUID) -> Record | None:
        try:
            found = await records.get(ctx, resource, record_id)
        except NotFound:
            return None
        shown: Record = (await records.read(ctx, resource, found)).model_dump(mode="json")
        return shown

    return load


def _primary_account(contact: Record) -> Any:
    return next((a["account_id"] for a in contact.get("accounts") or [] if a["is_primary"]), None)


_OWNER = Related(key=lambda r: r.get("owner_id"), read=UserRead, load=_user)
_ACCOUNT = Related(
    key=lambda r: r.get("account_id"), read=AccountRead, load=_loader(accounts.ACCOUNTS)
)


async def _update_lead(ctx: Ctx, record_id: uuid.UUID, values: dict[str, Any]) -> Any:
    body = LeadUpdate.model_validate(values)
    return await leads.update_lead(ctx, record_id, body, if_match=None, duplicates=_ALLOWED)


async def _update_contact(ctx: Ctx, record_id: uuid.UUID, values: dict[str, Any]) -> Any:
    body = ContactUpdate.model_validate(values)
    return await contacts.update_contact(ctx, record_id, body, if_match=None, duplicates=_ALLOWED)


async def _update_account(ctx: Ctx, record_id: uuid.UUID, values: dict[str, Any]) -> Any:
    body = AccountUpdate.model_validate(values)
    return await accounts.update_account(ctx, record_id, body, if_match=None, duplicates=_ALLOWED)


async def _update_deal(ctx: Ctx, record_id: uuid.UUID, values: dict[str, Any]) -> Any:
    return await deals.update_deal(ctx, record_id, DealUpdate.model_validate(values), if_match=None)


TARGETS: dict[str, Target] = {
    "lead": Target(leads.LEADS, LeadRead, LeadUpdate, _update_lead, related={"owner": _OWNER}),
    "contact": Target(
        contacts.CONTACTS,
        ContactRead,
        ContactUpdate,
        _update_contact,
        date_fields=("birthday",),
        related={
            "owner": _OWNER,
            "account": Related(_primary_account, AccountRead, _loader(accounts.ACCOUNTS)),
        },
    ),
    "account": Target(
        accounts.ACCOUNTS,
        AccountRead,
        AccountUpdate,
        _update_account,
        related={
            "owner": _OWNER,
            "parent": Related(
                lambda r: r.get("parent_id"), AccountRead, _loader(accounts.ACCOUNTS)
            ),
        },
    ),
    "deal": Target(
        deals.DEALS,
        DealRead,
        DealUpdate,
        _update_deal,
        date_fields=("expected_close_date",),
        related={"owner": _OWNER, "account": _ACCOUNT},
        email_field=None,
    ),
}


async def read_record(ctx: Ctx, resource: str, record_id: uuid.UUID) -> Record | None:
    """The live record as its API reads it (JSON values), or None when it is gone."""
    return await _loader(TARGETS[resource].resource)(ctx, record_id)


async def value_of(ctx: Ctx, resource: str, record: Record, path: str) -> Any:
    """`status`, `custom_fields.dong_xe`, `account.type`, `owner.team_id`: the value the
    record (or the record it points at) holds there; None when there is none."""
    head, _, rest = path.partition(".")
    if head == "custom_fields":
        return (record.get("custom_fields") or {}).get(rest)
    related = TARGETS[resource].related.get(head)
    if related is not None and rest:
        related_id = related.key(record)
        if related_id is None:
            return None
        other = await related.load(ctx, uuid.UUID(str(related_id)))
        return None if other is None else other.get(rest)
    return record.get(path)


async def unknown_fields(ctx: Ctx, resource: str, paths: list[str]) -> list[str]:
    """The paths no record of `resource` has (nor a record it points at, nor a declared
    custom field): a condition or a trigger naming one is a 422."""
    target = TARGETS[resource]
    declared = await _custom_field_keys(ctx, resource)
    unknown = []
    for path in paths:
        head, _, rest = path.partition(".")
        if not rest:
            known = head in target.read.model_fields
        elif head == "custom_fields":
            known = rest in declared
        elif head in target.related:
            known = rest in target.related[head].read.model_fields
        else:
            known = False
        if not known:
            unknown.append(path)
    return unknown


def settable_fields(resource: str) -> set[str]:
    """The fields `update_field` may set: the record's update body's."""
    return set(TARGETS[resource].patch.model_fields)


async def _custom_field_keys(ctx: Ctx, resource: str) -> set[str]:
    return {d.key for d in await custom_fields.list_definitions(ctx, resource)}


async def date_fields(ctx: Ctx, resource: str) -> list[str]:
    """The fields a date trigger may name: the record's own dates and its custom fields of
    type `date` (as `custom_fields.<key>`)."""
    declared = await custom_fields.list_definitions(ctx, resource)
    custom = [f"custom_fields.{d.key}" for d in declared if d.type == CustomFieldType.date]
    return [*TARGETS[resource].date_fields, *custom]
