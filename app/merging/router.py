"""`POST /{leads,contacts,accounts}/merge`: duplicates become one (app/merging/service.py)."""

from fastapi import APIRouter, status
from starlette.exceptions import HTTPException

from app.accounts.schemas import AccountRead
from app.accounts.service import AccountHierarchyCycle, AccountNotFound
from app.auth.dependencies import Member
from app.contacts.schemas import ContactRead
from app.contacts.service import ContactNotFound, TooManyAccountLinks
from app.core import records
from app.core.errors import UPDATE_ERRORS, problems
from app.core.idempotency import Idempotent
from app.core.limits import ACCOUNTS_PER_CONTACT, RECORDS_PER_MERGE
from app.core.records import RecordAlreadyMerged
from app.core.routing import CommittingRoute
from app.duplicates.service import DuplicateFound
from app.leads.schemas import LeadRead
from app.leads.service import LeadConverted, LeadNotFound
from app.merging import service
from app.merging.schemas import MergeRecords

router = APIRouter(tags=["duplicates"], route_class=CommittingRoute)


async def _only_post() -> None:
    raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED)


# `/leads/merge` is also the shape of `/leads/{lead_id}`: without these (matched first: this
# router goes before the records' own), a GET, PATCH or DELETE of it would reach the record's
# route and be a 422 for an id that is no UUID, instead of a 405.
other_methods_router = APIRouter()
for _kind in ("leads", "contacts", "accounts"):
    other_methods_router.add_api_route(
        f"/{_kind}/merge",
        _only_post,
        methods=["GET", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
        name=f"merge_{_kind}_other_methods",
    )

_HOW = (
    "All in one transaction, the records locked: the survivor takes the value of each field "
    "from the record `fields` names; a field not named keeps the survivor's value unless it "
    "is blank (null, empty), then takes the first merged record's (in `merged_ids` order) that "
    "is not; custom fields the same, key by key (`custom_fields.<key>`); tags are the union. "
    "{moves} move to the survivor. The merged records are deleted with `merged_into_id` and "
    "keep their own values (read them with `include_deleted=true`); the survivor's history "
    "has a `merged` entry (each value with the record it came `from`), each merged record's a "
    "`merged_into`. A record you can't see, of another workspace or deleted is a 404; one "
    "already merged a 409 `record_already_merged` (two merges racing over the same records: "
    "one wins, the other gets this); the survivor among `merged_ids`, a record named twice, "
    f"more than {RECORDS_PER_MERGE}, or `fields` naming another field or record a 422. A "
    "`block` duplicate rule matching a third record refuses the survivor's new values (409)."
)


@router.post(
    "/leads/merge",
    summary="Merge leads",
    description=_HOW.format(
        moves="Activities, deals made from them, intake submissions and notifications"
    )
    + " A converted lead is read-only: merging one is a 409 `lead_converted` (merge the "
    "contacts and accounts it became instead).",
    responses=problems(
        *UPDATE_ERRORS, LeadNotFound, RecordAlreadyMerged, LeadConverted, DuplicateFound
    ),
)
async def merge_leads(body: MergeRecords, ctx: Member, _: Idempotent) -> LeadRead:
    survivor = await service.merge(ctx, service.LEADS, body)
    return await records.read(ctx, service.LEADS.resource, survivor)


@router.post(
    "/contacts/merge",
    summary="Merge contacts",
    description=_HOW.format(
        moves="Activities, deals, account links (a shared account keeps one link; the "
        "survivor's primary account stays primary, else the first merged one's), the leads "
        "converted into them and intake submissions"
    )
    + f" More than {ACCOUNTS_PER_CONTACT} account links in all is a 409 "
    "`account_link_limit`.",
    responses=problems(
        *UPDATE_ERRORS, ContactNotFound, RecordAlreadyMerged, TooManyAccountLinks, DuplicateFound
    ),
)
async def merge_contacts(body: MergeRecords, ctx: Member, _: Idempotent) -> ContactRead:
    survivor = await service.merge(ctx, service.CONTACTS, body)
    return await records.read(ctx, service.CONTACTS.resource, survivor)


@router.post(
    "/accounts/merge",
    summary="Merge accounts",
    description=_HOW.format(
        moves="Activities, deals, contacts' links (a contact linked to several keeps one, "
        "primary if any was), the leads converted into them and child accounts"
    )
    + " A parent among the merged records gives way to its own parent; a merge that would "
    "make the survivor its own ancestor is a 409 `account_hierarchy_cycle`.",
    responses=problems(
        *UPDATE_ERRORS,
        AccountNotFound,
        RecordAlreadyMerged,
        AccountHierarchyCycle,
        DuplicateFound,
    ),
)
async def merge_accounts(body: MergeRecords, ctx: Member, _: Idempotent) -> AccountRead:
    survivor = await service.merge(ctx, service.ACCOUNTS, body)
    return await records.read(ctx, service.ACCOUNTS.resource, survivor)
