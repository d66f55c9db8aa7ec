"""Assignment rules: who gets a new lead from intake. The rules' own checks, the only place
that writes them, and `choose_owner`, which the intake worker asks for each new lead."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from app.assignment.models import AssignmentRule
from app.assignment.schemas import (
    AssignmentConditions,
    AssignmentRuleCreate,
    AssignmentRuleQuery,
    AssignmentRuleRead,
    AssignmentRuleUpdate,
    Strategy,
)
from app.core import records
from app.core.context import Ctx
from app.core.errors import NotFound, Unprocessable
from app.core.models import table_of
from app.core.pagination import equals
from app.core.records import Patched, Resource
from app.core.search import fold
from app.core.sql import AnySelect
from app.leads.models import Lead
from app.users import service as users_service
from app.users.models import User

_RULES = table_of(AssignmentRule)
_USERS = table_of(User)
_LEADS = table_of(Lead)


class AssignmentRuleNotFound(NotFound):
    code, title = "assignment_rule_not_found", "Assignment rule not found"


_HISTORY = ("name", "priority", "active", "conditions", "strategy", "user_ids", "team_id")
ASSIGNMENT_RULES = Resource(
    model=AssignmentRule,
    name="assignment_rule",
    read=AssignmentRuleRead,
    query=AssignmentRuleQuery,
    not_found=AssignmentRuleNotFound,
    filters={"active": equals("active"), "strategy": equals("strategy")},
    history=_HISTORY,
)


def _stored(conditions: AssignmentConditions) -> dict[str, Any]:
    """Every condition's key, null when not given: lists (written straight from the rows) and
    single reads then show the same object."""
    return conditions.model_dump(mode="json")


async def _check_candidates(ctx: Ctx, user_ids: list[uuid.UUID], team_id: uuid.UUID | None) -> None:
    """A rule hands out to listed users or to a team, never both nor neither (422)."""
    if user_ids and team_id is not None:
        raise Unprocessable(
            [{"field": "team_id", "message": "give user_ids or a team_id, not both"}]
        )
    if not user_ids and team_id is None:
        raise Unprocessable([{"field": "user_ids", "message": "give user_ids or a team_id"}])
    if user_ids and not await users_service.all_active(ctx, user_ids):
        message = "not all are active users of the workspace"
        raise Unprocessable([{"field": "user_ids", "message": message}])
    if team_id is not None:
        try:
            await users_service.get_team(ctx, team_id)
        except users_service.TeamNotFound:
            raise Unprocessable([{"field": "team_id", "message": "not a team of the workspace"}])


async def create_assignment_rule(ctx: Ctx, data: AssignmentRuleCreate) -> AssignmentRule:
    """Its users must be active users of the workspace, its team one of the workspace's (422)."""
    await _check_candidates(ctx, data.user_ids, data.team_id)
    values = data.model_dump(exclude={"conditions"})
    values["conditions"] = _stored(data.conditions)
    return await records.create(ctx, ASSIGNMENT_RULES, values)


async def update_assignment_rule(
    ctx: Ctx, rule_id: uuid.UUID, data: AssignmentRuleUpdate, *, if_match: str | None
) -> Patched[AssignmentRule]:
    """Only the fields sent change; the users or team the rule ends up with are checked as on
    create."""
    values = data.model_dump(exclude_unset=True)
    if isinstance(data.conditions, AssignmentConditions):
        values["conditions"] = _stored(data.conditions)

    async def rules(rule: AssignmentRule, values: dict[str, Any]) -> dict[str, Any]:
        if "user_ids" in values or "team_id" in values:
            user_ids = values.get("user_ids", rule.user_ids)
            await _check_candidates(ctx, user_ids, values.get("team_id", rule.team_id))
        return values

    return await records.patch(
        ctx, ASSIGNMENT_RULES, rule_id, values, if_match=if_match, rules=rules
    )


@dataclass(frozen=True)
class LeadFacts:
    """What assignment rules look at in a new lead."""

    form_id: uuid.UUID | None = None
    integration_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    source: str | None = None
    province: str | None = None
    tags: Sequence[str] = ()


def _holds(conditions: dict[str, Any], lead: LeadFacts) -> bool:
    """Every condition given holds for the lead (province and tag as folded text: "ha noi"
    is "Hà Nội", as people type it)."""
    for key, value in (
        ("form_id", lead.form_id),
        ("integration_id", lead.integration_id),
        ("campaign_id", lead.campaign_id),
    ):
        wanted = conditions.get(key)
        if wanted is not None and (value is None or uuid.UUID(wanted) != value):
            return False
    source = conditions.get("source")
    if source is not None and source != lead.source:
        return False
    province = conditions.get("province")
    if province is not None and (lead.province is None or fold(province) != fold(lead.province)):
        return False
    tag = conditions.get("tag")
    return tag is None or fold(tag) in {fold(t) for t in lead.tags}


