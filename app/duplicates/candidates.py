"""Where a record's possible duplicates come from: indexes only, never a scan, in one
statement. The same email, phone or tax code (every match); names close by trigrams; and for a
rule that also asks for a similar company, people at a similar company with a similar name:
leads by their person keys (a pair of name words at a company, `match_keys.person_keys`),
contacts by their accounts' names close by trigrams. Vietnamese names are made of few, common
words (a third of the country is a Nguyễn): a name's trigrams match thousands of rows, a pair
of its words at one company a few."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    column,
    func,
    literal,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app.accounts.models import Account
from app.contacts.models import AccountContact, Contact
from app.core import match_keys, records, sql
from app.core.context import Ctx
from app.core.models import table_of
from app.duplicates.matching import Comparable
from app.duplicates.schemas import Criterion, DuplicateResource, RuleField
from app.leads.models import Lead

# Trigram similarity a name must reach to be a candidate: loose enough for a typo ("Nguyễn
# Thị Hương" typed "Ngyuen Thi Huong": 0.62), two letters swapped (0.67) or a dropped middle
# name (0.73); the closest `PER_PART` of those are scored.
TRIGRAM_THRESHOLD = "0.55"
PER_PART = 50
KEYS_APART = ","  # a probe's person keys travel as one text (a batch's as one per probe)
_NAMES = {RuleField.full_name, RuleField.name}


@dataclass(frozen=True)
class Target:
    kind: DuplicateResource
    table: Table
    organisation: bool = False


_LEADS = Target(DuplicateResource.lead, table_of(Lead))
_CONTACTS = Target(DuplicateResource.contact, table_of(Contact))
_ACCOUNTS = Target(DuplicateResource.account, table_of(Account), organisation=True)
# Lead rules look at contacts too (a new lead who is already a contact), contact rules at leads.
TARGETS = {
    DuplicateResource.lead: (_LEADS, _CONTACTS),
    DuplicateResource.contact: (_CONTACTS, _LEADS),
    DuplicateResource.account: (_ACCOUNTS,),
}


@dataclass(frozen=True)
class Lookups:
    """What the rules that can hold for a probe need looked up (a rule with a field the probe
    leaves blank can't hold: nothing is looked up for it)."""

    email: bool = False
    phone: bool = False
    tax_code: bool = False
    name: bool = False  # by name alone: a rule on the name without a company
    company: bool = False  # by company, then the closest names there

    @property
    def by_trigrams(self) -> bool:
        return self.name or self.company


def lookups_for(rules: list[list[Criterion]], probe: Comparable) -> Lookups:
    holding = [
        {f for c in criteria for f in c.fields}
        for criteria in rules
        if all(probe.slot(f) for c in criteria for f in c.fields)
    ]
    fields = set().union(*holding)
    return Lookups(
        email=RuleField.email in fields,
        phone=RuleField.phone in fields,
        tax_code=RuleField.tax_code in fields,
        name=any(f & _NAMES and RuleField.company_name not in f for f in holding),
        company=any(RuleField.company_name in f for f in holding),
    )


def _primary_account_of(contacts: Table) -> tuple[Table, Table, Any]:
    links, accounts = table_of(AccountContact), table_of(Account)
    joined = contacts.join(
        links,
        and_(
            links.c.workspace_id == contacts.c.workspace_id,
            links.c.contact_id == contacts.c.id,
            links.c.is_primary,
        ),
    ).join(
        accounts,
        and_(
            accounts.c.workspace_id == links.c.workspace_id,
            accounts.c.id == links.c.account_id,
        ),
    )
    return links, accounts, joined


def company_of(target: Target, workspace: Any) -> Any:
    """A stored record's company as the rules see it: a lead's `company_key`, a contact's
    primary account's name (a subquery, read only for candidate rows), an account's tax code.
    The subquery names `workspace` itself: on Citus, one that reaches it only through the
    outer row sends the whole statement to every shard."""
    table = target.table
    if target.kind is DuplicateResource.lead:
        return table.c.company_key
    if target.organisation:
        return table.c.tax_code
    links, accounts, _ = _primary_account_of(table)
    return (
        select(accounts.c.name_key)
        .where(
            links.c.workspace_id == workspace,
            links.c.contact_id == table.c.id,
            links.c.is_primary,
            accounts.c.workspace_id == workspace,
            accounts.c.id == links.c.account_id,
        )
        .limit(1)
        .correlate(table)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class _Shape:
    """What a candidate statement looks up: one statement is built per shape, then only its
    values are bound (building a union of selects costs more Python than sending it)."""

    resource: DuplicateResource
    lookups: Lookups
    email: bool
    phone: bool
    tax_code: bool
    name: bool
    company: bool
    excluding: bool


def _value(name: str) -> Any:
    return bindparam(name, type_=String)


Values = Callable[[str], Any]  # a probe's value by name: a bound parameter, or a batch's column


def _parts(target: Target, shape: _Shape, exclude_here: bool, value: Values = _value) -> list[Any]:
    table = target.table
    workspace = bindparam("workspace_id", type_=table.c.workspace_id.type)
    live = [table.c.workspace_id == workspace, table.c.deleted_at.is_(None)]
    if target.kind is DuplicateResource.lead:
        live.append(table.c.converted_at.is_(None))  # its contact stands for it now
    if exclude_here:
        live.append(table.c.id != bindparam("exclude", type_=table.c.id.type))
    columns = (
        literal(target.kind.value).label("kind"), table.c.id, table.c.name_key,
        table.c.email_key, table.c.phone_e164, company_of(target, workspace).label("company"),
    )  # fmt: skip
    lookups, parts, keys = shape.lookups, [], []
    if lookups.email and shape.email:
        keys.append(table.c.email_key == value("email"))
    if lookups.phone and shape.phone:
        keys.append(table.c.phone_e164 == value("phone"))
    if lookups.tax_code and shape.tax_code and target.organisation:
        keys.append(table.c.tax_code == value("tax_code"))
    if keys:
        parts.append(select(*columns).where(*live, or_(*keys)).limit(PER_PART))
    if lookups.name and shape.name:
        parts.append(
            select(*columns)
            .where(*live, table.c.name_key.op("%")(value("name")))
            .order_by(func.similarity(table.c.name_key, value("name")).desc())
            .limit(PER_PART)
        )
    if lookups.company and shape.company and not target.organisation:
        parts.append(_at_a_similar_company(target, columns, live, shape.name, value))
    return parts


def _at_a_similar_company(
    target: Target, columns: tuple[Any, ...], live: list[Any], named: bool, value: Values
) -> Any:
    """People at a company whose name is close by trigrams, the closest names first; leads
    with a name by their person keys (`match_keys.person_keys`)."""
    table = target.table
    closest = func.similarity(table.c.name_key, value("close_name"))
    # A company many people work at ("Minh Phát" with thousands of leads) would make every one
    # of them a candidate: only those whose names are close by trigrams too.
    close_names = [table.c.name_key.op("%")(value("close_name"))] if named else []
    company_near = value("company")
    if target.kind is DuplicateResource.lead:
        company = table.c.company_key
        near = (
            table.c.person_keys.overlap(func.string_to_array(value("person_keys"), KEYS_APART))
            if named
            else company.op("%")(company_near)
        )
        stmt = select(*columns).where(*live, near)
    else:
        _, accounts, joined = _primary_account_of(table)
        company = accounts.c.name_key
        stmt = (
            select(*columns[:-1], company.label("company"))
            .select_from(joined)
            .where(
                *live, accounts.c.deleted_at.is_(None), company.op("%")(company_near),
                *close_names,
            )
        )  # fmt: skip
    return stmt.order_by((func.similarity(company, company_near) + closest).desc()).limit(PER_PART)


_STATEMENTS: dict[_Shape, Any] = {}


def _statement(shape: _Shape) -> Any:
    if shape in _STATEMENTS:
        return _STATEMENTS[shape]
    parts: list[Any] = []
    for target in TARGETS[shape.resource]:
        parts += _parts(target, shape, shape.excluding and target.kind is shape.resource)
    statement: Any = None
    if len(parts) == 1:
        statement = parts[0]
    elif parts:
        statement = union(*parts)
    _STATEMENTS[shape] = statement  # shapes are few: lookups × which keys the probe has
    return statement


async def use_trigram_threshold(ctx: Ctx) -> None:
    """Set the candidates' trigram threshold for the rest of this transaction: a caller
    checking many records (an import's batch) sets it once and passes `threshold_set`. JIT
    goes off with it: a batch's statement (`candidates_of_batch`, 200 probes) can be estimated
    past `jit_above_cost`, and a custom plan of it spent ~95 ms of its ~220 ms compiling what
    a few index look-ups per probe don't need."""
    # SET LOCAL, not set_config(): Citus forwards the one to the shards, never the other, and
    # their `%` would match at pg_trgm's default 0.3.
    await sql.set_local(
        ctx.session, [f"pg_trgm.similarity_threshold = {TRIGRAM_THRESHOLD}", "jit = off"]
    )


def candidate_statement(
    ctx: Ctx,
    resource: DuplicateResource,
    probe: Comparable,
    lookups: Lookups,
    *,
    exclude: uuid.UUID | None = None,
) -> tuple[Any, dict[str, Any]] | None:
    """The one statement that finds `probe`'s candidates, and its values (None: nothing to
    look up)."""
    shape = _Shape(
        resource, lookups, email=probe.email is not None, phone=probe.phone is not None,
        tax_code=probe.tax_code is not None, name=probe.name is not None,
        company=probe.company is not None, excluding=exclude is not None,
    )  # fmt: skip
    statement = _statement(shape)
    if statement is None:
        return None
    values = {
        "workspace_id": ctx.workspace_id, "exclude": exclude, "email": probe.email,
        "phone": probe.phone, "tax_code": probe.tax_code, "name": probe.name or "",
        "close_name": probe.name or "", "company": probe.company,
        "person_keys": _person_keys(probe),
    }  # fmt: skip
    return statement, values


async def candidates(
    ctx: Ctx,
    resource: DuplicateResource,
    probe: Comparable,
    lookups: Lookups,
    *,
    exclude: uuid.UUID | None,
    threshold_set: bool = False,
) -> list[tuple[DuplicateResource, uuid.UUID, Comparable]]:
    """The records of `resource` (and, for people, of the other kind) that the lookups find
    for `probe`, as the rules compare them: one round trip (two when trigrams are used and
    the caller has not set their threshold for the transaction: `use_trigram_threshold`)."""
    built = candidate_statement(ctx, resource, probe, lookups, exclude=exclude)
    if built is None:
        return []
    if lookups.by_trigrams and not threshold_set:
        await use_trigram_threshold(ctx)
    statement, values = built
    rows = await records.fetch(ctx, statement, values)
    return [(DuplicateResource(row[0]), row[1], _comparable(row[0], *row[2:])) for row in rows]


# --- A batch's candidates: every probe's, in one statement --------------------------------

_PROBE_VALUES = ("email", "phone", "tax_code", "name", "close_name", "company", "person_keys")
_BATCH_STATEMENTS: dict[tuple[DuplicateResource, Lookups], Any] = {}


def _batch_statement(resource: DuplicateResource, lookups: Lookups) -> Any:
    """For a batch of probes given as arrays (one element per probe, NULL where a probe needs
    no such look-up): each probe's candidates as `candidate_statement` finds them, run once
    per probe (LATERAL), so the per-part limits and the union are each probe's own."""
    key = (resource, lookups)
    if key in _BATCH_STATEMENTS:
        return _BATCH_STATEMENTS[key]
    probes = (
        func.unnest(
            *(bindparam(f"{n}s", type_=ARRAY(String)) for n in _PROBE_VALUES),
        )
        .table_valued(*(column(n, String) for n in _PROBE_VALUES), with_ordinality="ord")
        .render_derived()
    )
    shape = _Shape(
        resource, lookups, email=True, phone=True, tax_code=True, name=True, company=True,
        excluding=False,
    )  # fmt: skip

    def value(name: str) -> Any:
        return probes.c[name]

    parts: list[Any] = []
    for target in TARGETS[resource]:
        parts += _parts(target, shape, False, value)
    statement: Any = None
    if parts:
        each: Any = parts[0] if len(parts) == 1 else union(*parts)
        found = each.subquery().lateral("found")
        statement = select(probes.c.ord.cast(Integer), *found.c).select_from(
            probes.join(found, true())
        )
    _BATCH_STATEMENTS[key] = statement
    return statement


async def candidates_of_batch(
    ctx: Ctx,
    resource: DuplicateResource,
    probes: Sequence[tuple[Comparable, Lookups]],
) -> list[list[tuple[DuplicateResource, uuid.UUID, Comparable]]]:
    """Each probe's candidates among the records stored now, as `candidates` finds them one
    probe at a time, in one round trip for the batch (the caller set the trigram threshold:
    `use_trigram_threshold`)."""
    found: list[list[tuple[DuplicateResource, uuid.UUID, Comparable]]] = [[] for _ in probes]
    wanted = Lookups(
        email=any(lookups.email for _, lookups in probes),
        phone=any(lookups.phone for _, lookups in probes),
        tax_code=any(lookups.tax_code for _, lookups in probes),
        name=any(lookups.name for _, lookups in probes),
        company=any(lookups.company for _, lookups in probes),
    )
    statement = _batch_statement(resource, wanted)
    if statement is None:
        return found
    values: dict[str, list[str | None]] = {f"{n}s": [] for n in _PROBE_VALUES}
    for probe, lookups in probes:
        # What `candidate_statement` would look up for this probe alone; NULL finds nothing.
        values["emails"].append(probe.email if lookups.email else None)
        values["phones"].append(probe.phone if lookups.phone else None)
        values["tax_codes"].append(probe.tax_code if lookups.tax_code else None)
        values["names"].append(probe.name if lookups.name else None)
        values["close_names"].append(probe.name or "")
        values["companys"].append(probe.company if lookups.company else None)
        values["person_keyss"].append(_person_keys(probe) if lookups.company else None)
    rows = await records.fetch(ctx, statement, {"workspace_id": ctx.workspace_id, **values})
    for row in rows:
        found[row[0] - 1].append((DuplicateResource(row[1]), row[2], _comparable(row[1], *row[3:])))
    return found


def _person_keys(probe: Comparable) -> str | None:
    keys = match_keys.person_keys(probe.name, probe.company)
    return KEYS_APART.join(keys) if keys else None


def _comparable(kind: str, name: Any, email: Any, phone: Any, company: Any) -> Comparable:
    """A stored record's keys as the rules compare them (an account's `company` column holds
    its tax code: see `company_of`)."""
    organisation = kind == DuplicateResource.account
    return Comparable(
        name=name,
        email=email,
        phone=phone,
        company=None if organisation else company,
        tax_code=company if organisation else None,
    )


def as_stored(kind: DuplicateResource, values: dict[str, Any]) -> Comparable:
    """A new record's keys as the candidate statements will read them once it is stored
    (its derived columns, app/core/records.py; a new contact has no primary account yet)."""
    company = {
        DuplicateResource.lead: values.get("company_key"),
        DuplicateResource.account: values.get("tax_code"),
    }.get(kind)
    return _comparable(
        kind, values.get("name_key"), values.get("email_key"), values.get("phone_e164"), company
    )


async def stored(
    ctx: Ctx,
    kind: DuplicateResource,
    *,
    after: uuid.UUID | None = None,
    only: uuid.UUID | None = None,
    limit: int = 1,
) -> list[tuple[uuid.UUID, Comparable]]:
    """Live records of `kind` as the rules compare them, from their stored keys: the one
    `only` names, or the next `limit` by id after `after` (a scan's batch)."""
    target = TARGETS[kind][0]
    table = target.table
    stmt = select(
        table.c.id,
        table.c.name_key,
        table.c.email_key,
        table.c.phone_e164,
        company_of(target, ctx.workspace_id),
    ).where(table.c.workspace_id == ctx.workspace_id, table.c.deleted_at.is_(None))
    if only is not None:
        stmt = stmt.where(table.c.id == only)
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    rows = await records.fetch(ctx, stmt.order_by(table.c.id).limit(limit))
    return [(row[0], _comparable(kind, *row[1:])) for row in rows]
