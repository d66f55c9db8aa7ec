"""Duplicate rules: the workspace's rules (the only place that writes them), the defaults every
workspace starts with, and how a record's duplicates are found — candidates from indexes,
scored by `matching` — and refused at the door (`refuse_duplicates`, called by the resource
layer on every create and every change of a compared field)."""

import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from app.core import records
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.pagination import equals
from app.core.records import Patched, Resource
from app.core.workspace_settings import cached
from app.duplicates import candidates, matching
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
    settings=True,  # the active rules are cached per process (`active_rules`)
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
    workspace's settings version (the resource is `settings`), which retires the copy."""

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

MOST = 20  # duplicates reported
use_trigram_threshold = candidates.use_trigram_threshold


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
    before a `warn` of the same score), each once, with the strongest rule that matched.
    `threshold_set`: the caller ran `use_trigram_threshold` in this transaction already."""
    rules = await active_rules(ctx, resource) if rules is None else rules
    lookups = candidates.lookups_for([r.criteria for r in rules], probe)
    found = await candidates.candidates(
        ctx, resource, probe, lookups, exclude=exclude, threshold_set=threshold_set
    )
    return scored(rules, probe, found)


def scored(
    rules: list[ActiveRule],
    probe: Comparable,
    found: Iterable[tuple[DuplicateResource, uuid.UUID, Comparable]],
) -> list[Duplicate]:
    """The candidates `found` that the rules take `probe` for, strongest first (see
    `find_duplicates`)."""
    duplicates: list[tuple[float, bool, Duplicate]] = []
    for kind, record_id, candidate in found:
        best = _best_rule(rules, probe, candidate)
        if best is not None:
            score, rule = best
            duplicate = Duplicate(
                resource=kind,
                id=record_id,
                score=round(score, 3),
                rule=RuleRef(id=rule.id, name=rule.name, action=rule.action),
            )
            duplicates.append((score, rule.action is DuplicateAction.block, duplicate))
    duplicates.sort(key=lambda f: (f[0], f[1]), reverse=True)
    return [d for _, _, d in duplicates[:MOST]]


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
    refusal = refusal_for(found, allow_duplicates=allow_duplicates)
    if refusal is not None:
        raise refusal


def refusal_for(
    found: list[Duplicate], *, allow_duplicates: bool
) -> DuplicateFound | PossibleDuplicate | None:
    """What `refuse_duplicates` raises for the duplicates `found`, if anything."""
    blocking = [d for d in found if d.rule.action is DuplicateAction.block]
    listed = [d.model_dump(mode="json") for d in (blocking or found)]
    if blocking:
        return DuplicateFound(_said(blocking[0]), duplicates=listed)
    if found and not allow_duplicates:
        return PossibleDuplicate(
            _said(found[0]) + "; send `allow_duplicates=true` to save it anyway",
            duplicates=listed,
        )
    return None


def _said(duplicate: Duplicate) -> str:
    return f"Rule “{duplicate.rule.name}” matches {duplicate.resource} {duplicate.id}"


async def identities_at_a_time(ctx: Ctx, probes: Iterable[Comparable]) -> None:
    """`one_identity_at_a_time` for many records at once (an import's batch): every lock the
    records take, in one statement, in the same sorted order."""
    identities = sorted({i for p in probes for i in (p.email, p.phone, p.tax_code) if i})
    if identities:
        keys = [f"sen:identity:{ctx.workspace_id}:{i}" for i in identities]
        await records.fetch(ctx, _MANY_LOCKS, {"identities": keys})


async def one_identity_at_a_time(ctx: Ctx, probe: Comparable) -> None:
    """Two writes of one person at once (a double click, two imports) must not both pass the
    check: the second waits here until the first commits, then finds it. A transaction-scoped
    lock per email, phone and tax code, taken in one order so two never deadlock."""
    identities = sorted(i for i in (probe.email, probe.phone, probe.tax_code) if i)
    if not identities:
        return
    keys = {
        f"identity{n}": f"sen:identity:{ctx.workspace_id}:{i}" for n, i in enumerate(identities)
    }
    await records.fetch(ctx, _LOCKS[len(identities)], keys)


# One statement per number of identities (PostgreSQL takes its locks left to right: in the
# sorted order), built once with bound values.
_LOCKS = {
    count: select(
        *(
            func.pg_advisory_xact_lock(
                func.hashtextextended(bindparam(f"identity{n}", type_=String), 0)
            )
            for n in range(count)
        )
    )
    for count in (1, 2, 3)
}


# The array keeps the order it was given in (unnest WITH ORDINALITY, ordered by it).
_keys = (
    func.unnest(bindparam("identities", type_=ARRAY(String)))
    .table_valued("key", with_ordinality="n")
    .render_derived()
)
_sorted_keys = select(_keys.c.key).order_by(_keys.c.n).subquery()
_MANY_LOCKS = select(
    func.count(func.pg_advisory_xact_lock(func.hashtextextended(_sorted_keys.c.key, 0)))
)


async def check(ctx: Ctx, resource: DuplicateResource, record: dict[str, Any]) -> list[Duplicate]:
    """What the rules would say of `record`, saving nothing."""
    probe = matching.comparable(record.get, organisation=resource is DuplicateResource.account)
    return await find_duplicates(ctx, resource, probe)


async def duplicates_of(
    ctx: Ctx, resource: DuplicateResource, stored: Resource[Any, Any], record_id: uuid.UUID
) -> list[Duplicate]:
    """The duplicates of a record the actor can see (404 otherwise), by today's rules, from
    its stored keys (a contact's company: its primary account's)."""
    record = await records.get(ctx, stored, record_id)
    ((_, probe),) = await candidates.stored(ctx, resource, only=record.id)
    return await find_duplicates(ctx, resource, probe, exclude=record.id)
