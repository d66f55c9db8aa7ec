"""One row of an import file made into a record, or not: validated by the resource's create
schema, matched against the workspace's duplicate rules, then created, used to update the
record it duplicates, or skipped, as the import's dedupe policy says. Everything is written
through the resource's own service, as the member who asked for the import."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from app.accounts import service as accounts_service
from app.accounts.schemas import AccountCreate, AccountUpdate
from app.contacts import service as contacts_service
from app.contacts.schemas import ContactCreate, ContactUpdate
from app.core.context import Ctx
from app.core.errors import SenError
from app.core.records import DuplicatePolicy
from app.duplicates import matching
from app.duplicates import service as duplicates_service
from app.duplicates.schemas import DuplicateResource
from app.imports.columns import ColumnMapping
from app.imports.reading import CellValue
from app.imports.schemas import DedupePolicy
from app.imports.values import record_from_row
from app.leads import service as leads_service
from app.leads.schemas import LeadCreate, LeadSource, LeadUpdate

Outcome = Literal["created", "updated", "skipped", "failed"]


@dataclass(frozen=True)
class _Kind:
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    create: Callable[..., Awaitable[Any]]
    update: Callable[..., Awaitable[Any]]
    duplicates: DuplicateResource


KINDS = {
    "lead": _Kind(
        LeadCreate,
        LeadUpdate,
        leads_service.create_lead,
        leads_service.update_lead,
        DuplicateResource.lead,
    ),
    "contact": _Kind(
        ContactCreate,
        ContactUpdate,
        contacts_service.create_contact,
        contacts_service.update_contact,
        DuplicateResource.contact,
    ),
    "account": _Kind(
        AccountCreate,
        AccountUpdate,
        accounts_service.create_account,
        accounts_service.update_account,
        DuplicateResource.account,
    ),
}


class RowFailed(Exception):
    """The row is not saved; the message says why, naming the column where one is at fault."""


def _field_errors(error: ValidationError, columns: dict[str, str]) -> str:
    said = []
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else "row"
        name = f"{columns[field]} ({field})" if field in columns else field
        said.append(f"{name}: {e['msg']}")
    return "; ".join(said)


def validated(mapping: ColumnMapping, cells: dict[str, CellValue]) -> tuple[BaseModel, set[str]]:
    """The row as the resource's create schema takes it, and the fields the file gave (an
    update sets only those). A lead the file gives no source comes from `import`."""
    kind = KINDS[mapping.resource]
    record = record_from_row(mapping, cells)
    given = set(record)
    if mapping.resource == "lead" and "source" not in record:
        record["source"] = LeadSource.import_.value
    columns = {field: header for header, field in mapping.fields.items()}
    try:
        return kind.create_schema.model_validate(record), given
    except ValidationError as error:
        raise RowFailed(_field_errors(error, columns)) from None


def _reason(error: SenError) -> str:
    return error.detail if error.detail != error.title else f"{error.title} ({error.code})"


async def import_row(
    ctx: Ctx,
    mapping: ColumnMapping,
    data: BaseModel,
    given: set[str],
    policy: DedupePolicy,
    *,
    threshold_set: bool = False,
) -> Outcome:
    """Save one row as `policy` says: `skip` leaves a row any rule matches; `update` writes
    the row's non-blank values over the strongest match of the same resource (a match of
    another resource is skipped); `create` saves past `warn` rules. A `block` rule, a failed
    validation (see `validated`) or any rule of the resource's service makes the row fail
    (RowFailed)."""
    kind = KINDS[mapping.resource]
    try:
        if policy is DedupePolicy.create:
            await kind.create(ctx, data, duplicates=DuplicatePolicy.allowed)
            return "created"
        values = data.model_dump()
        probe = matching.comparable(
            values.get, organisation=kind.duplicates is DuplicateResource.account
        )
        # Two imports (or an import and a form) with one person must not both find nothing.
        await duplicates_service.one_identity_at_a_time(ctx, probe)
        found = await duplicates_service.find_duplicates(
            ctx, kind.duplicates, probe, threshold_set=threshold_set
        )
        if not found:
            await kind.create(ctx, data, duplicates=DuplicatePolicy.checked)
            return "created"
        strongest = found[0]
        if policy is DedupePolicy.skip or strongest.resource is not kind.duplicates:
            return "skipped"
        # A patch writes before it checks the rules against the result: a refusal must take
        # the write back with it, whatever the batch does.
        async with ctx.session.begin_nested():
            await _update(ctx, kind, strongest.id, data, given)
        return "updated"
    except SenError as error:
        raise RowFailed(_reason(error)) from None


async def _update(
    ctx: Ctx, kind: _Kind, record_id: uuid.UUID, data: BaseModel, given: set[str]
) -> None:
    changes = kind.update_schema.model_validate(data.model_dump(include=given, mode="json"))
    await kind.update(ctx, record_id, changes, if_match=None, duplicates=DuplicatePolicy.allowed)
