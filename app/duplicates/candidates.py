"""Where a record's possible duplicates come from: indexes only, never a scan, in one
statement. The same email, phone or tax code (every match); names close by trigrams; and for a
rule that also asks for a similar company, records at a similar company — company names are
far rarer than Vietnamese names (a third of the country is a Nguyễn), so that index returns a
few rows where the name's would return thousands."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, func, literal, or_, select, union

from app.accounts.models import Account
from app.contacts.models import AccountContact, Contact
from app.core import records
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


def company_of(target: Target) -> Any:
    """A stored record's company as the rules see it: a lead's `company_key`, a contact's
    primary account's name (a subquery, read only for candidate rows), an account's tax code."""
    table = target.table
    if target.kind is DuplicateResource.lead:
        return table.c.company_key
    if target.organisation:
        return table.c.tax_code
    links, accounts, _ = _primary_account_of(table)
    return (
        select(accounts.c.name_key)
        .where(
            links.c.workspace_id == table.c.workspace_id,
            links.c.contact_id == table.c.id,
            links.c.is_primary,
            accounts.c.workspace_id == links.c.workspace_id,
            accounts.c.id == links.c.account_id,
        )
        .limit(1)
        .correlate(table)
        .scalar_subquery()
    )


def _parts(
    ctx: Ctx, target: Target, probe: Comparable, lookups: Lookups, exclude: uuid.UUID | None
) -> list[Any]:
    table = target.table
    live = [table.c.workspace_id == ctx.workspace_id, table.c.deleted_at.is_(None)]
    if target.kind is DuplicateResource.lead:
        live.append(table.c.converted_at.is_(None))  # its contact stands for it now
    if exclude is not None:
        live.append(table.c.id != exclude)
    columns = (
        literal(target.kind.value).label("kind"), table.c.id, table.c.name_key,
        table.c.email_key, table.c.phone_e164, company_of(target).label("company"),
    )  # fmt: skip
    parts = []
    keys = []
    if lookups.email and probe.email:
        keys.append(table.c.email_key == probe.email)
    if lookups.phone and probe.phone:
        keys.append(table.c.phone_e164 == probe.phone)
    if lookups.tax_code and probe.tax_code and target.organisation:
        keys.append(table.c.tax_code == probe.tax_code)
    if keys:
        parts.append(select(*columns).where(*live, or_(*keys)).limit(PER_PART))
    if lookups.name and probe.name:
        parts.append(
            select(*columns)
            .where(*live, table.c.name_key.op("%")(probe.name))
            .order_by(func.similarity(table.c.name_key, probe.name).desc())
            .limit(PER_PART)
        )
    if lookups.company and probe.company and not target.organisation:
        parts.append(_at_a_similar_company(target, columns, live, probe))
    return parts


def _at_a_similar_company(
    target: Target, columns: tuple[Any, ...], live: list[Any], probe: Comparable
) -> Any:
    """People at a company whose name is close by trigrams, the closest names first."""
    table = target.table
    closest = func.similarity(table.c.name_key, probe.name or "")
    # A company many people work at ("Minh Phát" with thousands of leads) would make every one
    # of them a candidate: only those whose names are close by trigrams too.
    named = [table.c.name_key.op("%")(probe.name)] if probe.name else []
    if target.kind is DuplicateResource.lead:
        company = table.c.company_key
        stmt = select(*columns).where(*live, company.op("%")(probe.company), *named)
    else:
        _, accounts, joined = _primary_account_of(table)
        company = accounts.c.name_key
        stmt = (
            select(*columns[:-1], company.label("company"))
            .select_from(joined)
            .where(*live, accounts.c.deleted_at.is_(None), company.op("%")(probe.company), *named)
        )
    return stmt.order_by((func.similarity(company, probe.company) + closest).desc()).limit(PER_PART)


async def use_trigram_threshold(ctx: Ctx) -> None:
    """Set the candidates' trigram threshold for the rest of this transaction: a caller
    checking many records (an import's batch) sets it once and passes `threshold_set`."""
    await records.read_rows(
        ctx, select(func.set_config("pg_trgm.similarity_threshold", TRIGRAM_THRESHOLD, True))
    )


def candidate_statement(
    ctx: Ctx,
    resource: DuplicateResource,
    probe: Comparable,
    lookups: Lookups,
    *,
    exclude: uuid.UUID | None = None,
) -> Any | None:
    """The one statement that finds `probe`'s candidates (None: nothing to look up)."""
    parts = [
        part
        for target in TARGETS[resource]
        for part in _parts(
            ctx, target, probe, lookups, exclude if target.kind is resource else None
        )
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else union(*parts)


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
    statement = candidate_statement(ctx, resource, probe, lookups, exclude=exclude)
    if statement is None:
        return []
    if lookups.by_trigrams and not threshold_set:
        await use_trigram_threshold(ctx)
    found = []
    for kind, record_id, name, email, phone, company in await records.fetch(ctx, statement):
        organisation = kind == DuplicateResource.account
        comparable = Comparable(
            name=name,
            email=email,
            phone=phone,
            company=None if organisation else company,
            tax_code=company if organisation else None,
        )
        found.append((DuplicateResource(kind), record_id, comparable))
    return found
