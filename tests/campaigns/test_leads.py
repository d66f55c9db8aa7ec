"""Leads and the campaign they came from: named by id, or found by `utm_campaign`."""

import httpx

from tests.conftest import World
from tests.factories import make_campaign, make_lead

LEADS = "/api/v1/leads"


class TestLinkedByUtmCampaign:
    async def test_a_lead_whose_utm_campaign_is_a_campaigns_key_is_linked_to_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        campaign = await make_campaign(client, world.admin.headers, key="tet-2027")

        lead = await make_lead(
            client, world.sales.headers, utm_source="facebook", utm_campaign="tet-2027"
        )
        listed = await client.get(
            LEADS, params={"campaign_id": campaign["id"]}, headers=world.sales.headers
        )

        assert lead["campaign_id"] == campaign["id"]
        assert lead["utm_campaign"] == "tet-2027"  # kept as it came
        assert [found["id"] for found in listed.json()["data"]] == [lead["id"]]

    async def test_the_key_is_found_whatever_the_case_and_spaces_of_the_ads_url(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        campaign = await make_campaign(client, world.admin.headers, key="tet-2027")

        lead = await make_lead(client, world.sales.headers, utm_campaign=" Tet-2027 ")

        assert lead["campaign_id"] == campaign["id"]

    async def test_an_unknown_or_deleted_campaigns_key_links_nothing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        deleted = await make_campaign(client, world.admin.headers, key="he-2026")
        await client.delete(f"/api/v1/campaigns/{deleted['id']}", headers=world.admin.headers)
        await make_campaign(client, world.other_owner.headers, key="tet-2027")

        leads = [
            await make_lead(client, world.sales.headers, utm_campaign=utm)
            for utm in ("he-2026", "tet-2027", "Tết 2027 – giảm giá!")
        ]

        assert [lead["campaign_id"] for lead in leads] == [None, None, None]

    async def test_a_campaign_id_sent_wins_over_utm_campaign(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_campaign(client, world.admin.headers, key="tet-2027")
        named = await make_campaign(client, world.admin.headers, key="zalo-oa")

        lead = await make_lead(
            client, world.sales.headers, utm_campaign="tet-2027", campaign_id=named["id"]
        )

        assert lead["campaign_id"] == named["id"]

    async def test_a_new_utm_campaign_on_an_update_does_not_move_the_lead(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_campaign(client, world.admin.headers, key="tet-2027")
        await make_campaign(client, world.admin.headers, key="he-2027")
        lead = await make_lead(client, world.sales.headers, utm_campaign="tet-2027")

        updated = await client.patch(
            f"{LEADS}/{lead['id']}", json={"utm_campaign": "he-2027"}, headers=world.sales.headers
        )

        assert updated.json()["campaign_id"] == first["id"]


class TestNamedCampaign:
    async def test_a_sales_user_links_a_lead_to_a_campaign_and_moves_it_to_another(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_campaign(client, world.admin.headers)
        second = await make_campaign(client, world.admin.headers)
        lead = await make_lead(client, world.sales.headers, campaign_id=first["id"])

        moved = await client.patch(
            f"{LEADS}/{lead['id']}", json={"campaign_id": second["id"]}, headers=world.sales.headers
        )
        unlinked = await client.patch(
            f"{LEADS}/{lead['id']}", json={"campaign_id": None}, headers=world.sales.headers
        )

        assert lead["campaign_id"] == first["id"]
        assert moved.json()["campaign_id"] == second["id"]
        assert unlinked.json()["campaign_id"] is None

    async def test_another_workspaces_deleted_or_no_campaign_is_422_naming_campaign_id(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = await make_campaign(client, world.other_owner.headers)
        deleted = await make_campaign(client, world.admin.headers)
        await client.delete(f"/api/v1/campaigns/{deleted['id']}", headers=world.admin.headers)
        lead = await make_lead(client, world.sales.headers)
        not_a_campaign = lead["id"]

        for campaign_id in (theirs["id"], deleted["id"], not_a_campaign):
            created = await client.post(
                LEADS,
                json={"full_name": "Lạc", "campaign_id": campaign_id},
                headers=world.sales.headers,
            )
            updated = await client.patch(
                f"{LEADS}/{lead['id']}",
                json={"campaign_id": campaign_id},
                headers=world.sales.headers,
            )
            for response in (created, updated):
                assert response.status_code == 422, response.text
                assert response.json()["errors"] == [
                    {"field": "campaign_id", "message": "not a campaign you can see"}
                ]

    async def test_a_lead_keeps_its_campaign_once_the_campaign_is_deleted(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        campaign = await make_campaign(client, world.admin.headers)
        lead = await make_lead(client, world.sales.headers, campaign_id=campaign["id"])
        await client.delete(f"/api/v1/campaigns/{campaign['id']}", headers=world.admin.headers)

        renamed = await client.patch(
            f"{LEADS}/{lead['id']}",
            json={"full_name": "Nguyễn Văn Ánh (VIP)", "campaign_id": campaign["id"]},
            headers=world.sales.headers,
        )

        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["campaign_id"] == campaign["id"]
