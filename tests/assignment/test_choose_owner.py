"""`choose_owner`: who intake gives a new lead to, through the service as the intake worker
calls it, on the test's transaction."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignment import service
from app.assignment.models import AssignmentRule
from app.assignment.schemas import AssignmentRuleCreate
from app.assignment.service import LeadFacts, choose_owner
from app.core import records
from app.core.context import Ctx, Role
from app.core.history import HistoryQuery
from app.leads import convert
from app.leads import service as leads_service
from app.leads.schemas import ConvertLead, LeadCreate
from app.users import service as users_service
from app.users.schemas import TeamCreate, UserCreate, UserUpdate
from tests.conftest import World, acting_as

WEBSITE = LeadFacts(source="website")


async def _rule(ctx: Ctx, **fields: Any) -> AssignmentRule:
    body: dict[str, Any] = {"name": "Quy tắc", "strategy": "fixed"} | fields
    return await service.create_assignment_rule(ctx, AssignmentRuleCreate.model_validate(body))


async def _user(ctx: Ctx, name: str, **fields: Any) -> uuid.UUID:
    data = UserCreate(email=f"{uuid.uuid4().hex[:8]}@a.vn", full_name=name, **fields)
    return (await users_service.create_user(ctx, data)).id


async def _leads_of(ctx: Ctx, owner_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    made = []
    for n in range(count):
        lead = await leads_service.create_lead(
            ctx, LeadCreate(full_name=f"Khách {n}", owner_id=owner_id)
        )
        made.append(lead.id)
    return made


async def _handed_out(ctx: Ctx, times: int, lead: LeadFacts = WEBSITE) -> list[uuid.UUID | None]:
    return [await choose_owner(ctx, lead) for _ in range(times)]


class TestWhichRule:
    async def test_no_rule_gives_the_lead_to_no_one(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)

        assert await choose_owner(ctx, WEBSITE) is None

    async def test_the_first_rule_by_priority_then_id_assigns(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        await _rule(ctx, priority=20, user_ids=[world.sales.user_id])
        await _rule(ctx, priority=10, user_ids=[world.teammate.user_id])
        await _rule(ctx, priority=10, user_ids=[world.outsider.user_id])  # same, made later

        assert await choose_owner(ctx, WEBSITE) == world.teammate.user_id

    async def test_switched_off_and_deleted_rules_are_passed_over(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        await _rule(ctx, priority=1, active=False, user_ids=[world.sales.user_id])
        deleted = await _rule(ctx, priority=2, user_ids=[world.teammate.user_id])
        await records.soft_delete(ctx, service.ASSIGNMENT_RULES, deleted.id, if_match=None)
        await _rule(ctx, priority=3, user_ids=[world.outsider.user_id])

        assert await choose_owner(ctx, WEBSITE) == world.outsider.user_id

    async def test_every_condition_given_must_hold(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        form, campaign, integration = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conditions = {
            "form_id": str(form), "campaign_id": str(campaign),
            "integration_id": str(integration), "source": "facebook",
            "province": "Hà Nội", "tag": "VIP",
        }  # fmt: skip
        await _rule(ctx, priority=1, conditions=conditions, user_ids=[world.sales.user_id])
        await _rule(ctx, priority=2, user_ids=[world.owner.user_id])  # takes every other lead
        meets = LeadFacts(
            form_id=form, campaign_id=campaign, integration_id=integration, source="facebook",
            province="ha noi", tags=["mới", "vip"],
        )  # fmt: skip

        assert await choose_owner(ctx, meets) == world.sales.user_id
        for misses in (
            {"source": "zalo"},
            {"province": "Hồ Chí Minh"},
            {"province": None},
            {"tags": ["mới"]},
            {"tags": []},
            {"form_id": uuid.uuid4()},
            {"form_id": None},
            {"campaign_id": uuid.uuid4()},
            {"integration_id": None},
        ):
            lead = LeadFacts(**{**meets.__dict__, **misses})
            assert await choose_owner(ctx, lead) == world.owner.user_id, misses

    async def test_a_rule_on_source_alone_takes_any_lead_from_that_source(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        await _rule(ctx, conditions={"source": "zalo"}, user_ids=[world.sales.user_id])

        assert await choose_owner(ctx, LeadFacts(source="zalo", tags=["x"])) == world.sales.user_id
        assert await choose_owner(ctx, LeadFacts(source="website")) is None

    async def test_another_workspaces_rules_never_apply(
        self, session: AsyncSession, world: World
    ) -> None:
        theirs = await acting_as(session, world.other_owner)
        await _rule(theirs, user_ids=[world.other_owner.user_id])
        ours = await acting_as(session, world.admin)

        assert await choose_owner(ours, WEBSITE) is None


class TestCandidates:
    async def test_inactive_users_are_passed_over(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        leaving = await _user(ctx, "Sắp nghỉ")
        await _rule(ctx, strategy="round_robin", user_ids=[leaving, world.sales.user_id])
        await users_service.update_user(ctx, leaving, UserUpdate(is_active=False), if_match=None)

        assert await _handed_out(ctx, 3) == [world.sales.user_id] * 3

    async def test_a_rule_left_without_active_users_gives_way_to_the_next(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        leaving = await _user(ctx, "Sắp nghỉ")
        await _rule(ctx, priority=1, user_ids=[leaving])
        await _rule(ctx, priority=2, user_ids=[world.teammate.user_id])
        await users_service.update_user(ctx, leaving, UserUpdate(is_active=False), if_match=None)

        assert await choose_owner(ctx, WEBSITE) == world.teammate.user_id

    async def test_a_team_rule_hands_out_among_its_active_members_by_id(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        team = await users_service.create_team(ctx, TeamCreate(name="Đông"))
        members = sorted([await _user(ctx, "Hoa", team_id=team.id) for _ in range(3)])
        await _user(ctx, "Nghỉ", team_id=team.id, is_active=False)
        await _rule(ctx, strategy="round_robin", team_id=team.id)

        assert await _handed_out(ctx, 4) == [*members, members[0]]

    async def test_a_team_with_no_active_member_gives_way(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        empty = await users_service.create_team(ctx, TeamCreate(name="Trống"))
        await _rule(ctx, priority=1, team_id=empty.id)
        await _rule(ctx, priority=2, team_id=world.outsider.team_id)

        assert await choose_owner(ctx, WEBSITE) == world.outsider.user_id


class TestStrategies:
    async def test_fixed_gives_every_lead_to_the_first_active_candidate(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        await _rule(ctx, strategy="fixed", user_ids=[world.teammate.user_id, world.sales.user_id])

        assert await _handed_out(ctx, 3) == [world.teammate.user_id] * 3

    async def test_round_robin_takes_turns_in_the_rules_order(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        a, b, c = world.teammate.user_id, world.sales.user_id, world.outsider.user_id
        rule = await _rule(ctx, strategy="round_robin", user_ids=[a, b, c])

        assert await _handed_out(ctx, 7) == [a, b, c, a, b, c, a]
        # Turns are no edit of the rule: same version and history as when it was made.
        version = await session.scalar(
            select(AssignmentRule.version).where(
                AssignmentRule.workspace_id == world.admin.workspace_id,
                AssignmentRule.id == rule.id,
            )
        )
        assert version == 1
        history = await records.history(ctx, service.ASSIGNMENT_RULES, rule.id, HistoryQuery())
        assert [entry.action for entry in history.data] == ["created"]

    async def test_least_loaded_picks_whoever_has_fewer_open_leads(
        self, session: AsyncSession, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        busy, calm = await _user(ctx, "Bận"), await _user(ctx, "Rảnh")
        await _leads_of(ctx, busy, 2)
        gone = await _leads_of(ctx, calm, 3)  # one open; the others deleted or converted
        await records.soft_delete(ctx, leads_service.LEADS, gone[0], if_match=None)
        await convert.convert_lead(ctx, gone[1], ConvertLead())
        await _rule(ctx, strategy="least_loaded", user_ids=[busy, calm])

        assert await choose_owner(ctx, WEBSITE) == calm
        await _leads_of(ctx, calm, 1)  # now 2 each: the tie goes to the first listed
        assert await choose_owner(ctx, WEBSITE) == busy


async def test_the_workspace_owner_is_the_fallback_hand(
    session: AsyncSession, world: World
) -> None:
    ctx = await acting_as(session, world.owner)
    await _user(ctx, "Chủ thứ hai", role=Role.owner)

    assert await users_service.workspace_owner(ctx) == world.owner.user_id
