"""Duplicate rules: the workspace's rules (the only place that writes them), the defaults every
workspace starts with, and how a record's duplicates are found — candidates from indexes,
scored by `matching` — and refused at the door (`refuse_duplicates`, called by the resource
layer on every create and every change of a compared field)."""

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, func, literal, or_, select, union_all

from app.accounts.models import Account
from app.contacts.models import AccountContact, Contact
from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.models import table_of
from app.core.pagination import equals
from app.core.records import Patched, Resource
from app.core.workspace_settings import cached
from app.duplicates import matching
from app.duplicates.matching import Comparable
from app.duplicates.models import DuplicateRule
from app.duplicates.schemas import (
    Criterion,
    Duplicate,
    DuplicateAction,
    DuplicateResource,
    DuplicateRuleCreate,
    DuplicateRuleQuery,
    DuplicateRuleRead,
    DuplicateRuleUpdate,
    RuleField,
    RuleRef,
)
from app.leads.models import Lead


class DuplicateRuleNotFound(NotFound):
    code, title = "duplicate_rule_not_found", "Duplicate rule not found"


class DuplicateFound(Conflict):
    """A `block` rule matched: the record is not saved. `duplicates` lists what it matched."""

    code, title = "duplicate", "This record duplicates one the workspace has"


class PossibleDuplicate(Conflict):
    """A `warn` rule matched: saved only when the client sends `allow_duplicates=true`."""

    code, title = "possible_duplicate", "This record may duplicate one the workspace has"


RULES = Resource(
    model=DuplicateRule,
    name="duplicate_rule",
    read=DuplicateRuleRead,
    query=DuplicateRuleQuery,
    not_found=DuplicateRuleNotFound,
    filters={"resource": equals("resource"), "active": equals("active")},
    history=("resource", "name", "action", "active", "criteria"),
)

_PERSON_FIELDS = {RuleField.full_name, RuleField.email, RuleField.phone, RuleField.company_name}
FIELDS = {
    DuplicateResource.lead: _PERSON_FIELDS,
    DuplicateResource.contact: _PERSON_FIELDS,
    DuplicateResource.account: {
        RuleField.name,
        RuleField.tax_code,
        RuleField.email,
        RuleField.phone,
    },
}
# Fields whose index gives the candidates: a rule needs one, or it would mean a scan.
_INDEXED = {RuleField.full_name, RuleField.name, RuleField.email, RuleField.phone}
_INDEXED_ACCOUNT = _INDEXED | {RuleField.tax_code}

_SAME_EMAIL = ("Cùng email", [{"fields": ["email"], "match": "exact"}])
_SAME_PHONE = ("Cùng số điện thoại", [{"fields": ["phone"], "match": "exact"}])
_SIMILAR_PERSON = (
    "Tên và công ty gần giống",
    [
        {"fields": ["full_name"], "match": "fuzzy", "threshold": 0.9},
        {"fields": ["company_name"], "match": "fuzzy", "threshold": 0.85},
    ],
)
DEFAULT_RULES: list[tuple[str, str, list[dict[str, Any]]]] = [
    *((kind, name, criteria) for kind in ("lead", "contact")
      for name, criteria in (_SAME_EMAIL, _SAME_PHONE, _SIMILAR_PERSON)),
    ("account", "Cùng mã số thuế", [{"fields": ["tax_code"], "match": "exact"}]),
    ("account", "Tên gần giống", [{"fields": ["name"], "match": "fuzzy", "threshold": 0.92}]),
]  # fmt: skip


def seed_rules(ctx: Ctx) -> None:
    """The rules a new workspace starts with, all `warn` (migration 0016 gave them to the
    workspaces that existed before)."""
    for resource, name, criteria in DEFAULT_RULES:
        ctx.session.add(
            DuplicateRule(
                workspace_id=ctx.workspace_id,
                resource=resource,
                name=name,
                action="warn",
                active=True,
                criteria=criteria,
            )
        )