async def _candidates(
    ctx: Ctx, user_ids: list[uuid.UUID], team_id: uuid.UUID | None
) -> list[uuid.UUID]:
    """The rule's active users in its order, or its team's active members by id."""
    active = select(_USERS.c.id).where(
        _USERS.c.workspace_id == ctx.workspace_id, _USERS.c.is_active
    )
    if team_id is not None:
        members = active.where(_USERS.c.team_id == team_id).order_by(_USERS.c.id)
        return list(await ctx.session.scalars(members))
    if not user_ids:
        return []
    found = set(await ctx.session.scalars(active.where(_USERS.c.id.in_(user_ids))))
    return [user_id for user_id in user_ids if user_id in found]


async def _take_turn(ctx: Ctx, rule_id: uuid.UUID) -> int | None:
    """The rule's next turn, counted in its row: every worker process shares it and a restart
    keeps it; the row lock queues racing intakes until each commits. Not a change of the rule
    (no version, no history, `updated_at` kept). None if it was switched off or deleted since."""
    taken = (
        update(_RULES)
        .where(
            _RULES.c.workspace_id == ctx.workspace_id,
            _RULES.c.id == rule_id,
            _RULES.c.active,
            _RULES.c.deleted_at.is_(None),
        )
        .values(turns=_RULES.c.turns + 1, updated_at=_RULES.c.updated_at)
        .returning(_RULES.c.turns)
    )
    turns: int | None = await ctx.session.scalar(taken)
    return turns


def open_lead_counts(workspace_id: uuid.UUID, owner_ids: list[uuid.UUID]) -> AnySelect:
    """How many open (live, unconverted) leads each of `owner_ids` owns: one grouped scan of
    ix_leads_owner_recent's range for those owners (its predicate is `deleted_at IS NULL`)."""
    return (
        select(_LEADS.c.owner_id, func.count())
        .where(
            _LEADS.c.workspace_id == workspace_id,
            _LEADS.c.owner_id.in_(owner_ids),
            _LEADS.c.deleted_at.is_(None),
            _LEADS.c.converted_at.is_(None),
        )
        .group_by(_LEADS.c.owner_id)
    )


async def _least_loaded(ctx: Ctx, candidates: list[uuid.UUID]) -> uuid.UUID:
    """The candidate owning the fewest open leads; ties go to the first. Racing intakes may
    both count before either commits: it balances, it doesn't ration."""
    counted = await ctx.session.execute(open_lead_counts(ctx.workspace_id, candidates))
    counts: dict[uuid.UUID, int] = dict(counted.all())
    return min(candidates, key=lambda user_id: counts.get(user_id, 0))


async def choose_owner(ctx: Ctx, lead: LeadFacts) -> uuid.UUID | None:
    """Who gets a new lead: the first active rule by (priority, id) whose conditions hold and
    that has an active candidate assigns by its strategy; None when no rule does (the caller
    falls back to the form's default owner, else `users_service.workspace_owner`). Runs in the
    caller's transaction; a round robin's turn is taken under a row lock held until it ends."""
    rules = await ctx.session.execute(
        select(
            _RULES.c.id, _RULES.c.strategy, _RULES.c.conditions, _RULES.c.user_ids, _RULES.c.team_id
        )
        .where(
            _RULES.c.workspace_id == ctx.workspace_id,
            _RULES.c.active,
            _RULES.c.deleted_at.is_(None),
        )
        .order_by(_RULES.c.priority, _RULES.c.id)
    )
    for rule_id, strategy, conditions, user_ids, team_id in rules.all():
        if not _holds(conditions, lead):
            continue
        chosen = await _by_strategy(ctx, rule_id, strategy, user_ids, team_id)
        if chosen is not None:
            return chosen
    return None


async def _by_strategy(
    ctx: Ctx,
    rule_id: uuid.UUID,
    strategy: str,
    user_ids: list[uuid.UUID],
    team_id: uuid.UUID | None,
) -> uuid.UUID | None:
    candidates = await _candidates(ctx, user_ids, team_id)
    if not candidates:
        return None
    if strategy == Strategy.fixed:
        return candidates[0]
    if strategy == Strategy.least_loaded:
        return await _least_loaded(ctx, candidates)
    turns = await _take_turn(ctx, rule_id)
    return None if turns is None else candidates[(turns - 1) % len(candidates)]


async def owner_by_rule(ctx: Ctx, rule_id: uuid.UUID) -> uuid.UUID | None:
    """Whom one rule picks now, by its strategy, whatever its conditions (a workflow's
    `assign_owner` names the rule); None when it is gone, off, or has no active candidate."""
    rule = (
        await ctx.session.execute(
            select(_RULES.c.strategy, _RULES.c.user_ids, _RULES.c.team_id).where(
                _RULES.c.workspace_id == ctx.workspace_id,
                _RULES.c.id == rule_id,
                _RULES.c.active,
                _RULES.c.deleted_at.is_(None),
            )
        )
    ).first()
    if rule is None:
        return None
    return await _by_strategy(ctx, rule_id, rule.strategy, rule.user_ids, rule.team_id)
