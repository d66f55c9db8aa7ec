"""What a campaign brought in: its leads, their conversions and the deals those won."""

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import records, sql
from app.core.driver import driver_connection
from tests.conftest import World, seed_as_owner
from tests.factories import default_pipeline, make_campaign, make_lead

API = "/api/v1"


async def _stats(http: httpx.AsyncClient, campaign: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await http.get(f"{API}/campaigns/{campaign['id']}/stats", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _converted_with_deal(
    http: httpx.AsyncClient, lead: dict[str, Any], headers: dict[str, str], **deal: object
) -> dict[str, Any]:
    """The deal the lead's conversion made."""
    response = await http.post(
        f"{API}/leads/{lead['id']}/convert", json={"deal": deal}, headers=headers
    )
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()["deal"]
    return made


async def _moved(
    http: httpx.AsyncClient, deal: dict[str, Any], kind: str, headers: dict[str, str]
) -> None:
    """The deal moved to its pipeline's first stage of `kind` (won or lost)."""
    pipeline = await default_pipeline(http, headers)
    stage = next(s for s in pipeline["stages"] if s["kind"] == kind)
    body = {"stage_id": stage["id"], "lost_reason": "Giá cao" if kind == "lost" else None}
    response = await http.post(f"{API}/deals/{deal['id']}/stage", json=body, headers=headers)
    assert response.status_code == 200, response.text


class TestCampaignStats:
    async def test_counts_live_leads_conversions_and_the_won_deals_they_made(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        sales = world.sales.headers
        campaign = await make_campaign(client, world.admin.headers, budget="50000000")
        linked = {"campaign_id": campaign["id"]}
        won_vnd, won_usd, open_deal, lost, plain = [
            await make_lead(client, sales, full_name=name, **linked)
            for name in ("Nguyễn Văn Ánh", "Trần Thị Lan", "Lê Minh", "Phạm Hùng", "Đỗ Thu")
        ]
        await make_lead(client, sales, full_name="Không chiến dịch")  # another campaign's: none
        deleted = await make_lead(client, sales, full_name="Đã xoá", **linked)
        await client.delete(f"{API}/leads/{deleted['id']}", headers=sales)

        vnd = await _converted_with_deal(client, won_vnd, sales, amount="1500000000")
        usd = await _converted_with_deal(client, won_usd, sales, amount="20000", currency="USD")
        await _converted_with_deal(client, open_deal, sales, amount="900000000")
        lost_deal = await _converted_with_deal(client, lost, sales, amount="700000000")
        for deal, kind in ((vnd, "won"), (usd, "won"), (lost_deal, "lost")):
            await _moved(client, deal, kind, sales)

        stats = await _stats(client, campaign, sales)

        assert stats == {
            "campaign_id": campaign["id"],
            "leads": 5,
            "converted_leads": 4,
            "won_deals": 2,
            "won_amount": [
                {"currency": "USD", "amount": "20000.00"},
                {"currency": "VND", "amount": "1500000000"},
            ],
            "budget": "50000000",
            "currency": "VND",
            "cost_per_lead": "10000000",
        }
        assert plain["converted_at"] is None

    async def test_a_won_deal_reopened_or_deleted_no_longer_counts(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        sales = world.sales.headers
        campaign = await make_campaign(client, world.admin.headers)
        first, second = [
            await make_lead(client, sales, campaign_id=campaign["id"]) for _ in range(2)
        ]
        reopened = await _converted_with_deal(client, first, sales, amount="100000000")
        deleted = await _converted_with_deal(client, second, sales, amount="200000000")
        for deal in (reopened, deleted):
            await _moved(client, deal, "won", sales)
        before = await _stats(client, campaign, sales)

        await _moved(client, reopened, "open", sales)
        await client.delete(f"{API}/deals/{deleted['id']}", headers=sales)
        after = await _stats(client, campaign, sales)

        assert (before["won_deals"], before["won_amount"]) == (
            2, [{"currency": "VND", "amount": "300000000"}]
        )  # fmt: skip
        assert (after["won_deals"], after["won_amount"]) == (0, [])
        assert after["converted_leads"] == 2

    async def test_cost_per_lead_is_rounded_to_the_currencys_minor_units(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        vnd = await make_campaign(client, world.admin.headers, budget="200000")
        usd = await make_campaign(client, world.admin.headers, budget="100", currency="USD")
        for campaign in (vnd, usd):
            for _ in range(3):
                await make_lead(client, world.sales.headers, campaign_id=campaign["id"])

        assert (await _stats(client, vnd, world.sales.headers))["cost_per_lead"] == "66667"
        assert (await _stats(client, usd, world.sales.headers))["cost_per_lead"] == "33.33"

    async def test_no_cost_per_lead_without_a_budget_or_without_leads(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        unbudgeted = await make_campaign(client, world.admin.headers)
        await make_lead(client, world.sales.headers, campaign_id=unbudgeted["id"])
        unused = await make_campaign(client, world.admin.headers, budget="10000000")

        without_budget = await _stats(client, unbudgeted, world.sales.headers)
        without_leads = await _stats(client, unused, world.sales.headers)

        assert (without_budget["leads"], without_budget["cost_per_lead"]) == (1, None)
        assert (without_leads["leads"], without_leads["cost_per_lead"]) == (0, None)
        assert (without_leads["won_deals"], without_leads["won_amount"]) == (0, [])

    async def test_leads_the_viewer_cannot_see_are_counted_too(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        campaign = await make_campaign(client, world.admin.headers)
        await make_lead(client, world.outsider.headers, campaign_id=campaign["id"])

        stats = await _stats(client, campaign, world.sales.headers)

        assert stats["leads"] == 1

    async def test_a_deleted_campaign_has_no_stats(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        campaign = await make_campaign(client, world.admin.headers)
        await client.delete(f"{API}/campaigns/{campaign['id']}", headers=world.admin.headers)

        response = await client.get(
            f"{API}/campaigns/{campaign['id']}/stats", headers=world.admin.headers
        )

        assert response.status_code == 404
        assert response.json()["code"] == "campaign_not_found"


LEADS = 40_000
FILL = [
    # Two leads in 800 from the campaign; every other lead converted.
    """INSERT INTO leads (workspace_id, id, full_name, status, source, qualification, score,
        tags, custom_fields, search_text, campaign_id, converted_at, created_at, updated_at,
        version)
    SELECT :w, gen_random_uuid(), 'Trần ' || n, 'new', 'other', 'none', 0, '{}', '{}',
        'tran ' || n, CASE WHEN n % 800 < 2 THEN CAST(:c AS uuid) END,
        CASE WHEN n % 2 = 0 THEN now() END, now(), now(), 1
    FROM generate_series(1, :rows) AS n""",
    # Each converted lead's deal, won.
    """INSERT INTO deals (workspace_id, id, name, pipeline_id, stage_id, amount, currency,
        probability, status, tags, custom_fields, search_text, source_lead_id, created_at,
        updated_at, version)
    SELECT :w, gen_random_uuid(), 'Xe', s.pipeline_id, s.id, 1000000, 'VND', 100, 'won', '{}',
        '{}', 'xe', l.id, now(), now(), 1
    FROM leads AS l, (SELECT pipeline_id, id FROM pipeline_stages WHERE workspace_id = :w
        AND kind = 'won' LIMIT 1) AS s
    WHERE l.workspace_id = :w AND l.converted_at IS NOT NULL""",
    """UPDATE leads SET converted_deal_id = d.id FROM deals AS d
    WHERE d.workspace_id = :w AND leads.workspace_id = :w AND d.source_lead_id = leads.id""",
]


class TestStatsStatements:
    async def test_on_a_large_workspace_they_walk_the_campaigns_leads_and_deals_by_index(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        world: World,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        campaign = await make_campaign(client, world.admin.headers, budget="5000000")
        workspace = str(world.owner.workspace_id)
        await seed_as_owner(
            session, FILL, {"w": workspace, "c": campaign["id"], "rows": LEADS},
            analyze=["leads", "deals"],
        )  # fmt: skip
        plans: list[str] = []
        original = records.read_rows

        async def read_and_explain(ctx: Any, statement: Any) -> Any:
            query, args = sql.driver_arguments(statement, ctx.session.get_bind().dialect)
            driver = await driver_connection(ctx.session)
            plan = await driver.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
            plans.append(json.dumps(plan) if not isinstance(plan, str) else plan)
            return await original(ctx, statement)

        monkeypatch.setattr(records, "read_rows", read_and_explain)

        stats = await _stats(client, campaign, world.sales.headers)

        assert (stats["leads"], stats["converted_leads"], stats["won_deals"]) == (100, 50, 50)
        assert stats["cost_per_lead"] == "50000"
        counted, won = plans
        assert "ix_leads_campaign" in counted
        assert "ix_leads_campaign" in won
        # Each won deal is one index look-up from its lead: by its key (the lead's
        # `converted_deal_id`) or by its reference back (`source_lead_id`).
        assert "pk_deals" in won or "ix_deals_source_lead_id" in won, won
        assert "Seq Scan" not in counted + won
