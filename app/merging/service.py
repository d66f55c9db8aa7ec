"""Merging duplicates: several leads, contacts or accounts become one, in the request's one
transaction, and nothing is lost.

The survivor takes the values chosen (`fields`), else keeps its own unless blank (then the first
merged record's that is not); it carries every record's tags. What the merged records hold —
activities, deals, account links, conversions' back-links, intake submissions, notifications,
child accounts — moves to the survivor through each owning domain's service. The merged records
are soft-deleted with `merged_into_id`, their own values untouched (read them with
`include_deleted=true`); both sides keep a history entry (`merged`, `merged_into`).
"""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.accounts import service as accounts_service
from app.accounts.schemas import AccountUpdate
from app.activities import service as activities_service
from app.activities.schemas import RelatedType
from app.contacts import account_links
from app.contacts import service as contacts_service
from app.contacts.schemas import ContactUpdate
from app.core import records
from app.core.context import Ctx
from app.core.errors import Unprocessable
from app.core.models import RecordMixin, utcnow
from app.core.records import DuplicatePolicy, RecordAlreadyMerged, Resource
from app.core.schemas import InputModel
from app.deals import service as deals_service
from app.intake import service as intake_service
from app.leads import service as leads_service
from app.leads.schemas import LeadUpdate
from app.merging.schemas import MergeRecords
from app.notifications import service as notifications_service

Moves = Callable[[Ctx, list[uuid.UUID], uuid.UUID], Awaitable[None]]
_CUSTOM = "custom_fields."
_MAX_TAGS = 50  # as `Tags` allows a record


@dataclass(frozen=True)
class _Kind:
    """What merging one kind of record means: its declaration, the fields a merge chooses
    (its update schema's, but tags and custom fields, merged on their own), and what moves."""

    resource: Resource[Any, Any]
    update: type[InputModel]
    moves: Moves

    @property
    def fields(self) -> list[str]:
        return [f for f in self.update.model_fields if f not in ("tags", "custom_fields")]


async def _move_lead_rows(ctx: Ctx, from_ids: list[uuid.UUID], to_id: uuid.UUID) -> None:
    await activities_service.move_activities(ctx, RelatedType.lead, from_ids, to_id)
    await deals_service.move_deals(ctx, "source_lead_id", from_ids, to_id)
    await intake_service.move_submissions(ctx, "lead", from_ids, to_id)
    await notifications_service.move_lead_notifications(ctx, from_ids, to_id)


async def _move_contact_rows(ctx: Ctx, from_ids: list[uuid.UUID], to_id: uuid.UUID) -> None:
    await account_links.move_account_links(ctx, from_ids, to_id)
    await activities_service.move_activities(ctx, RelatedType.contact, from_ids, to_id)
    await deals_service.move_deals(ctx, "contact_id", from_ids, to_id)
    await leads_service.move_conversion_links(ctx, "contact", from_ids, to_id)
    await intake_service.move_submissions(ctx, "contact", from_ids, to_id)


async def _move_account_rows(ctx: Ctx, from_ids: list[uuid.UUID], to_id: uuid.UUID) -> None:
    await account_links.move_contact_links(ctx, from_ids, to_id)
    await activities_service.move_activities(ctx, RelatedType.account, from_ids, to_id)
    await deals_service.move_deals(ctx, "account_id", from_ids, to_id)
    await leads_service.move_conversion_links(ctx, "account", from_ids, to_id)
    keep = [to_id, *from_ids]  # their own parents are the merge's to set
    await accounts_service.move_children(ctx, from_ids, to_id, keep=keep)


LEADS = _Kind(leads_service.LEADS, LeadUpdate, _move_lead_rows)
CONTACTS = _Kind(contacts_service.CONTACTS, ContactUpdate, _move_contact_rows)
ACCOUNTS = _Kind(accounts_service.ACCOUNTS, AccountUpdate, _move_account_rows)


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable([{"field": field, "message": message}])


def _check_request(kind: _Kind, data: MergeRecords) -> None:
    """The 422s a merge's body can earn before any record is read."""
    if data.survivor_id in data.merged_ids:
        raise _invalid("merged_ids", "the survivor can't be merged into itself")
    if len(set(data.merged_ids)) != len(data.merged_ids):
        raise _invalid("merged_ids", "a record is named twice")
    among = {data.survivor_id, *data.merged_ids}
    fields = kind.fields
    for name, record_id in data.fields.items():
        if not (name in fields or (name.startswith(_CUSTOM) and len(name) > len(_CUSTOM))):
            raise _invalid(f"fields.{name}", f"not a field a {kind.resource.name} merge chooses")
        if record_id not in among:
            raise _invalid(f"fields.{name}", "not one of the records merged")


