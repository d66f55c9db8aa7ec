import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.accounts.service import AccountNotFound
from app.auth.dependencies import Member
from app.contacts import service
from app.contacts.schemas import (
    AccountLink,
    AccountLinkCreate,
    AccountLinkList,
    AccountLinkUpdate,
    ContactCreate,
    ContactQueryParams,
    ContactRead,
    ContactUpdate,
)
from app.contacts.service import CONTACTS
from app.core import records
from app.core.concurrency import IfMatch
from app.core.errors import READ_ERRORS, UPDATE_ERRORS, WRITE_ERRORS, problems
from app.core.idempotency import Idempotent
from app.core.limits import ACCOUNTS_PER_CONTACT
from app.core.pagination import Page
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute
from app.duplicates.schemas import AllowDuplicates, duplicate_policy
from app.duplicates.service import DuplicateFound, PossibleDuplicate

router = APIRouter(prefix="/contacts", tags=["contacts"], route_class=CommittingRoute)
# Contacts listed under their account: the rows are contacts, so the route is this domain's;
# its path and tag are the account's.
account_contacts_router = APIRouter(
    prefix="/accounts", tags=["accounts"], route_class=CommittingRoute
)

ContactID = Annotated[uuid.UUID, Path(description="The contact's id.")]
AccountID = Annotated[uuid.UUID, Path(description="The account's id.")]
LinkedAccountID = Annotated[uuid.UUID, Path(description="The linked account's id.")]


@router.get(
    "",
    summary="List contacts",
    response_model=Page[ContactRead],
    responses=problems(*READ_ERRORS),
)
async def list_contacts(ctx: Member, query: ContactQueryParams) -> Response:
    """Contacts you can see, newest first by default, each with its accounts. Filters combine
    with AND; `q` ignores case and Vietnamese diacritics over name, email and phone."""
    return (await service.list_contacts(ctx, query)).response(ContactRead)


@router.post(
    "",
    summary="Create a contact",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, DuplicateFound, PossibleDuplicate),
)
async def create_contact(
    body: ContactCreate,
    ctx: Member,
    _: Idempotent,
    response: Response,
    allow_duplicates: AllowDuplicates = False,
) -> ContactRead:
    """Owner defaults to you. `account_id` links the contact to that account as its primary
    one; a 422 if it is not an account you can see. A contact the workspace's duplicate
    rules match (contacts and leads) is a 409 `duplicate` or `possible_duplicate`."""
    contact = await service.create_contact(ctx, body, duplicates=duplicate_policy(allow_duplicates))
    return await records.read_with_etag(ctx, CONTACTS, contact, response)


add_record_routes(
    router,
    CONTACTS,
    caller=Member,
    id_name="contact_id",
    notes={
        "get": "It carries its links to the accounts you can see.",
        "history": "Links to accounts you cannot see are left out.",
    },
)


@router.patch(
    "/{contact_id}",
    summary="Update a contact",
    responses=problems(*UPDATE_ERRORS, service.ContactNotFound, DuplicateFound, PossibleDuplicate),
)
async def update_contact(
    contact_id: ContactID,
    body: ContactUpdate,
    ctx: Member,
    response: Response,
    if_match: IfMatch = None,
    allow_duplicates: AllowDuplicates = False,
) -> ContactRead:
    """Only the fields you send change. Send `If-Match` to refuse a lost update (412). A
    change of a field the duplicate rules compare is checked as a new contact is (409)."""
    contact = await service.update_contact(
        ctx, contact_id, body, if_match=if_match, duplicates=duplicate_policy(allow_duplicates)
    )
    return await records.read_with_etag(ctx, CONTACTS, contact.record, response)


@router.get(
    "/{contact_id}/accounts",
    summary="A contact's accounts",
    description="The accounts the contact is linked to, with their role there; the primary one "
    f"first. Not paged: a contact is linked to at most {ACCOUNTS_PER_CONTACT} accounts.",
    responses=problems(*READ_ERRORS, service.ContactNotFound),
)
async def list_contact_accounts(contact_id: ContactID, ctx: Member) -> AccountLinkList:
    links = await service.list_links(ctx, contact_id)
    return AccountLinkList(data=[AccountLink.model_validate(link) for link in links])


@router.post(
    "/{contact_id}/accounts",
    summary="Link a contact to an account",
    description="Adds the link and answers with the contact. Already linked is a 409; an "
    f"account you cannot see is a 422. A contact is linked to at most {ACCOUNTS_PER_CONTACT} "
    "accounts: one more is a 409 `account_link_limit` (unlink one first).",
    status_code=status.HTTP_201_CREATED,
    responses=problems(
        *WRITE_ERRORS, service.ContactNotFound, service.AlreadyLinked, service.TooManyAccountLinks
    ),
)
async def link_contact_account(
    contact_id: ContactID, body: AccountLinkCreate, ctx: Member, _: Idempotent, response: Response
) -> ContactRead:
    contact = await service.link_account(ctx, contact_id, body)
    return await records.read_with_etag(ctx, CONTACTS, contact, response)


@router.patch(
    "/{contact_id}/accounts/{account_id}",
    summary="Change a contact's role at an account",
    responses=problems(*WRITE_ERRORS, service.ContactNotFound, service.AccountLinkNotFound),
)
async def update_contact_account(
    contact_id: ContactID,
    account_id: LinkedAccountID,
    body: AccountLinkUpdate,
    ctx: Member,
    response: Response,
) -> ContactRead:
    """Sets the role, or makes this the primary account (the previous primary stops being)."""
    contact = await service.update_link(ctx, contact_id, account_id, body)
    return await records.read_with_etag(ctx, CONTACTS, contact, response)


@router.delete(
    "/{contact_id}/accounts/{account_id}",
    summary="Unlink a contact from an account",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(*READ_ERRORS, service.ContactNotFound, service.AccountLinkNotFound),
)
async def unlink_contact_account(
    contact_id: ContactID, account_id: LinkedAccountID, ctx: Member
) -> None:
    """Removes the link only: the contact and the account stay."""
    await service.unlink_account(ctx, contact_id, account_id)


@account_contacts_router.get(
    "/{account_id}/contacts",
    summary="An account's contacts",
    response_model=Page[ContactRead],
    responses=problems(*READ_ERRORS, AccountNotFound),
)
async def list_account_contacts(
    account_id: AccountID, ctx: Member, query: ContactQueryParams
) -> Response:
    """The contacts linked to the account that you can see, with the same filters, sort and
    pagination as `GET /contacts`."""
    rows = await service.list_account_contacts(ctx, account_id, query)
    return rows.response(ContactRead)
