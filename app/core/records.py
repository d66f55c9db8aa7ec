"""The resource layer: what every kind of CRM record (lead, account, contact, deal, activity,
and each one the next steps add) does the same way, written once.

A domain declares its records with one `Resource` (docs/decisions/0005-resource-layer.md) and
keeps only its own rules; these operations take the declaration: `get`, `list_page`, `create`
(`prepare` + `create_many` for many at once), `patch`, `soft_delete`, `restore`, `history`,
`read`/`read_with_etag`. Every statement they build names the workspace (`workspace_id = :ws`,
row locks included); RLS is the wall behind it.
"""

import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
from fastapi import Response
from pydantic import BaseModel
from sqlalchemy import Column, ColumnElement, Table, bindparam, insert, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.core import match_keys, sql
from app.core.concurrency import check_if_match, set_etag
from app.core.context import Actor, Ctx
from app.core.errors import Conflict, NotFound, SenError, Unprocessable
from app.core.events import Event, event_values
from app.core.history import (
    Changes,
    History,
    HistoryQuery,
    RecordChange,
    Redact,
    apply_changes,
    history_of,
    jsonable,
    kept,
    record_change,
    record_creations,
)
from app.core.ids import new_id
from app.core.models import RecordMixin, table_of, utcnow
from app.core.pagination import (
    CREATED_FILTERS,
    FilterOn,
    Filters,
    ListQuery,
    Rows,
    apply_filters,
    columns_of,
    paginate,
    sorts_of,
)
from app.core.phones import to_e164
from app.core.search import search_text
from app.core.sql import AnySelect
from app.core.workspace_settings import settings_changed

T = TypeVar("T")
M = TypeVar("M", bound=RecordMixin)
R = TypeVar("R", bound=BaseModel)


class OwnerCheck(Protocol):
    """Refuses an owner the actor may not give a record to (the users domain's rule)."""

    async def __call__(self, ctx: Ctx, owner_id: uuid.UUID | None, /) -> None: ...