def _check_criteria(resource: DuplicateResource, criteria: list[Criterion]) -> None:
    """422 for a field the resource has no such thing as, or a rule no index can serve."""
    allowed = FIELDS[resource]
    indexed = _INDEXED_ACCOUNT if resource is DuplicateResource.account else _INDEXED
    for n, criterion in enumerate(criteria):
        for field in criterion.fields:
            if field not in allowed:
                names = ", ".join(sorted(allowed))
                raise Unprocessable(
                    [{"field": f"criteria.{n}.fields", "message": f"a {resource} has no "
                      f"`{field}` to compare; use {names}"}]
                )  # fmt: skip
    if not any(f in indexed for c in criteria for f in c.fields):
        raise Unprocessable(
            [{"field": "criteria", "message": "a rule needs a name, email, phone or tax code "
              "among its fields: that is where its candidates come from"}]
        )  # fmt: skip


async def create_rule(ctx: Ctx, data: DuplicateRuleCreate) -> DuplicateRule:
    """A new rule for its resource; it applies from the next write on."""
    _check_criteria(data.resource, data.criteria)
    return await records.create(ctx, RULES, data.model_dump(mode="json"))


async def update_rule(
    ctx: Ctx, rule_id: uuid.UUID, data: DuplicateRuleUpdate, *, if_match: str | None
) -> Patched[DuplicateRule]:
    """Only the fields sent change; new criteria are checked as on create."""

    async def rules(rule: DuplicateRule, values: dict[str, Any]) -> dict[str, Any]:
        if "criteria" in values:
            _check_criteria(DuplicateResource(rule.resource), data.criteria)  # type: ignore[arg-type]
        return values

    values = data.model_dump(mode="json", exclude_unset=True)
    return await records.patch(ctx, RULES, rule_id, values, if_match=if_match, rules=rules)


@dataclass(frozen=True)
class ActiveRule:
    id: uuid.UUID
    name: str
    action: DuplicateAction
    criteria: list[Criterion]

    @property
    def fields(self) -> set[RuleField]:
        return {f for c in self.criteria for f in c.fields}


async def active_rules(ctx: Ctx, resource: DuplicateResource) -> list[ActiveRule]:
    """The resource's live, active rules, cached per workspace: any write to a rule bumps the
    workspace's settings version (a trigger, migration 0016), which retires the copy."""

    async def load() -> list[ActiveRule]:
        found = await ctx.session.scalars(
            select(DuplicateRule)
            .where(
                DuplicateRule.workspace_id == ctx.workspace_id,
                DuplicateRule.resource == resource,
                DuplicateRule.active,
                DuplicateRule.deleted_at.is_(None),
            )
            .order_by(DuplicateRule.created_at, DuplicateRule.id)
        )
        return [
            ActiveRule(
                id=r.id,
                name=r.name,
                action=DuplicateAction(r.action),
                criteria=[Criterion.model_validate(c) for c in r.criteria],
            )
            for r in found
        ]

    return await cached(ctx, f"duplicate_rules:{resource}", load)


# --- Finding duplicates -------------------------------------------------------------------

# Trigram similarity a name must reach to be a candidate: loose enough for a typo or a
# dropped middle name, tight enough that the index returns few rows (fuzzy rules start at 0.5).
_TRIGRAM_THRESHOLD = "0.45"
_CANDIDATES = 50  # per table
MOST = 20  # duplicates reported


@dataclass(frozen=True)
class _Target:
    kind: DuplicateResource
    table: Table
    organisation: bool = False


_LEADS = _Target(DuplicateResource.lead, table_of(Lead))
_CONTACTS = _Target(DuplicateResource.contact, table_of(Contact))
_ACCOUNTS = _Target(DuplicateResource.account, table_of(Account), organisation=True)
# Lead rules look at contacts too (a new lead who is already a contact), contact rules at leads.
_TARGETS = {
    DuplicateResource.lead: (_LEADS, _CONTACTS),
    DuplicateResource.contact: (_CONTACTS, _LEADS),
    DuplicateResource.account: (_ACCOUNTS,),
}


def _company_column(target: _Target) -> Any:
    """A stored record's company as the rules see it: a lead's own `company_key`, a contact's
    primary account's name (read only for the few candidate rows)."""
    table = target.table
    if target.kind is DuplicateResource.lead:
        return table.c.company_key
    if target.kind is DuplicateResource.account:
        return table.c.tax_code
    links, accounts = table_of(AccountContact), table_of(Account)
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
        .scalar_subquery()
    )


