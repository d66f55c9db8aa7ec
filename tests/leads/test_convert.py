"""Lead conversion through the HTTP API: all or nothing, once, and remembered."""

import asyncio

import httpx

from tests.conftest import World, sign_up
from tests.factories import default_pipeline, make_account, make_contact, make_lead, make_pipeline

LEADS = "/api/v1/leads"
# The lead most tests convert: what its contact, account and deal are made from.
MINH_PHAT = {
    "full_name": "Nguyễn Văn Ánh", "company_name": "Công ty TNHH Minh Phát",
    "email": "anh@minhphat.vn", "phone": "0912 345 678", "title": "Giám đốc",
    "province": "Hà Nội", "industry": "Ô tô",
}  # fmt: skip


async def convert(
    http: httpx.AsyncClient, lead_id: str, headers: dict[str, str], body: object = None
) -> httpx.Response:
    return await http.post(f"{LEADS}/{lead_id}/convert", json=body, headers=headers)


async def count(http: httpx.AsyncClient, path: str, q: str, headers: dict[str, str]) -> int:
    page = await http.get(f"/api/v1/{path}", params={"q": q, "limit": 200}, headers=headers)
    return len(page.json()["data"])


class TestConvert:
    async def test_by_default_a_company_account_and_a_linked_contact_from_the_lead(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_lead(client, world.sales.headers, **MINH_PHAT)

        response = await convert(client, made["id"], world.sales.headers)
        history = await client.get(f"{LEADS}/{made['id']}/history", headers=world.sales.headers)

        assert response.status_code == 200, response.text
        done = response.json()
        account, contact = done["account"], done["contact"]
        assert (account["name"], account["type"]) == ("Công ty TNHH Minh Phát", "prospect")
        assert (account["industry"], account["province"]) == ("Ô tô", "Hà Nội")
        assert (contact["full_name"], contact["email"]) == ("Nguyễn Văn Ánh", "anh@minhphat.vn")
        assert (contact["phone_e164"], contact["title"]) == ("+84912345678", "Giám đốc")
        assert contact["accounts"] == [
            {"account_id": account["id"], "role": None, "is_primary": True}
        ]
        assert done["deal"] is None
        converted = done["lead"]
        assert converted["status"] == "converted"
        assert converted["converted_account_id"] == account["id"]
        assert converted["converted_contact_id"] == contact["id"]
        assert converted["converted_deal_id"] is None
        assert converted["converted_at"] is not None
        last = history.json()["data"][-1]
        assert last["action"] == "converted"
        assert last["changes"]["status"] == {"old": "new", "new": "converted"}

    async def test_with_a_deal_that_points_at_all_three(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_lead(client, world.sales.headers, **MINH_PHAT)

        response = await convert(
            client, made["id"], world.sales.headers,
            {"deal": {"amount": "2850000000", "expected_close_date": "2027-01-15"}},
        )  # fmt: skip

        done = response.json()
        deal = done["deal"]
        assert deal["name"] == "Công ty TNHH Minh Phát"
        assert (deal["account_id"], deal["contact_id"]) == (
            done["account"]["id"], done["contact"]["id"],
        )  # fmt: skip
        assert deal["source_lead_id"] == made["id"]
        assert deal["amount"] == "2850000000"
        assert done["lead"]["converted_deal_id"] == deal["id"]

    async def test_links_to_an_existing_account_and_contact_instead_of_making_new_ones(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account = await make_account(client, world.sales.headers, name="Minh Phát (cũ)")
        contact = await make_contact(client, world.sales.headers, full_name="Nguyễn Văn Ánh")
        made = await make_lead(
            client, world.sales.headers, **(MINH_PHAT | {"company_name": "Minh Phát Mới Tinh"})
        )

        response = await convert(
            client, made["id"], world.sales.headers,
            {"account": {"id": account["id"]}, "contact": {"id": contact["id"]}},
        )  # fmt: skip

        done = response.json()
        assert done["account"]["id"] == account["id"]
        assert done["contact"]["id"] == contact["id"]
        assert done["contact"]["accounts"][0]["account_id"] == account["id"]
        assert await count(client, "accounts", "moi tinh", world.sales.headers) == 0

    async def test_no_account_when_asked_or_when_the_lead_has_no_company(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        with_company = await make_lead(client, world.sales.headers, **MINH_PHAT)
        without = await make_lead(
            client, world.sales.headers, **(MINH_PHAT | {"company_name": None})
        )

        asked = await convert(client, with_company["id"], world.sales.headers, {"account": None})
        default = await convert(client, without["id"], world.sales.headers)

        for response in (asked, default):
            assert response.json()["account"] is None
            assert response.json()["contact"]["accounts"] == []

    async def test_a_converted_lead_is_read_only_and_cannot_convert_again(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_lead(client, world.sales.headers, **MINH_PHAT)
        await convert(client, made["id"], world.sales.headers)

        again = await convert(client, made["id"], world.sales.headers)
        patched = await client.patch(
            f"{LEADS}/{made['id']}", json={"score": 90}, headers=world.sales.headers
        )

        assert again.status_code == 409
        assert again.json()["code"] == "lead_already_converted"
        assert patched.status_code == 409
        assert patched.json()["code"] == "lead_converted"

    async def test_a_disqualified_lead_converts_only_once_its_status_changes(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_lead(client, world.sales.headers, **MINH_PHAT, status="disqualified")

        refused = await convert(client, made["id"], world.sales.headers)
        await client.patch(
            f"{LEADS}/{made['id']}", json={"status": "hot"}, headers=world.sales.headers
        )
        accepted = await convert(client, made["id"], world.sales.headers)

        assert refused.status_code == 409
        assert refused.json()["code"] == "lead_disqualified"
        assert accepted.status_code == 200

    async def test_a_conversion_that_fails_halfway_leaves_nothing_behind(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(committing_client, "committing-convert-fails")
        headers = owner["headers"]
        made = await make_lead(
            committing_client, headers, **(MINH_PHAT | {"company_name": "Nửa Vời"})
        )
        other = await make_pipeline(committing_client, headers, name="Khác")
        stage_of_other = other["stages"][0]["id"]

        # The account and the contact are made before the deal's stage turns out wrong.
        response = await convert(
            committing_client, made["id"], headers, {"deal": {"stage_id": stage_of_other}}
        )
        after = await committing_client.get(f"{LEADS}/{made['id']}", headers=headers)

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "stage_id"
        assert await count(committing_client, "accounts", "nua voi", headers) == 0
        assert await count(committing_client, "contacts", "nguyen van anh", headers) == 0
        assert (after.json()["status"], after.json()["converted_at"]) == ("new", None)

    async def test_sixteen_racing_conversions_convert_once(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(committing_client, "committing-convert-race")
        headers = owner["headers"]
        made = await make_lead(committing_client, headers, **MINH_PHAT)

        responses = await asyncio.gather(
            *(
                convert(committing_client, made["id"], headers, {"deal": {"amount": "1000000"}})
                for _ in range(16)
            )
        )

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [409] * 15
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {
            "lead_already_converted"
        }
        assert await count(committing_client, "contacts", "nguyen van anh", headers) == 1
        assert await count(committing_client, "accounts", "minh phat", headers) == 1
        assert await count(committing_client, "deals", "minh phat", headers) == 1

    async def test_another_workspaces_or_teams_account_is_422_and_nothing_is_stored(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_lead(
            client, world.sales.headers, **(MINH_PHAT | {"full_name": "Lạc Lối"})
        )
        other_team = await make_account(client, world.outsider.headers, name="Đội Nam")
        other_workspace = await make_account(client, world.other_owner.headers, name="Đối thủ")

        for account in (other_team, other_workspace):
            response = await convert(
                client, made["id"], world.sales.headers, {"account": {"id": account["id"]}}
            )
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "account.id"
        assert await count(client, "contacts", "lac loi", world.sales.headers) == 0


class TestPreview:
    async def test_offers_visible_look_alikes_by_email_phone_name_or_tax_code(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        by_phone = await make_contact(
            client, world.sales.headers, full_name="Ánh N.", phone="+84 912 345 678"
        )
        by_name = await make_account(client, world.sales.headers, name="công ty tnhh minh phát")
        by_tax = await make_account(
            client, world.sales.headers, name="MP Holdings", tax_code="0312345678"
        )
        await make_account(client, world.outsider.headers, name="Công ty TNHH Minh Phát")
        made = await make_lead(client, world.sales.headers, **MINH_PHAT)

        preview = await client.get(
            f"{LEADS}/{made['id']}/convert", params={"tax_code": "0312345678"},
            headers=world.sales.headers,
        )  # fmt: skip

        body = preview.json()
        assert {a["id"] for a in body["accounts"]} == {by_name["id"], by_tax["id"]}
        assert [c["id"] for c in body["contacts"]] == [by_phone["id"]]


class TestConvertEdges:
    async def test_a_won_deal_answers_with_the_account_now_a_customer(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        default = await default_pipeline(client, world.sales.headers)
        won = next(s["id"] for s in default["stages"] if s["kind"] == "won")
        made = await make_lead(client, world.sales.headers, **MINH_PHAT)

        done = await convert(client, made["id"], world.sales.headers, {"deal": {"stage_id": won}})
        account = done.json()["account"]
        stored = await client.get(f"/api/v1/accounts/{account['id']}", headers=world.sales.headers)

        assert (account["type"], account["version"]) == ("customer", 2)
        assert stored.json() == account

    async def test_onto_a_contact_already_linked_to_the_account_links_nothing_twice(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account = await make_account(client, world.sales.headers, name="Đã liên kết")
        contact = await make_contact(
            client, world.sales.headers, full_name="Hồ Liên", account_id=account["id"]
        )
        made = await make_lead(client, world.sales.headers, **MINH_PHAT)

        done = await convert(
            client, made["id"], world.sales.headers,
            {"account": {"id": account["id"]}, "contact": {"id": contact["id"]}},
        )  # fmt: skip

        assert done.status_code == 200
        assert done.json()["contact"]["accounts"] == contact["accounts"]

    async def test_the_last_converted_status_cannot_be_deleted(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        statuses = await client.get("/api/v1/lead-statuses", headers=world.admin.headers)
        converted = next(s for s in statuses.json()["data"] if s["key"] == "converted")

        response = await client.delete(
            f"/api/v1/lead-statuses/{converted['id']}", headers=world.admin.headers
        )

        assert response.status_code == 409
