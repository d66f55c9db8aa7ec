"""Accounts through the HTTP API, as a frontend uses them."""

import httpx
import pytest

from tests.conftest import World
from tests.factories import make_account, make_custom_field

ACCOUNTS = "/api/v1/accounts"


async def patch(
    http: httpx.AsyncClient, account_id: str, headers: dict[str, str], **fields: object
) -> httpx.Response:
    return await http.patch(f"{ACCOUNTS}/{account_id}", json=fields, headers=headers)


class TestCreateAccount:
    async def test_defaults_owner_and_type_and_normalises_phone(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account = await make_account(client, world.sales.headers, phone="028 3823 4567")

        assert account["owner_id"] == str(world.sales.user_id)
        assert account["type"] == "prospect"
        assert account["phone_e164"] == "+842838234567"
        assert account["version"] == 1
        assert account["parent_id"] is None

    @pytest.mark.parametrize("tax_code", ["0312345678", "0312345678-001"])
    async def test_takes_an_enterprise_or_branch_tax_code(
        self, client: httpx.AsyncClient, world: World, tax_code: str
    ) -> None:
        account = await make_account(client, world.sales.headers, tax_code=tax_code)

        assert account["tax_code"] == tax_code

    @pytest.mark.parametrize("tax_code", ["031234567", "03123456789", "0312345678-01", "MST123"])
    async def test_a_malformed_tax_code_is_422_naming_it(
        self, client: httpx.AsyncClient, world: World, tax_code: str
    ) -> None:
        response = await client.post(
            ACCOUNTS, json={"name": "A", "tax_code": tax_code}, headers=world.sales.headers
        )

        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["tax_code"]

    async def test_an_unknown_type_or_website_without_a_domain_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            ACCOUNTS,
            json={"name": "A", "type": "client", "website": "minh phat"},
            headers=world.sales.headers,
        )

        assert response.status_code == 422
        assert {e["field"] for e in response.json()["errors"]} == {"type", "website"}

    async def test_custom_fields_declared_for_accounts_are_checked(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_custom_field(
            client, world.admin.headers, resource="account", key="von_dieu_le",
            label="Vốn điều lệ", type="number",
        )  # fmt: skip

        good = await make_account(client, world.sales.headers, custom_fields={"von_dieu_le": 5e9})
        bad = await client.post(
            ACCOUNTS,
            json={"name": "A", "custom_fields": {"von_dieu_le": "năm tỷ"}},
            headers=world.sales.headers,
        )

        assert good["custom_fields"] == {"von_dieu_le": 5e9}
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "custom_fields.von_dieu_le"


class TestListAccounts:
    async def test_q_ignores_case_and_diacritics_and_finds_by_tax_code(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        dong_a = await make_account(client, world.sales.headers, name="Công ty Cổ phần Đông Á")
        taxed = await make_account(
            client, world.sales.headers, name="Hòa Bình", tax_code="0101234567"
        )
        await make_account(client, world.sales.headers, name="Thành Công")

        async def search(q: str) -> list[str]:
            page = await client.get(ACCOUNTS, params={"q": q}, headers=world.sales.headers)
            return [a["id"] for a in page.json()["data"]]

        assert await search("dong a") == [dong_a["id"]]
        assert await search("0101234567") == [taxed["id"]]

    async def test_filters_by_type_and_tag_and_sorts_by_name(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        b = await make_account(
            client, world.sales.headers, name="Bảo Long", type="partner", tags=["hn"]
        )
        a = await make_account(
            client, world.sales.headers, name="An Phú", type="supplier", tags=["hn"]
        )
        await make_account(
            client, world.sales.headers, name="Cát Tường", type="partner", tags=["hcm"]
        )

        page = await client.get(
            ACCOUNTS,
            params=[("type", "partner"), ("type", "supplier"), ("tag", "hn"), ("sort", "name")],
            headers=world.sales.headers,
        )

        assert [x["id"] for x in page.json()["data"]] == [a["id"], b["id"]]

    async def test_a_sales_user_sees_their_teams_accounts_only(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        mine = await make_account(client, world.teammate.headers, name="Đội Bắc")
        theirs = await make_account(client, world.outsider.headers, name="Đội Nam")

        page = await client.get(ACCOUNTS, headers=world.sales.headers)
        alone = await client.get(f"{ACCOUNTS}/{theirs['id']}", headers=world.sales.headers)

        ids = {a["id"] for a in page.json()["data"]}
        assert mine["id"] in ids
        assert theirs["id"] not in ids
        assert alone.status_code == 404


class TestHierarchy:
    async def test_subsidiaries_list_under_their_parent(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        group = await make_account(client, world.sales.headers, name="Tập đoàn Minh Phát")
        branch = await make_account(
            client, world.sales.headers, name="Chi nhánh Đà Nẵng", parent_id=group["id"],
            tax_code="0312345678-002",
        )  # fmt: skip
        await make_account(client, world.sales.headers, name="Độc lập")

        page = await client.get(
            ACCOUNTS, params={"parent_id": group["id"]}, headers=world.sales.headers
        )

        assert [a["id"] for a in page.json()["data"]] == [branch["id"]]

    async def test_a_parent_that_would_close_a_loop_is_409_and_changes_nothing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        top = await make_account(client, world.sales.headers, name="Mẹ")
        middle = await make_account(client, world.sales.headers, name="Con", parent_id=top["id"])
        bottom = await make_account(
            client, world.sales.headers, name="Cháu", parent_id=middle["id"]
        )

        loop = await patch(client, top["id"], world.sales.headers, parent_id=bottom["id"])
        itself = await patch(client, top["id"], world.sales.headers, parent_id=top["id"])
        after = await client.get(f"{ACCOUNTS}/{top['id']}", headers=world.sales.headers)

        assert loop.status_code == 409
        assert loop.json()["code"] == "account_hierarchy_cycle"
        assert itself.status_code == 409
        assert after.json()["parent_id"] is None
        assert after.json()["version"] == 1

    async def test_moving_a_branch_under_a_sibling_is_allowed(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        top = await make_account(client, world.sales.headers, name="Mẹ")
        left = await make_account(client, world.sales.headers, name="Trái", parent_id=top["id"])
        right = await make_account(client, world.sales.headers, name="Phải", parent_id=top["id"])

        moved = await patch(client, right["id"], world.sales.headers, parent_id=left["id"])

        assert moved.status_code == 200
        assert moved.json()["parent_id"] == left["id"]

    async def test_a_parent_you_cannot_see_is_422_and_nothing_is_stored(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        other_team = await make_account(client, world.outsider.headers, name="Đội Nam")
        other_workspace = await make_account(client, world.other_owner.headers, name="Đối thủ")

        for parent in (other_team, other_workspace):
            response = await client.post(
                ACCOUNTS,
                json={"name": "Con lạc", "parent_id": parent["id"]},
                headers=world.sales.headers,
            )
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "parent_id"
        listed = await client.get(ACCOUNTS, params={"q": "con lac"}, headers=world.sales.headers)
        assert listed.json()["data"] == []


class TestChangeDeleteRestore:
    async def test_only_sent_fields_change_and_history_keeps_old_and_new(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account = await make_account(
            client, world.sales.headers, industry="Ô tô", phone="0912345678"
        )

        changed = await patch(
            client, account["id"], world.sales.headers, type="customer", phone="0987 654 321"
        )
        history = await client.get(
            f"{ACCOUNTS}/{account['id']}/history", headers=world.sales.headers
        )

        assert changed.status_code == 200
        body = changed.json()
        assert (body["type"], body["industry"], body["version"]) == ("customer", "Ô tô", 2)
        assert body["phone_e164"] == "+84987654321"
        entries = history.json()["data"]
        assert [e["action"] for e in entries] == ["created", "updated"]
        assert entries[1]["changes"]["type"] == {"old": "prospect", "new": "customer"}
        assert entries[1]["actor_id"] == str(world.sales.user_id)

    async def test_stale_if_match_is_412(self, client: httpx.AsyncClient, world: World) -> None:
        account = await make_account(client, world.sales.headers)
        await patch(client, account["id"], world.sales.headers, industry="Xây dựng")

        stale = await client.patch(
            f"{ACCOUNTS}/{account['id']}",
            json={"industry": "Bán lẻ"},
            headers={**world.sales.headers, "If-Match": '"1"'},
        )

        assert stale.status_code == 412

    async def test_deleted_account_leaves_lists_and_comes_back(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account = await make_account(client, world.sales.headers, name="Tạm ngưng")
        url = f"{ACCOUNTS}/{account['id']}"

        deleted = await client.delete(url, headers=world.sales.headers)
        hidden = await client.get(ACCOUNTS, params={"q": "tam ngung"}, headers=world.sales.headers)
        shown = await client.get(
            ACCOUNTS,
            params={"q": "tam ngung", "include_deleted": "true"},
            headers=world.sales.headers,
        )
        gone = await client.get(url, headers=world.sales.headers)
        restored = await client.post(f"{url}/restore", headers=world.sales.headers)
        history = await client.get(f"{url}/history", headers=world.sales.headers)

        assert deleted.status_code == 204
        assert hidden.json()["data"] == []
        assert [a["id"] for a in shown.json()["data"]] == [account["id"]]
        assert gone.status_code == 404
        assert restored.json()["deleted_at"] is None
        actions = [e["action"] for e in history.json()["data"]]
        assert actions == ["created", "deleted", "restored"]