class CustomFieldsCheck(Protocol):
    """Validates custom field values sent for `resource` and merges them into `existing`
    (the custom_fields domain's rule)."""

    async def __call__(
        self,
        ctx: Ctx,
        resource: str,
        values: dict[str, Any],
        /,
        *,
        existing: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...


class DuplicatePolicy(StrEnum):
    """How a write meets the workspace's duplicate rules."""

    ask = "ask"  # a `warn` match is a 409 the user answers (the default)
    allowed = "allowed"  # the user chose "save anyway": only `block` rules refuse
    checked = "checked"  # the caller matched it already (intake; a conversion's preview)


class DuplicateCheck(Protocol):
    """Refuses a record the workspace's duplicate rules flag (the duplicates domain's rule):
    `read` gives the record's fields as they will be saved, `record_id` is None for a new one,
    `changed` names the fields this write sets, and `allow_duplicates` is the user's "save
    anyway" on a warning."""

    async def __call__(
        self,
        ctx: Ctx,
        resource: str,
        read: Callable[[str], Any],
        /,
        *,
        record_id: uuid.UUID | None,
        changed: Collection[str],
        allow_duplicates: bool,
    ) -> None: ...


@dataclass(frozen=True, eq=False)
class Resource(Generic[M, R]):
    """One kind of record, declared once in its domain package.

    `query`'s `sort` (a `Sortable`) names the sortable columns; `filters` map its other
    parameters to conditions (a `created_after`/`created_before` pair comes with every record).
    `searched` columns are folded into `search_text` for `q=`. A table with `owner_id` is
    owned: sales staff see only their team's records, and `owner_check` vets each new owner.
    `present` shapes a record for reading when its read model holds more than its columns.
    `redact` hides what a field holds of secrets in the record's history. `duplicates` vets
    every create and every change of a field its rules compare."""

    model: type[M]
    name: str  # the history's and custom fields' name for it: "lead"
    read: type[R]
    query: type[ListQuery]
    not_found: type[NotFound]
    filters: Filters = field(default_factory=dict)
    searched: tuple[str, ...] = ()
    history: tuple[str, ...] = ()  # the fields its `created` history entry keeps
    owner_check: OwnerCheck | None = None
    custom_fields: CustomFieldsCheck | None = None
    present: Callable[[Ctx, M], Awaitable[R]] | None = None
    redact: Redact | None = None
    duplicates: DuplicateCheck | None = None
    # Part of the workspace's settings, which processes cache (app/core/workspace_settings.py):
    # every write of one retires the cached copies, in its own transaction.
    settings: bool = False

    def __post_init__(self) -> None:
        if self.owned and self.owner_check is None:
            raise TypeError(f"{self.name}: an owned resource needs an owner_check")
        sorts_of(self.table, self.query)  # a sort that is no column fails at import, not later

    @cached_property
    def table(self) -> Table:
        return table_of(self.model)

    @cached_property
    def owned(self) -> bool:
        return "owner_id" in self.table.c

    @cached_property
    def listed(self) -> list[Column[Any]]:
        """The columns a list page selects: the read model's, in its order."""
        return columns_of(self.table, self.read)

    @cached_property
    def sorts(self) -> dict[str, Column[Any]]:
        return sorts_of(self.table, self.query)

    @cached_property
    def all_filters(self) -> Filters:
        return {**CREATED_FILTERS, **self.filters}

    @cached_property
    def plain_insert_statement(self) -> Any:
        """The record's INSERT alone, every column a bound parameter (`create_many`'s)."""
        return insert(self.table).values(
            {c.name: bindparam(c.name, type_=c.type) for c in self.table.c}
        )

    @cached_property
    def insert_statement(self) -> Any:
        return _insert_with_history(self.table)

    def insert_statement_with(self, tables: tuple[Table, ...]) -> Any:
        """The INSERT with its history row and one row of each of `tables` (built once)."""
        if not tables:
            return self.insert_statement
        key = ("insert", tables)
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = _insert_with_history(self.table, tables)
        return found

    def update_statement(self, columns: tuple[str, ...]) -> Any:
        """The UPDATE of `columns` with its history row (built once per set of columns)."""
        key = ("update", columns)
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = _update_with_history(self.table, columns)
        return found

    @cached_property
    def _statements(self) -> dict[tuple[str, tuple[Any, ...]], Any]:
        return {}


class RecordAlreadyMerged(Conflict):
    """The record was merged into another (its `merged_into_id`): it lives on there, and can
    be neither merged again nor restored."""

    code, title = "record_already_merged", "This record was merged into another"


@dataclass
class Patched(Generic[M]):
    """A record after a patch, and what changed (field -> old/new), for the caller's rules."""

    record: M
    changes: Changes


def restrict_to_visible(stmt: AnySelect, table: Table, actor: Actor) -> AnySelect:
    """`stmt` narrowed to the rows of `table` the actor may see."""
    condition = actor.sees_rows_of(table)
    return stmt if condition is None else stmt.where(condition)


async def find_visible(
    ctx: Ctx,
    model: type[T],
    record_id: uuid.UUID,
    *,
    include_deleted: bool = False,
    for_update: bool = False,
    any_owner: bool = False,
) -> T | None:
    """The row of any tenant model by id if it is in this workspace, live (or
    `include_deleted`) and the actor may see it (or `any_owner`); else None."""
    # A row `lock_many` locked is this transaction's as it holds it: read again, it would only
    # lose the changes not yet flushed.
    lock = for_update and (model, record_id) not in ctx.state.locked_rows
    obj = await ctx.session.get(
        model,
        (ctx.workspace_id, record_id),
        with_for_update=lock or None,
        populate_existing=lock,  # under a lock, the row as it is now
    )
    if (
        obj is None
        or (not include_deleted and getattr(obj, "deleted_at", None) is not None)
        or (
            not any_owner and hasattr(obj, "owner_id") and not ctx.actor.can_see_owner(obj.owner_id)
        )
    ):
        return None
    return obj


async def lock_many(ctx: Ctx, resource: Resource[M, R], record_ids: Collection[uuid.UUID]) -> None:
    """Lock and read these records in one statement, in id order (a job about to change many:
    two such jobs lock in the same order); `get(..., for_update=True)` of one of them then costs
    no query. Not inside a savepoint: its rollback would release the locks."""
    model = resource.model
    found = await ctx.session.scalars(
        select(model)
        .where(model.workspace_id == ctx.workspace_id, model.id.in_(record_ids))
        .order_by(model.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    ctx.state.locked_rows.update((model, obj.id) for obj in found)


async def get(
    ctx: Ctx,
    resource: Resource[M, R],
    record_id: uuid.UUID,
    *,
    include_deleted: bool = False,
    for_update: bool = False,
    any_owner: bool = False,
) -> M:
    """The record if it is in this workspace and the actor may see it; else `not_found`.
    `for_update` locks the row (writers queue, each checks If-Match against the version it
    changes); a record this transaction made or read costs no query. `any_owner` skips the
    visibility rule, for a domain rule that reaches past it (a won deal's account)."""
    obj = await find_visible(
        ctx,
        resource.model,
        record_id,
        include_deleted=include_deleted,
        for_update=for_update,
        any_owner=any_owner,
    )
    if obj is None:
        raise resource.not_found()
    _in_use(ctx, resource, obj)
    return obj


async def referenced(ctx: Ctx, resource: Resource[M, R], record_id: uuid.UUID, *, field: str) -> M:
    """The live record a request's body points at (`account_id`, `contact.id`). One the actor
    cannot see, or none, is a 422 naming the field, never the record's 404: the URL exists."""
    try:
        return await get(ctx, resource, record_id)
    except NotFound:
        article = "an" if resource.name[0] in "aeiou" else "a"
        message = f"not {article} {resource.name} you can see"
        raise Unprocessable([{"field": field, "message": message}]) from None


def _in_use(ctx: Ctx, resource: Resource[M, R], obj: M) -> None:
    """Note that this transaction read or made the record (app/core/idempotency.py asks)."""
    ctx.state.records_in_use.add((resource.model, obj.id))


def rows_made_with(ctx: Ctx, resource: Resource[M, R], obj: M, table: Table) -> list[Any] | None:
    """The rows of `table` the record was inserted with in this transaction (`insert_record`'s
    `with_rows`, as given), or None if it was not made here or they were forgotten since."""
    made = ctx.state.made_with.get((resource.model, obj.id))
    return None if made is None else made.get(table.name, [])


def forget_rows_made_with(ctx: Ctx, resource: Resource[M, R], obj: M) -> None:
    """The record's rows in other tables are about to change: read them back from now on."""
    ctx.state.made_with.pop((resource.model, obj.id), None)


def records_in_use(ctx: Ctx) -> set[tuple[type[Any], uuid.UUID]]:
    """The (model, id) of every record this transaction read or made through this layer."""
    return set(ctx.state.records_in_use)


async def list_page(
    ctx: Ctx,
    resource: Resource[M, R],
    query: ListQuery,
    *,
    where: Iterable[ColumnElement[bool]] = (),
) -> Rows[Any]:
    """A page of the records the actor can see, filtered, searched, sorted, by cursor."""
    stmt = restrict_to_visible(select(*resource.listed), resource.table, ctx.actor).where(*where)
    stmt = apply_filters(
        stmt, query, resource.all_filters, FilterOn(resource.table.c, ctx.workspace_id)
    )
    search_column = resource.table.c.search_text if resource.searched else None
    return await paginate(
        ctx, stmt, query, table=resource.table, sorts=resource.sorts, search_column=search_column
    )


async def any_matching(
    ctx: Ctx, resource: Resource[M, R], conditions: list[ColumnElement[bool]], *, limit: int
) -> list[asyncpg.Record]:
    """Live records the actor can see that meet any of `conditions`, newest first, as list
    rows (the read model's columns): look-alikes to offer instead of a new record."""
    if not conditions:
        return []
    table = resource.table
    stmt = (
        select(*resource.listed)
        .where(table.c.workspace_id == ctx.workspace_id, table.c.deleted_at.is_(None))
        .where(or_(*conditions))
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(limit)
    )
    return await fetch(ctx, restrict_to_visible(stmt, table, ctx.actor))


async def fetch(ctx: Ctx, stmt: Any, params: dict[str, Any] | None = None) -> list[asyncpg.Record]:
    """Rows of a read-only select on the resource layer's fast path (app/core/sql.py), in the
    request's transaction: for a domain's lists beside a page (a contact's account links).
    `params` bind a statement built once with `bindparam`s (a hot path's)."""
    return await sql.fetch(ctx, stmt, params)


def _derived(resource: Resource[M, R], read: Callable[[str], Any]) -> dict[str, Any]:
    """The columns a record derives from its own fields: `phone_e164` from `phone` as typed,
    the duplicate rules' keys, and `search_text`, the folded `searched` fields."""
    derived: dict[str, Any] = {}
    columns = resource.table.c
    if "phone_e164" in columns:
        derived["phone_e164"] = to_e164(read("phone"))
    if "email_key" in columns:
        derived["email_key"] = match_keys.email_key(read("email"))
    if "name_key" in columns:  # a person's full name, or an organisation's name
        person = "full_name" in columns
        name = read("full_name") if person else read("name")
        derived["name_key"] = (match_keys.name_key if person else match_keys.company_key)(name)
    if "company_key" in columns:
        derived["company_key"] = match_keys.company_key(read("company_name"))
    if "person_keys" in columns:
        derived["person_keys"] = match_keys.person_keys(derived["name_key"], derived["company_key"])
    if resource.searched:
        parts = (derived[n] if n in derived else read(n) for n in resource.searched)
        derived["search_text"] = search_text(*parts)
    return derived


@dataclass(frozen=True)
class Prepared:
    """A new record's values as `prepare` made them: owner vetted, custom fields validated,
    derived columns filled. `create_many` takes only these."""

    values: dict[str, Any]


async def prepare(ctx: Ctx, resource: Resource[M, R], values: dict[str, Any]) -> Prepared:
    """What `create` does to a new record's values before the duplicate rules and the INSERT:
    its id is chosen, its owner defaults to the actor and is vetted, custom fields are
    validated, derived columns (match keys, `search_text`) filled. Refuses as `create` does
    (SenError)."""
    values = dict(values)
    values["id"] = values.get("id") or new_id()
    if resource.owned:
        values["owner_id"] = values.get("owner_id") or ctx.actor.user_id
        await resource.owner_check(ctx, values["owner_id"])  # type: ignore[misc]
    if resource.custom_fields is not None:
        sent = values.get("custom_fields") or {}
        values["custom_fields"] = await resource.custom_fields(ctx, resource.name, sent)
    values.update(_derived(resource, values.get))
    return Prepared(values)


async def create_many(ctx: Ctx, resource: Resource[M, R], items: Sequence[Prepared]) -> list[M]:
    """Many new records at once (an import's batch), each as `create` makes one: `items` went
    through `prepare`, and the caller applied the duplicate rules to them (as
    `DuplicatePolicy.checked` says) — a batch must also match its records against each other,
    which only the caller can (app/duplicates/batch.py). The records go in by one pipelined
    INSERT, their `created` history entries by another (`history.record_creations`); each
    enters the session's identity map as `insert_record`'s does."""
    if not items:
        return []
    rows = [_with_column_defaults(ctx, resource.table, item.values) for item in items]
    await sql.execute_many(ctx, resource.plain_insert_statement, rows)
    await record_creations(ctx, resource.name, rows, resource.history, redact=resource.redact)
    await _settings_written(ctx, resource)
    made = []
    new_instance = inspect(resource.model).class_manager.new_instance
    for values in rows:
        # Built as a load builds an object (its values straight into its state), not through
        # the constructor's attribute events: a tenth of a batch's CPU for nothing to flush.
        obj = new_instance()
        obj.__dict__.update(values)
        make_transient_to_detached(obj)
        ctx.session.add(obj)
        _in_use(ctx, resource, obj)
        ctx.state.made_with[(resource.model, obj.id)] = {}
        made.append(obj)
    return made


async def create(
    ctx: Ctx,
    resource: Resource[M, R],
    values: dict[str, Any],
    *,
    with_rows: Sequence[tuple[Table, dict[str, Any]]] = (),
    duplicates: DuplicatePolicy = DuplicatePolicy.ask,
) -> M:
    """A new record from `values` (the domain's rules already applied): its owner defaults to
    the actor and is vetted, custom fields are validated, derived columns filled, duplicate
    rules applied; stored with its `created` history entry (and `with_rows`: see
    `insert_record`)."""
    values = (await prepare(ctx, resource, values)).values
    if resource.duplicates is not None and duplicates is not DuplicatePolicy.checked:
        await resource.duplicates(
            ctx,
            resource.name,
            values.get,
            record_id=None,
            changed=values.keys(),
            allow_duplicates=duplicates is DuplicatePolicy.allowed,
        )
    return await insert_record(ctx, resource, values, with_rows=with_rows)


def _inserted_row(table: Table, prefix: str, name: str) -> Any:
    """An INSERT of one row of `table`, every column a bound parameter named `prefix` + its
    name, as a data-modifying CTE."""
    values = {c.name: bindparam(f"{prefix}{c.name}", type_=c.type) for c in table.c}
    return insert(table).values(values).cte(name)


def _history_row() -> Any:
    return _inserted_row(table_of(RecordChange), "history_", "logged")


def _event_row() -> Any:
    return _inserted_row(table_of(Event), "event_", "emitted")


def _insert_with_history(table: Table, with_tables: tuple[Table, ...] = ()) -> Any:
    """The record's INSERT, a row of each of `with_tables` and its event row as data-modifying
    CTEs, its history row as the statement: one round trip, no unit of work. The record comes
    first: Citus runs a statement's CTEs one after another, in order, each checking its foreign
    keys as it goes (PostgreSQL checks them at the statement's end). Built once per shape with
    bound parameters only, so each call just binds values (building `.values(...)` per call
    costs a fifth of a create's CPU)."""
    history = table_of(RecordChange)
    stmt = (
        insert(history)
        .values({c.name: bindparam(f"history_{c.name}", type_=c.type) for c in history.c})
        .add_cte(_inserted_row(table, "", "made"))
    )
    for n, other in enumerate(with_tables):
        stmt = stmt.add_cte(_inserted_row(other, f"with{n}_", f"with{n}"))
    return stmt.add_cte(_event_row())


def _update_with_history(table: Table, columns: tuple[str, ...]) -> Any:
    """The record's UPDATE of `columns` by primary key and version (as the unit of work's is),
    with its history row as a data-modifying CTE; it returns the row it changed."""
    return (
        update(table)
        .where(
            table.c.workspace_id == bindparam("key_workspace_id"),
            table.c.id == bindparam("key_id"),
            table.c.version == bindparam("key_version"),
        )
        .values({name: bindparam(f"set_{name}", type_=table.c[name].type) for name in columns})
        .returning(table.c.id)
        .add_cte(_history_row())
        .add_cte(_event_row())
    )


def _history_params(
    ctx: Ctx, resource: Resource[M, R], record_id: uuid.UUID, action: str, changes: Changes
) -> dict[str, Any]:
    event = event_values(ctx, f"{resource.name}.{action}", resource.name, record_id, changes)
    return {
        **{f"event_{name}": value for name, value in event.items()},
        "history_workspace_id": ctx.workspace_id,
        "history_id": new_id(),
        "history_resource": resource.name,
        "history_record_id": record_id,
        "history_action": action,
        "history_actor_id": ctx.actor.user_id,
        "history_at": utcnow(),
        "history_changes": changes,
    }


def _with_column_defaults(ctx: Ctx, table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """Every column bound: the value given, else the column's Python default, else None; the
    record is the context's workspace's, created and updated at the same instant."""
    now = utcnow()
    complete = {"workspace_id": ctx.workspace_id, "created_at": now, "updated_at": now, **values}
    for column in table.c:
        if column.name in complete:
            continue
        default: Any = column.default
        if default is None:
            complete[column.name] = None
        else:
            complete[column.name] = default.arg(None) if default.is_callable else default.arg
    return complete


async def insert_record(
    ctx: Ctx,
    resource: Resource[M, R],
    values: dict[str, Any],
    *,
    with_rows: Sequence[tuple[Table, dict[str, Any]]] = (),
) -> M:
    """INSERT the record and its history row in one statement, then put it into the session's
    identity map as loaded (no SQL sent): `get` finds it, a change to it is an UPDATE.
    `with_rows` are rows of the domain's other tables that come with the record (a contact's
    account link, a deal's first stage move), INSERTed by the same statement; they may refer
    to the record (foreign keys are checked at the statement's end) and are not loaded."""
    values = _with_column_defaults(ctx, resource.table, values)
    changes = {f: kept(f, None, values.get(f), resource.redact) for f in resource.history}
    params = {**values, **_history_params(ctx, resource, values["id"], "created", changes)}
    for n, (table, row) in enumerate(with_rows):
        row = _with_column_defaults(ctx, table, row)
        params.update({f"with{n}_{c.name}": row[c.name] for c in table.c})
    tables = tuple(table for table, _ in with_rows)
    await sql.execute(ctx, resource.insert_statement_with(tables), params)
    obj = resource.model(**values)
    make_transient_to_detached(obj)
    ctx.session.add(obj)
    _in_use(ctx, resource, obj)
    made_with: dict[str, list[dict[str, Any]]] = {}
    for table, row in with_rows:
        made_with.setdefault(table.name, []).append(row)
    ctx.state.made_with[(resource.model, obj.id)] = made_with
    await _settings_written(ctx, resource)
    return obj


async def update_record(
    ctx: Ctx,
    resource: Resource[M, R],
    obj: M,
    values: dict[str, Any],
    *,
    action: str = "updated",
) -> Changes:
    """Set the fields of `values` that differ on a record this transaction holds, kept as one
    `action` history entry, in one statement: the UPDATE (by primary key and version, bumping
    it, as a flush would) with its history row as a CTE. The record then reads as updated with
    nothing left for the unit of work. A changed row or version is a `StaleDataError` (412)."""
    if inspect(obj).modified:
        await ctx.session.flush()  # changes made the ORM's way go first
    changes: Changes = {}
    for name, new in values.items():
        old = getattr(obj, name)
        if old != new:
            changes[name] = kept(name, old, new, resource.redact)
    if not changes:
        return changes
    changed = {name: values[name] for name in changes}
    changed.update(updated_at=utcnow(), version=obj.version + 1)
    params = {f"set_{name}": value for name, value in changed.items()}
    params.update(key_workspace_id=ctx.workspace_id, key_id=obj.id, key_version=obj.version)
    params.update(_history_params(ctx, resource, obj.id, action, changes))
    statement = resource.update_statement(tuple(sorted(changed)))
    updated = await sql.execute(ctx, statement, params)
    if len(updated) != 1:
        raise StaleDataError(f"{resource.name} {obj.id}: changed or gone since it was read")
    for name, value in changed.items():
        set_committed_value(obj, name, value)
    return changes


PatchRules = Callable[[M, dict[str, Any]], Awaitable[dict[str, Any]]]


async def patch(
    ctx: Ctx,
    resource: Resource[M, R],
    record_id: uuid.UUID,
    values: dict[str, Any],
    *,
    if_match: str | None,
    rules: PatchRules[M] | None = None,
    duplicates: DuplicatePolicy = DuplicatePolicy.ask,
) -> Patched[M]:
    """Change the fields in `values` (a PATCH's fields sent): row lock, If-Match (412), the
    domain's `rules` (which may refuse, or return the values to apply), then `apply_patch`."""
    obj = await get(ctx, resource, record_id, for_update=True)
    check_if_match(obj.version, if_match)
    if rules is not None:
        values = await rules(obj, values)
    changes = await apply_patch(ctx, resource, obj, values, duplicates=duplicates)
    return Patched(obj, changes)


async def apply_patch(
    ctx: Ctx,
    resource: Resource[M, R],
    obj: M,
    values: dict[str, Any],
    *,
    duplicates: DuplicatePolicy = DuplicatePolicy.ask,
    action: str = "updated",
    sources: dict[str, Any] | None = None,
    extra: Changes | None = None,
) -> Changes:
    """Apply `values` to a record this transaction holds: a new owner vetted, custom fields
    merged, the fields that differ set in one `action` history entry (with `sources` and
    `extra`: see `apply_changes`), derived columns refreshed, the duplicate rules applied to
    what changed."""
    owner = values.get("owner_id")
    if resource.owned and "owner_id" in values and owner != obj.owner_id:  # type: ignore[attr-defined]
        await resource.owner_check(ctx, owner)  # type: ignore[misc]
    if resource.custom_fields is not None and "custom_fields" in values:
        values = dict(values)
        values["custom_fields"] = await resource.custom_fields(
            ctx,
            resource.name,
            values["custom_fields"],
            existing=obj.custom_fields,  # type: ignore[attr-defined]
        )
    changes = apply_changes(
        ctx,
        resource.name,
        obj,
        values,
        action=action,
        redact=resource.redact,
        sources=sources,
        extra=extra,
    )
    if changes:
        for name, value in _derived(resource, lambda n: getattr(obj, n)).items():
            setattr(obj, name, value)
        await ctx.session.flush()
        await _settings_written(ctx, resource)
        if resource.duplicates is not None and duplicates is not DuplicatePolicy.checked:
            await resource.duplicates(
                ctx,
                resource.name,
                lambda n: getattr(obj, n, None),
                record_id=obj.id,
                changed=changes.keys(),
                allow_duplicates=duplicates is DuplicatePolicy.allowed,
            )
    return changes


async def soft_delete(
    ctx: Ctx, resource: Resource[M, R], record_id: uuid.UUID, *, if_match: str | None
) -> M:
    """Hidden from lists (see `include_deleted`), kept with its history, restorable."""
    obj = await get(ctx, resource, record_id, for_update=True)
    check_if_match(obj.version, if_match)
    obj.deleted_at = utcnow()
    obj.updated_at = obj.deleted_at
    change = {"deleted_at": {"old": None, "new": jsonable(obj.deleted_at)}}
    record_change(ctx, resource.name, obj.id, "deleted", change)
    await ctx.session.flush()
    await _settings_written(ctx, resource)
    return obj


async def _settings_written(ctx: Ctx, resource: Resource[M, R]) -> None:
    if resource.settings:
        await settings_changed(ctx)


async def restore(ctx: Ctx, resource: Resource[M, R], record_id: uuid.UUID) -> Patched[M]:
    """Brings a soft-deleted record back; restoring a live one changes nothing, a merged one
    is a 409 (`RecordAlreadyMerged`)."""
    obj = await get(ctx, resource, record_id, include_deleted=True, for_update=True)
    if obj.deleted_at is None:
        return Patched(obj, {})
    if getattr(obj, "merged_into_id", None) is not None:
        raise RecordAlreadyMerged(f"It lives on as {resource.name} {obj.merged_into_id}")  # type: ignore[attr-defined]
    change = {"deleted_at": {"old": jsonable(obj.deleted_at), "new": None}}
    obj.deleted_at = None
    obj.updated_at = utcnow()
    record_change(ctx, resource.name, obj.id, "restored", change)
    await ctx.session.flush()
    await _settings_written(ctx, resource)
    return Patched(obj, change)


async def history(
    ctx: Ctx, resource: Resource[M, R], record_id: uuid.UUID, query: HistoryQuery
) -> History:
    """A page of the record's changes, oldest first (deleted records have theirs too)."""
    obj = await get(ctx, resource, record_id, include_deleted=True)
    return await history_of(ctx, resource.name, obj.id, query)


async def read(ctx: Ctx, resource: Resource[M, R], obj: M) -> R:
    """The record as its read model shows it."""
    if resource.present is not None:
        return await resource.present(ctx, obj)
    return resource.read.model_validate(obj)


async def read_with_etag(ctx: Ctx, resource: Resource[M, R], obj: M, response: Response) -> R:
    """The record as it reads, its version sent as `ETag` for a later `If-Match`."""
    set_etag(response, obj.version)
    return await read(ctx, resource, obj)


async def read_rows(ctx: Ctx, stmt: AnySelect) -> list[Any]:
    """Run a read-only Core select in the request's transaction: plain rows, no ORM identity
    map. For look-ups on a hot path (a status, the custom field definitions)."""
    connection = await ctx.session.connection()
    return list((await connection.execute(stmt)).all())


async def flush_or_conflict(ctx: Ctx, conflict: SenError) -> None:
    """Flush now, in a savepoint: a unique-constraint violation (an expected race, e.g. two
    admins adding the same key) raises `conflict` and the request's transaction goes on."""
    try:
        async with ctx.session.begin_nested():
            await ctx.session.flush()
    except IntegrityError:
        raise conflict