def _candidates_query(
    ctx: Ctx,
    n: int,
    target: _Target,
    probe: Comparable,
    fields: set[RuleField],
    exclude: uuid.UUID | None,
) -> Any:
    """Live records of `target` that share an indexed key with `probe` (email, phone, tax
    code) or whose name is close by trigrams: never a scan, at most `_CANDIDATES`. Its first
    column is `n`, which target the row is of. None when the probe has no key to look by."""
    table = target.table
    keys = []
    if RuleField.email in fields and probe.email:
        keys.append(table.c.email_key == probe.email)
    if RuleField.phone in fields and probe.phone:
        keys.append(table.c.phone_e164 == probe.phone)
    if RuleField.tax_code in fields and probe.tax_code and target.organisation:
        keys.append(table.c.tax_code == probe.tax_code)
    if fields & {RuleField.full_name, RuleField.name} and probe.name:
        keys.append(table.c.name_key.op("%")(probe.name))
    if not keys:
        return None
    live = [table.c.workspace_id == ctx.workspace_id, table.c.deleted_at.is_(None)]
    if target.kind is DuplicateResource.lead:
        live.append(table.c.converted_at.is_(None))  # its contact stands for it now
    if exclude is not None:
        live.append(table.c.id != exclude)
    company = _company_column(target)
    return (
        select(
            literal(n).label("target"),
            table.c.id,
            table.c.name_key,
            table.c.email_key,
            table.c.phone_e164,
            company.label("company"),
        )
        .where(and_(*live), or_(*keys))
        .limit(_CANDIDATES)
    )


async def _candidates(
    ctx: Ctx,
    resource: DuplicateResource,
    probe: Comparable,
    fields: set[RuleField],
    exclude: uuid.UUID | None,
) -> list[tuple[_Target, uuid.UUID, Comparable]]:
    """Every target's candidates in one round trip (a lead's are leads and contacts)."""
    targets = _TARGETS[resource]
    queries = [
        query
        for n, target in enumerate(targets)
        if (
            query := _candidates_query(
                ctx, n, target, probe, fields, exclude if target.kind is resource else None
            )
        )
        is not None
    ]
    if not queries:
        return []
    statement: Any = queries[0] if len(queries) == 1 else union_all(*queries)
    rows = await records.fetch(ctx, statement)
    found = []
    for row in rows:
        target = targets[row[0]]
        comparable = Comparable(
            name=row[2],
            email=row[3],
            phone=row[4],
            company=None if target.organisation else row[5],
            tax_code=row[5] if target.organisation else None,
        )
        found.append((target, row[1], comparable))
    return found


async def use_trigram_threshold(ctx: Ctx) -> None:
    """Set the candidates' trigram threshold for the rest of this transaction (a savepoint
    rolled back undoes it): a caller checking many records at once sets it once and passes
    `threshold_set=True` to `find_duplicates`."""
    await records.read_rows(
        ctx, select(func.set_config("pg_trgm.similarity_threshold", _TRIGRAM_THRESHOLD, True))
    )


async def find_duplicates(
    ctx: Ctx,
    resource: DuplicateResource,
    probe: Comparable,
    *,
    exclude: uuid.UUID | None = None,
    rules: list[ActiveRule] | None = None,
    threshold_set: bool = False,
) -> list[Duplicate]:
    """The records the resource's active rules take `probe` for, strongest first (a `block`
    before a `warn` of the same score), each once, with the strongest rule that matched."""
    rules = await active_rules(ctx, resource) if rules is None else rules
    if not rules:
        return []
    fields = set().union(*(r.fields for r in rules))
    if fields & {RuleField.full_name, RuleField.name} and probe.name and not threshold_set:
        await use_trigram_threshold(ctx)
    found: list[tuple[float, bool, Duplicate]] = []
    for target, record_id, candidate in await _candidates(ctx, resource, probe, fields, exclude):
        best = _best_rule(rules, probe, candidate)
        if best is not None:
            score, rule = best
            duplicate = Duplicate(
                resource=target.kind,
                id=record_id,
                score=round(score, 3),
                rule=RuleRef(id=rule.id, name=rule.name, action=rule.action),
            )
            found.append((score, rule.action is DuplicateAction.block, duplicate))
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    return [d for _, _, d in found[:MOST]]


def _strength(score: float, rule: ActiveRule) -> tuple[float, bool]:
    return score, rule.action is DuplicateAction.block


