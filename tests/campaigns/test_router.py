"""Campaigns through the HTTP API: admins shape them, every member reads them."""

import base64
import json
from typing import Any

import httpx
import pytest

from tests.conftest import World, sign_up
from tests.factories import make_campaign

CAMPAIGNS = "/api/v1/campaigns"


def _invalid_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    return [e["field"] for e in response.json()["errors"]]


async def _all_pages(
    http: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await http.get(
            CAMPAIGNS, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert page.status_code == 200, page.text
        seen += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen


class TestCreateCampaign:
    async def test_an_admin_makes_one_active_in_the_workspaces_currency(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            CAMPAIGNS,
            json={"name": "Khuyến mãi Tết 2027", "key": "tet-2027", "channel": "facebook",
                  "budget": "50000000", "starts_on": "2027-01-10", "ends_on": "2027-02-15"},
            headers=world.admin.headers,
        )  # fmt: skip

        assert response.status_code == 201, response.text
        made = response.json()
        assert response.headers["ETag"] == '"1"'
        assert (made["status"], made["currency"], made["budget"]) == ("active", "VND", "50000000")
        assert (made["starts_on"], made["ends_on"]) == ("2027-01-10", "2027-02-15")

    async def test_a_budget_is_kept_in_its_currencys_minor_units(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_campaign(
            client, world.owner.headers, budget="1200.5", currency="USD", channel="google"
        )

        assert (made["budget"], made["currency"]) == ("1200.50", "USD")

    async def test_sales_staff_cannot_make_one(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            CAMPAIGNS, json={"name": "Hè 2027", "key": "he-2027"}, headers=world.sales.headers
        )

        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    @pytest.mark.parametrize(
        "key", ["Tết-2027", "TET-2027", "-tet", "tet 2027", "", "a" * 101, "tet/2027"]
    )
    async def test_a_key_that_is_not_a_lower_case_slug_is_422(
        self, client: httpx.AsyncClient, world: World, key: str
    ) -> None:
        response = await client.post(
            CAMPAIGNS, json={"name": "Tết", "key": key}, headers=world.admin.headers
        )

        assert _invalid_fields(response) == ["key"]

    async def test_a_key_another_campaign_has_even_deleted_is_409(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_campaign(client, world.admin.headers, key="zalo-he-2027")
        await client.delete(f"{CAMPAIGNS}/{first['id']}", headers=world.admin.headers)

        again = await client.post(
            CAMPAIGNS, json={"name": "Hè", "key": "zalo-he-2027"}, headers=world.admin.headers
        )

        assert again.status_code == 409
        assert again.json()["code"] == "campaign_key_taken"
        assert "zalo-he-2027" in again.json()["detail"]

    async def test_another_workspace_may_use_the_same_key(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        mine = await make_campaign(client, world.admin.headers, key="black-friday")

        theirs = await make_campaign(client, world.other_owner.headers, key="black-friday")

        assert theirs["key"] == mine["key"]
        assert theirs["id"] != mine["id"]

    async def test_ending_before_it_starts_is_422_naming_ends_on(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            CAMPAIGNS,
            json={"name": "Tết", "key": "tet", "starts_on": "2027-02-01", "ends_on": "2027-01-31"},
            headers=world.admin.headers,
        )

        assert _invalid_fields(response) == ["ends_on"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"budget": "1000000.5"}, "budget"),  # no fractions of a đồng
            ({"budget": "10.001", "currency": "USD"}, "budget"),
            ({"budget": "-1"}, "budget"),
            ({"currency": "ABC"}, "currency"),
            ({"currency": "vnd"}, "currency"),
            ({"channel": "radio"}, "channel"),
            ({"status": "done"}, "status"),
        ],
    )
    async def test_money_channel_and_status_out_of_their_sets_are_422(
        self, client: httpx.AsyncClient, world: World, body: dict[str, str], field: str
    ) -> None:
        response = await client.post(
            CAMPAIGNS, json={"name": "Tết", "key": "tet", **body}, headers=world.admin.headers
        )

        assert _invalid_fields(response) == [field]


class TestUpdateCampaign:
    async def test_only_the_fields_sent_change_and_history_keeps_them(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_campaign(client, world.admin.headers, budget="50000000")
        url = f"{CAMPAIGNS}/{made['id']}"

        response = await client.patch(
            url, json={"status": "paused", "budget": "65000000"}, headers=world.owner.headers
        )
        history = await client.get(f"{url}/history", headers=world.sales.headers)

        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["budget"]) == ("paused", "65000000")
        assert response.json()["name"] == made["name"]
        changed = history.json()["data"][-1]["changes"]
        assert changed["status"] == {"old": "active", "new": "paused"}

    async def test_a_stale_if_match_is_412(self, client: httpx.AsyncClient, world: World) -> None:
        made = await make_campaign(client, world.admin.headers)
        url = f"{CAMPAIGNS}/{made['id']}"
        await client.patch(url, json={"status": "paused"}, headers=world.admin.headers)

        stale = await client.patch(
            url, json={"status": "completed"}, headers={**world.admin.headers, "If-Match": '"1"'}
        )

        assert stale.status_code == 412

    async def test_sales_staff_cannot_change_delete_or_restore_one(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_campaign(client, world.admin.headers)
        url = f"{CAMPAIGNS}/{made['id']}"

        refused = [
            await client.patch(url, json={"status": "paused"}, headers=world.sales.headers),
            await client.delete(url, headers=world.manager.headers),
            await client.post(f"{url}/restore", headers=world.sales.headers),
        ]

        assert [r.status_code for r in refused] == [403, 403, 403]
        still = await client.get(url, headers=world.sales.headers)
        assert (still.json()["status"], still.json()["deleted_at"]) == ("active", None)

    async def test_taking_another_campaigns_key_is_409(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_campaign(client, world.admin.headers, key="tiktok-1")
        other = await make_campaign(client, world.admin.headers, key="tiktok-2")

        response = await client.patch(
            f"{CAMPAIGNS}/{other['id']}", json={"key": "tiktok-1"}, headers=world.admin.headers
        )
        unchanged = await client.get(f"{CAMPAIGNS}/{other['id']}", headers=world.admin.headers)

        assert response.status_code == 409
        assert response.json()["code"] == "campaign_key_taken"
        assert unchanged.json()["key"] == "tiktok-2"

    async def test_dates_are_checked_against_the_one_kept(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_campaign(
            client, world.admin.headers, starts_on="2027-01-10", ends_on="2027-02-15"
        )
        url = f"{CAMPAIGNS}/{made['id']}"

        late_start = await client.patch(
            url, json={"starts_on": "2027-03-01"}, headers=world.admin.headers
        )
        early_end = await client.patch(
            url, json={"ends_on": "2027-01-09"}, headers=world.admin.headers
        )
        open_ended = await client.patch(url, json={"ends_on": None}, headers=world.admin.headers)

        assert _invalid_fields(late_start) == ["starts_on"]
        assert _invalid_fields(early_end) == ["ends_on"]
        assert open_ended.status_code == 200
        assert open_ended.json()["ends_on"] is None

    async def test_a_new_currency_must_fit_the_budget_kept(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_campaign(client, world.admin.headers, budget="99.50", currency="USD")
        url = f"{CAMPAIGNS}/{made['id']}"

        to_vnd = await client.patch(url, json={"currency": "VND"}, headers=world.admin.headers)
        both = await client.patch(
            url, json={"currency": "VND", "budget": "2500000"}, headers=world.admin.headers
        )

        assert _invalid_fields(to_vnd) == ["currency"]
        assert (both.json()["currency"], both.json()["budget"]) == ("VND", "2500000")


class TestReadCampaigns:
    async def test_every_member_reads_them_the_same_in_a_list_as_alone(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_campaign(
            client, world.admin.headers, budget="99.50", currency="USD", starts_on="2027-01-10"
        )

        listed = await client.get(CAMPAIGNS, headers=world.outsider.headers)
        alone = await client.get(f"{CAMPAIGNS}/{made['id']}", headers=world.sales.headers)

        assert [c for c in listed.json()["data"] if c["id"] == made["id"]] == [made]
        assert alone.json() == made
        assert alone.headers["ETag"] == '"1"'

    async def test_another_workspace_sees_nothing_of_them(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_campaign(client, world.admin.headers)
        url = f"{CAMPAIGNS}/{made['id']}"
        stranger = world.other_owner.headers

        listed = await client.get(CAMPAIGNS, headers=stranger)
        answers = [
            await client.get(url, headers=stranger),
            await client.get(f"{url}/stats", headers=stranger),
            await client.get(f"{url}/history", headers=stranger),
            await client.patch(url, json={"status": "paused"}, headers=stranger),
            await client.delete(url, headers=stranger),
        ]

        assert made["id"] not in [c["id"] for c in listed.json()["data"]]
        assert [a.status_code for a in answers] == [404] * 5
        assert {a.json()["code"] for a in answers} == {"campaign_not_found"}

    async def test_deleted_ones_leave_the_list_and_come_back_restored(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_campaign(client, world.admin.headers)
        url = f"{CAMPAIGNS}/{made['id']}"

        await client.delete(url, headers=world.admin.headers)
        hidden = await client.get(CAMPAIGNS, headers=world.admin.headers)
        with_deleted = await client.get(
            CAMPAIGNS, params={"include_deleted": "true"}, headers=world.admin.headers
        )
        gone = await client.get(url, headers=world.admin.headers)
        restored = await client.post(f"{url}/restore", headers=world.admin.headers)

        assert made["id"] not in [c["id"] for c in hidden.json()["data"]]
        assert made["id"] in [c["id"] for c in with_deleted.json()["data"]]
        assert gone.status_code == 404
        assert restored.status_code == 200
        assert restored.json()["deleted_at"] is None

    async def test_filters_by_status_and_channel_and_searches_name_and_key(
        self, client: httpx.AsyncClient
    ) -> None:
        own = (await sign_up(client, "Chiến dịch"))["headers"]
        tet = await make_campaign(client, own, name="Khuyến mãi Tết", key="fb-01")
        zalo = await make_campaign(
            client, own, name="Đồng hành mùa hè", key="zalo-he", channel="zalo", status="paused"
        )
        await make_campaign(client, own, name="Hội chợ ô tô", key="event-03", channel="event")

        async def ids(**params: str | list[str]) -> list[str]:
            page = await client.get(CAMPAIGNS, params=params, headers=own)
            assert page.status_code == 200, page.text
            return [c["id"] for c in page.json()["data"]]

        assert await ids(status="paused") == [zalo["id"]]
        assert set(await ids(channel=["facebook", "zalo"])) == {tet["id"], zalo["id"]}
        assert await ids(q="tet") == [tet["id"]]  # "Tết" without its diacritics
        assert await ids(q="dong hanh") == [zalo["id"]]
        assert await ids(q="ZALO-HE") == [zalo["id"]]  # the key, in any case

    async def test_sorted_by_start_date_undated_ones_come_last_on_every_page(
        self, client: httpx.AsyncClient
    ) -> None:
        own = (await sign_up(client, "Theo ngày"))["headers"]
        dates = ["2027-03-01", None, "2027-01-01", None, "2027-02-01", "2027-01-01"]
        made = [await make_campaign(client, own, starts_on=d) for d in dates]
        dated = sorted((c for c in made if c["starts_on"]), key=lambda c: (c["starts_on"], c["id"]))
        undated = sorted((c for c in made if not c["starts_on"]), key=lambda c: c["id"])

        ascending = await _all_pages(client, own, sort="starts_on", limit=2)
        descending = await _all_pages(client, own, sort="-starts_on", limit=2)
        by_name = await _all_pages(client, own, sort="name", limit=4)

        assert [c["id"] for c in ascending] == [c["id"] for c in dated + undated]
        assert [c["id"] for c in descending] == [c["id"] for c in (dated + undated)[::-1]]
        assert len(by_name) == len(made)

    @pytest.mark.parametrize("value", [12, "2027-13-01", "2027-01-01T00:00:00"])
    async def test_a_forged_start_date_cursor_is_422(
        self, client: httpx.AsyncClient, world: World, value: object
    ) -> None:
        raw = json.dumps(["starts_on", value, "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f"])
        forged = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

        response = await client.get(
            CAMPAIGNS, params={"sort": "starts_on", "cursor": forged}, headers=world.admin.headers
        )

        assert _invalid_fields(response) == ["cursor"]