async def _locked(ctx: Ctx, kind: _Kind, data: MergeRecords) -> dict[uuid.UUID, Any]:
    """Every record of the merge, row-locked in id order (two merges over the same records
    queue, never deadlock): one the actor can't see, of another workspace or deleted is a
    404; one merged already (by a merge that won the race, say) a 409."""
    found: dict[uuid.UUID, Any] = {}
    for record_id in sorted({data.survivor_id, *data.merged_ids}):
        record = await records.get(
            ctx, kind.resource, record_id, include_deleted=True, for_update=True
        )
        if record.merged_into_id is not None:
            raise RecordAlreadyMerged(f"{record.id} was merged into {record.merged_into_id}")
        if record.deleted_at is not None:
            raise kind.resource.not_found()
        found[record_id] = record
    return found


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _merged_values(
    kind: _Kind, survivor: Any, merged: Sequence[Any], chosen: dict[str, uuid.UUID]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The survivor's new values and, per field, the record each came from."""
    by_id = {record.id: record for record in (survivor, *merged)}
    values: dict[str, Any] = {}
    sources: dict[str, Any] = {}

    def take(name: str, value: Any, source: Any) -> None:
        values[name] = value
        if source is not survivor:
            sources[name] = source.id

    for name in kind.fields:
        if name in chosen:
            source = by_id[chosen[name]]
            take(name, getattr(source, name), source)
        elif _blank(getattr(survivor, name)):
            source = next((r for r in merged if not _blank(getattr(r, name))), survivor)
            take(name, getattr(source, name), source)
    tags = list(survivor.tags)
    for record in merged:
        tags.extend(tag for tag in record.tags if tag not in tags)
    if len(tags) > _MAX_TAGS:
        raise _invalid("tags", f"merged, the record would carry {len(tags)} tags; at most 50")
    values["tags"] = tags
    custom: dict[str, Any] = {}
    custom_sources: dict[str, Any] = {}
    keys = dict.fromkeys(k for r in (survivor, *merged) for k in r.custom_fields)
    for key in keys:
        if f"{_CUSTOM}{key}" in chosen:
            source = by_id[chosen[f"{_CUSTOM}{key}"]]
        elif _blank(survivor.custom_fields.get(key)):
            source = next((r for r in merged if not _blank(r.custom_fields.get(key))), survivor)
        else:
            continue
        if source is not survivor:
            custom[key] = source.custom_fields.get(key)  # None removes the key
            custom_sources[key] = source.id
    if custom:
        values["custom_fields"] = custom
        sources["custom_fields"] = custom_sources
    return values, sources


def _account_parent(survivor: Any, locked: dict[uuid.UUID, Any], parent_id: Any) -> Any:
    """A parent among the merge is gone once merged: the survivor takes that one's parent
    instead (climbing past every merged one); the survivor itself means no parent."""
    seen: set[uuid.UUID] = set()
    while parent_id in locked and parent_id not in seen:
        seen.add(parent_id)
        parent_id = None if parent_id == survivor.id else locked[parent_id].parent_id
    return None if parent_id in locked else parent_id


async def merge(ctx: Ctx, kind: _Kind, data: MergeRecords) -> RecordMixin:
    """Merge `data.merged_ids` into `data.survivor_id`, all or nothing; the survivor. A
    converted lead is read-only (409 `lead_converted`): merge the contacts it became."""
    _check_request(kind, data)
    locked = await _locked(ctx, kind, data)
    if kind is LEADS and any(lead.converted_at is not None for lead in locked.values()):
        raise leads_service.LeadConverted(
            "A converted lead lives on as its contact, account and deal: merge those instead"
        )
    survivor = locked[data.survivor_id]
    merged = [locked[record_id] for record_id in data.merged_ids]
    values, sources = _merged_values(kind, survivor, merged, data.fields)
    if kind is ACCOUNTS:
        values["parent_id"] = _account_parent(
            survivor, locked, values.get("parent_id", survivor.parent_id)
        )
    await kind.moves(ctx, data.merged_ids, survivor.id)
    # Deleted first: the survivor's new values then meet the duplicate rules without the
    # records merging into it (a `block` rule still refuses a third record's twin).
    now = utcnow()
    for record in merged:
        gone = {"deleted_at": now, "merged_into_id": survivor.id}
        await records.update_record(ctx, kind.resource, record, gone, action="merged_into")
    merged_ids = [str(record_id) for record_id in data.merged_ids]
    await records.apply_patch(
        ctx,
        kind.resource,
        survivor,
        values,
        duplicates=DuplicatePolicy.allowed,
        action="merged",
        sources=sources,
        extra={"merged": {"old": None, "new": merged_ids}},
    )
    if kind is ACCOUNTS:
        await accounts_service.check_hierarchy(ctx, survivor)
    return survivor  # type: ignore[no-any-return]
