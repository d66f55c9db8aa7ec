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
from app.accounts.models import Account
from app.accounts.schemas import AccountCreate, AccountUpdate
from app.contacts import service as contacts_service
from app.contacts.models import Contact
from app.contacts.schemas import ContactCreate, ContactUpdate
from app.core import records
from app.core.context import Ctx
from app.core.errors import SenError
from app.core.records import DuplicatePolicy, Resource
from app.duplicates import batch as duplicates_batch
from app.duplicates import candidates, matching
from app.duplicates import service as duplicates_service
from app.duplicates.schemas import DuplicateResource
from app.imports.columns import ColumnMapping
from app.imports.reading import CellValue
from app.imports.schemas import DedupePolicy
from app.imports.values import record_from_row
from app.leads import service as leads_service
from app.leads.models import Lead
from app.leads.schemas import LeadCreate, LeadSource, LeadUpdate

Outcome = Literal["created", "updated", "skipped", "failed"]


@dataclass(frozen=True)
class _Kind:
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    create: Callable[..., Awaitable[Any]]
    update: Callable[..., Awaitable[Any]]
    duplicates: DuplicateResource
    # For a batch created at once (`import_new_rows`): the resource, and the domain's rules
    # `create` applies before the resource layer's. None: its rows go one at a time.
    resource: Resource[Any, Any] | None = None
    values: Callable[[Ctx, Any], Awaitable[dict[str, Any]]] | None = None


KINDS = {
    "lead": _Kind(
        LeadCreate,
        LeadUpdate,
        leads_service.create_lead,
        leads_service.update_lead,
        DuplicateResource.lead,
        leads_service.LEADS,
        leads_service.lead_values,
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
        accounts_service.ACCOUNTS,
        accounts_service.account_values,
    ),
}


# The table each resource's import fills.
TABLES = {
    "lead": Lead.__tablename__,
    "contact": Contact.__tablename__,
    "account": Account.__tablename__,
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


def in_batches(mapping: ColumnMapping, policy: DedupePolicy) -> bool:
    """Whether `import_new_rows` can save this import's rows a batch at once: new records
    (`skip`, `create`) of a resource whose creation has no rows in other tables. An `update`
    writes over records later rows may match, and goes one row at a time."""
    return policy is not DedupePolicy.update and KINDS[mapping.resource].values is not None


async def import_new_rows(
    ctx: Ctx, mapping: ColumnMapping, rows: list[BaseModel], policy: DedupePolicy
) -> list[Outcome | RowFailed]:
    """`import_row` for a batch of validated rows at once (see `in_batches`), each row's
    outcome as `import_row` would give it with the rows before it saved: the duplicate rules
    checked for the whole batch in a few statements (app/duplicates/batch.py), the new
    records created together (`records.create_many`). The caller set the trigram threshold
    for the transaction."""
    kind = KINDS[mapping.resource]
    assert kind.resource is not None
    assert kind.values is not None
    organisation = kind.duplicates is DuplicateResource.account
    probes = [
        matching.comparable(data.model_dump().get, organisation=organisation) for data in rows
    ]
    batch = await duplicates_batch.batch_of(ctx, kind.duplicates, probes)
    outcomes: list[Outcome | RowFailed] = []
    new: list[records.Prepared] = []
    for n, data in enumerate(rows):
        try:
            if policy is DedupePolicy.skip and batch.duplicates(n):
                outcomes.append("skipped")
                continue
            prepared = await records.prepare(ctx, kind.resource, await kind.values(ctx, data))
            if policy is DedupePolicy.create:  # saved past `warn` rules, as `import_row` does
                refusal = duplicates_service.refusal_for(batch.duplicates(n), allow_duplicates=True)
                if refusal is not None:
                    raise refusal
        except SenError as error:
            outcomes.append(RowFailed(_reason(error)))
            continue
        values = prepared.values
        batch.accept(
            n, kind.duplicates, values["id"], candidates.as_stored(kind.duplicates, values)
        )
        new.append(prepared)
        outcomes.append("created")
    await records.create_many(ctx, kind.resource, new)
    return outcomes
