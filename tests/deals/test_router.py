"""Deals and their stage moves through the HTTP API, as a sales team uses them."""

import httpx
import pytest

from tests.conftest import World
from tests.factories import default_pipeline, make_account, make_deal, make_pipeline

DEALS = "/api/v1/deals"


async def stages(http: httpx.AsyncClient, world: World) -> dict[str, dict]:
    """The default pipeline's stages by English name."""
    default = await default_pipeline(http, world.sales.headers)
    return {s["name_en"]: s for s in default["stages"]}


async def move(
    http: httpx.AsyncClient, deal: dict, headers: dict[str, str], **body: object
) -> httpx.Response:
    return await http.post(f"{DEALS}/{deal['id']}/stage", json=body, headers=headers)


class TestCreateDeal:
    async def test_starts_in_the_default_pipelines_first_open_stage(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_name = await stages(client, world)

        deal = await make_deal(client, world.sales.headers, amount="2850000000")
        history = await client.get(
            f"{DEALS}/{deal['id']}/stage-history", headers=world.sales.headers
        )

        prospecting = by_name["Prospecting"]
        assert deal["stage_id"] == prospecting["id"]
        assert deal["probability"] == prospecting["probability"]
        assert (deal["status"], deal["closed_at"], deal["currency"]) == ("open", None, "VND")
        assert deal["amount"] == "2850000000"
        assert deal["owner_id"] == str(world.sales.user_id)
        assert history.json()["data"] == [
            {
                "from_stage_id": None,
                "to_stage_id": prospecting["id"],
                "moved_at": deal["created_at"],
                "moved_by": str(world.sales.user_id),
                "seconds_in_previous_stage": None,
            }
        ]

    @pytest.mark.parametrize(
        ("amount", "currency", "stored"),
        [("99.5", "USD", "99.50"), ("1500000000", "VND", "1500000000"), ("1.25", "KWD", "1.250")],
    )
    async def test_an_amount_is_written_with_its_currencys_minor_units(
        self, client: httpx.AsyncClient, world: World, amount: str, currency: str, stored: str
    ) -> None:
        deal = await make_deal(client, world.sales.headers, amount=amount, currency=currency)

        listed = await client.get(
            DEALS, params={"q": "minh phat", "amount_min": amount}, headers=world.sales.headers
        )

        assert deal["amount"] == stored
        assert [d["amount"] for d in listed.json()["data"]] == [stored]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"amount": "1500000.5"}, "amount"),  # VND has no minor unit
            ({"amount": "10", "currency": "ABC"}, "currency"),
            ({"amount": "-1"}, "amount"),
            ({"probability": 101}, "probability"),
        ],
    )
    async def test_money_and_probability_out_of_bounds_are_422(
        self, client: httpx.AsyncClient, world: World, body: dict, field: str
    ) -> None:
        response = await client.post(
            DEALS, json={"name": "Sai", **body}, headers=world.sales.headers
        )

        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]

    async def test_another_workspaces_pipeline_or_account_is_422_and_nothing_is_stored(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = (await client.get("/api/v1/pipelines", headers=world.other_owner.headers)).json()
        account = await make_account(client, world.other_owner.headers, name="Đối thủ")

        on_pipeline = await client.post(
            DEALS,
            json={"name": "Lạc đường", "pipeline_id": theirs["data"][0]["id"]},
            headers=world.sales.headers,
        )
        on_account = await client.post(
            DEALS,
            json={"name": "Lạc đường", "account_id": account["id"]},
            headers=world.sales.headers,
        )
        listed = await client.get(DEALS, params={"q": "lac duong"}, headers=world.sales.headers)

        assert on_pipeline.status_code == 422
        assert on_pipeline.json()["errors"][0]["field"] == "pipeline_id"
        assert on_account.status_code == 422
        assert on_account.json()["errors"][0]["field"] == "account_id"
        assert listed.json()["data"] == []


class TestStageMoves:
    async def test_won_closes_the_deal_and_makes_its_prospect_a_customer(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_name = await stages(client, world)
        account_id = (await make_account(client, world.sales.headers, name="Hòa Phát"))["id"]
        deal = await make_deal(client, world.sales.headers, account_id=account_id)

        won = await move(client, deal, world.sales.headers, stage_id=by_name["Won"]["id"])
        account_now = await client.get(
            f"/api/v1/accounts/{account_id}/history", headers=world.sales.headers
        )

        assert won.status_code == 200
        assert (won.json()["status"], won.json()["probability"]) == ("won", 100)
        assert won.json()["closed_at"] is not None
        last = account_now.json()["data"][-1]
        assert last["changes"] == {"type": {"old": "prospect", "new": "customer"}}
        assert last["actor_id"] == str(world.sales.user_id)

    async def test_lost_needs_a_reason_and_reopening_clears_the_close(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_name = await stages(client, world)
        deal = await make_deal(client, world.sales.headers)
        lost_id = by_name["Lost"]["id"]

        no_reason = await move(client, deal, world.sales.headers, stage_id=lost_id)
        lost = await move(
            client, deal, world.sales.headers, stage_id=lost_id, lost_reason="Giá cao hơn đối thủ"
        )
        reopened = await move(
            client, deal, world.sales.headers, stage_id=by_name["Negotiation"]["id"]
        )

        assert no_reason.status_code == 422
        assert no_reason.json()["errors"][0]["field"] == "lost_reason"
        assert (lost.json()["status"], lost.json()["lost_reason"]) == (
            "lost",
            "Giá cao hơn đối thủ",
        )
        assert lost.json()["closed_at"] is not None
        body = reopened.json()
        assert (body["status"], body["closed_at"], body["lost_reason"]) == ("open", None, None)
        assert body["probability"] == by_name["Negotiation"]["probability"]

    async def test_a_stage_of_another_pipeline_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        other = await make_pipeline(client, world.admin.headers, name="Dịch vụ")
        deal = await make_deal(client, world.sales.headers)

        response = await move(client, deal, world.sales.headers, stage_id=other["stages"][0]["id"])

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "stage_id"

    async def test_a_stale_if_match_is_412_and_moves_nothing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_name = await stages(client, world)
        deal = await make_deal(client, world.sales.headers)
        await client.patch(
            f"{DEALS}/{deal['id']}", json={"amount": "100000000"}, headers=world.sales.headers
        )

        stale = await client.post(
            f"{DEALS}/{deal['id']}/stage",
            json={"stage_id": by_name["Proposal"]["id"]},
            headers={**world.sales.headers, "If-Match": '"1"'},
        )
        after = await client.get(f"{DEALS}/{deal['id']}", headers=world.sales.headers)

        assert stale.status_code == 412
        assert after.json()["stage_id"] == deal["stage_id"]

    async def test_stage_history_keeps_every_move_oldest_first(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_name = await stages(client, world)
        deal = await make_deal(client, world.sales.headers)

        await move(client, deal, world.sales.headers, stage_id=by_name["Proposal"]["id"])
        patched = await client.patch(
            f"{DEALS}/{deal['id']}",
            json={"stage_id": by_name["Negotiation"]["id"], "probability": 90},
            headers=world.sales.headers,
        )
        history = await client.get(
            f"{DEALS}/{deal['id']}/stage-history", headers=world.sales.headers
        )

        moves = history.json()["data"]
        path = [(m["from_stage_id"], m["to_stage_id"]) for m in moves]
        assert path == [
            (None, by_name["Prospecting"]["id"]),
            (by_name["Prospecting"]["id"], by_name["Proposal"]["id"]),
            (by_name["Proposal"]["id"], by_name["Negotiation"]["id"]),
        ]
        assert all(m["seconds_in_previous_stage"] >= 0 for m in moves[1:])
        assert patched.json()["probability"] == 90

    async def test_stage_history_comes_a_page_at_a_time(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_name = await stages(client, world)
        deal = await make_deal(client, world.sales.headers)
        for name in ("Proposal", "Negotiation", "Proposal", "Negotiation"):  # back and forth
            await move(client, deal, world.sales.headers, stage_id=by_name[name]["id"])
        url = f"{DEALS}/{deal['id']}/stage-history"

        first = await client.get(url, params={"limit": 2}, headers=world.sales.headers)
        rest = await client.get(
            url, params={"limit": 2, "cursor": first.json()["next_cursor"]},
            headers=world.sales.headers,
        )  # fmt: skip
        last = await client.get(
            url, params={"limit": 2, "cursor": rest.json()["next_cursor"]},
            headers=world.sales.headers,
        )  # fmt: skip
        too_many = await client.get(url, params={"limit": 201}, headers=world.sales.headers)

        moves = [m["to_stage_id"] for page in (first, rest, last) for m in page.json()["data"]]
        assert moves == [by_name[n]["id"] for n in (
            "Prospecting", "Proposal", "Negotiation", "Proposal", "Negotiation",
        )]  # fmt: skip
        assert last.json()["next_cursor"] is None
        assert too_many.status_code == 422

    async def test_patching_straight_to_lost_follows_the_same_rule(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_name = await stages(client, world)
        deal = await make_deal(client, world.sales.headers)

        response = await client.patch(
            f"{DEALS}/{deal['id']}",
            json={"stage_id": by_name["Lost"]["id"]},
            headers=world.sales.headers,
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "lost_reason"


class TestListDeals:
    async def test_a_deal_reads_the_same_in_a_list_as_on_its_own(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        deal = await make_deal(
            client, world.sales.headers, name="Giống hệt", amount="1500000000",
            expected_close_date="2027-01-20", tags=["xe tải"],
        )  # fmt: skip

        listed = await client.get(DEALS, params={"q": "giong het"}, headers=world.sales.headers)
        alone = await client.get(f"{DEALS}/{deal['id']}", headers=world.sales.headers)

        assert listed.json()["data"] == [alone.json()]
        assert alone.json()["amount"] == "1500000000"

    async def test_filters_by_status_amount_and_expected_close(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_name = await stages(client, world)
        match = await make_deal(
            client, world.sales.headers, name="Đúng", amount="500000000",
            expected_close_date="2027-01-20",
        )  # fmt: skip
        await make_deal(
            client, world.sales.headers, name="Quá nhỏ", amount="1000",
            expected_close_date="2027-01-20",
        )  # fmt: skip
        await make_deal(
            client, world.sales.headers, name="Quá muộn", amount="500000000",
            expected_close_date="2027-03-01",
        )  # fmt: skip
        closed = await make_deal(client, world.sales.headers, name="Đã thắng", amount="500000000")
        await move(client, closed, world.sales.headers, stage_id=by_name["Won"]["id"])

        page = await client.get(
            DEALS,
            params={
                "status": "open",
                "amount_min": "1000000",
                "expected_close_before": "2027-02-01",
            },
            headers=world.sales.headers,
        )

        assert [d["id"] for d in page.json()["data"]] == [match["id"]]

    async def test_an_accounts_deals_and_another_teams_deals(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account_id = (await make_account(client, world.sales.headers, name="Thành Công"))["id"]
        ours = await make_deal(client, world.sales.headers, account_id=account_id)
        theirs = await make_deal(client, world.outsider.headers, name="Đội Nam")

        by_account = await client.get(
            f"/api/v1/accounts/{account_id}/deals", headers=world.sales.headers
        )
        hidden = await client.get(f"{DEALS}/{theirs['id']}", headers=world.sales.headers)

        assert [d["id"] for d in by_account.json()["data"]] == [ours["id"]]
        assert hidden.status_code == 404