def _best_rule(
    rules: list[ActiveRule], probe: Comparable, candidate: Comparable
) -> tuple[float, ActiveRule] | None:
    best: tuple[float, ActiveRule] | None = None
    for rule in rules:
        score = matching.rule_score(rule.criteria, probe, candidate)
        if score is None:
            continue
        # The higher score wins; at a tie, a `block` rule (its answer is the stronger one).
        if best is None or _strength(score, rule) > _strength(*best):
            best = (score, rule)
    return best


async def refuse_duplicates(
    ctx: Ctx,
    resource: str,
    read: Callable[[str], Any],
    /,
    *,
    record_id: uuid.UUID | None,
    changed: Collection[str],
    allow_duplicates: bool,
) -> None:
    """The resource layer's duplicate check (`Resource.duplicates`): a `block` match is a 409
    `duplicate`; a `warn` match a 409 `possible_duplicate` unless the user chose to save
    anyway. A change that touches no compared field is not checked again."""
    kind = DuplicateResource(resource)
    rules = await active_rules(ctx, kind)
    if not rules:
        return
    if record_id is not None and not {f.value for r in rules for f in r.fields} & set(changed):
        return
    probe = matching.comparable(read, organisation=kind is DuplicateResource.account)
    await one_identity_at_a_time(ctx, probe)
    found = await find_duplicates(ctx, kind, probe, exclude=record_id, rules=rules)
    blocking = [d for d in found if d.rule.action is DuplicateAction.block]
    listed = [d.model_dump(mode="json") for d in (blocking or found)]
    if blocking:
        raise DuplicateFound(_said(blocking[0]), duplicates=listed)
    if found and not allow_duplicates:
        raise PossibleDuplicate(
            _said(found[0]) + "; send `allow_duplicates=true` to save it anyway",
            duplicates=listed,
        )


def _said(duplicate: Duplicate) -> str:
    return f"Rule “{duplicate.rule.name}” matches {duplicate.resource} {duplicate.id}"


async def one_identity_at_a_time(ctx: Ctx, probe: Comparable) -> None:
    """Two writes of one person at once (a double click, two imports) must not both pass the
    check: the second waits here until the first commits, then finds it. A transaction-scoped
    lock per email, phone and tax code, taken in one order so two never deadlock."""
    identities = sorted(i for i in (probe.email, probe.phone, probe.tax_code) if i)
    if not identities:
        return
    # One statement: PostgreSQL evaluates a select list left to right, so still in order.
    locks = [
        func.pg_advisory_xact_lock(
            func.hashtextextended(f"sen:identity:{ctx.workspace_id}:{identity}", 0)
        )
        for identity in identities
    ]
    await records.read_rows(ctx, select(*locks))


async def check(ctx: Ctx, resource: DuplicateResource, record: dict[str, Any]) -> list[Duplicate]:
    """What the rules would say of `record`, saving nothing."""
    probe = matching.comparable(record.get, organisation=resource is DuplicateResource.account)
    return await find_duplicates(ctx, resource, probe)


async def duplicates_of(
    ctx: Ctx, resource: DuplicateResource, stored: Resource[Any, Any], record_id: uuid.UUID
) -> list[Duplicate]:
    """The duplicates of a record the actor can see (404 otherwise), by today's rules."""
    record = await records.get(ctx, stored, record_id)
    probe = matching.comparable(
        lambda name: getattr(record, name, None),
        organisation=resource is DuplicateResource.account,
    )
    if resource is DuplicateResource.contact:
        probe = await _with_primary_company(ctx, record_id, probe)
    return await find_duplicates(ctx, resource, probe, exclude=record.id)


async def _with_primary_company(ctx: Ctx, contact_id: uuid.UUID, probe: Comparable) -> Comparable:
    links, accounts = table_of(AccountContact), table_of(Account)
    rows = await records.fetch(
        ctx,
        select(accounts.c.name_key).where(
            links.c.workspace_id == ctx.workspace_id,
            links.c.contact_id == contact_id,
            links.c.is_primary,
            accounts.c.workspace_id == links.c.workspace_id,
            accounts.c.id == links.c.account_id,
        ),
    )
    company = rows[0][0] if rows else None
    return Comparable(
        name=probe.name, email=probe.email, phone=probe.phone, company=company, tax_code=None
    )
