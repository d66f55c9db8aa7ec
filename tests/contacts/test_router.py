"""Contacts and their account links through the HTTP API, as a frontend uses them."""

import httpx

from tests.conftest import World
from tests.factories import make_account, make_contact

CONTACTS = "/api/v1/contacts"
ACCOUNTS = "/api/v1/accounts"


class TestCreateContact:
    async def test_takes_family_and_given_names_from_a_vietnamese_full_name(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(client, world.sales.headers, full_name="Trần Thị Thu Hà")
        named = await make_contact(
            client, world.sales.headers, full_name="Lê Minh", first_name="Minh Anh"
        )

        assert (contact["last_name"], contact["first_name"]) == ("Trần", "Hà")
        assert (named["last_name"], named["first_name"]) == ("Lê", "Minh Anh")
        assert contact["owner_id"] == str(world.sales.user_id)
        assert contact["accounts"] == []
        assert contact["do_not_contact"] is False

    async def test_account_id_makes_a_primary_link_with_its_role(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account_id = (await make_account(client, world.sales.headers, name="Minh Phát"))["id"]

        contact = await make_contact(
            client, world.sales.headers, account_id=account_id, account_role="decision_maker",
            phone="0912 345 678", birthday="1985-04-30",
        )  # fmt: skip

        assert contact["accounts"] == [
            {"account_id": account_id, "role": "decision_maker", "is_primary": True}
        ]
        assert contact["phone_e164"] == "+84912345678"
        assert contact["birthday"] == "1985-04-30"

    async def test_an_account_of_another_team_or_workspace_is_422_and_nothing_is_stored(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        other_team = (await make_account(client, world.outsider.headers, name="Đội Nam"))["id"]
        other_workspace = (await make_account(client, world.other_owner.headers, name="Đối thủ"))[
            "id"
        ]

        for account_id in (other_team, other_workspace):
            response = await client.post(
                CONTACTS,
                json={"full_name": "Phạm Lạc Lối", "account_id": account_id},
                headers=world.sales.headers,
            )
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "account_id"
        listed = await client.get(CONTACTS, params={"q": "lac loi"}, headers=world.sales.headers)
        assert listed.json()["data"] == []

    async def test_a_malformed_birthday_or_gender_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            CONTACTS,
            json={"full_name": "A", "birthday": "30/04/1985", "gender": "nam"},
            headers=world.sales.headers,
        )

        assert response.status_code == 422
        assert {e["field"] for e in response.json()["errors"]} == {"birthday", "gender"}


class TestListContacts:
    async def test_q_ignores_diacritics_and_pages_carry_the_account_links(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account_id = (await make_account(client, world.sales.headers, name="Đông Á"))["id"]
        dang = await make_contact(
            client, world.sales.headers, full_name="Đặng Thị Hoa", account_id=account_id
        )
        await make_contact(client, world.sales.headers, full_name="Trần Bình")

        page = await client.get(CONTACTS, params={"q": "dang hoa"}, headers=world.sales.headers)
        alone = await client.get(f"{CONTACTS}/{dang['id']}", headers=world.sales.headers)

        assert page.json()["data"] == [alone.json()]
        assert page.json()["data"][0]["accounts"][0]["account_id"] == account_id

    async def test_an_accounts_contacts_are_the_ones_linked_to_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account_id = (await make_account(client, world.sales.headers, name="Hòa Bình"))["id"]
        linked = await make_contact(client, world.sales.headers, account_id=account_id)
        await make_contact(client, world.sales.headers, full_name="Không Liên Quan")

        by_filter = await client.get(
            CONTACTS, params={"account_id": account_id}, headers=world.sales.headers
        )
        by_account = await client.get(
            f"{ACCOUNTS}/{account_id}/contacts", headers=world.sales.headers
        )

        assert [c["id"] for c in by_filter.json()["data"]] == [linked["id"]]
        assert [c["id"] for c in by_account.json()["data"]] == [linked["id"]]

    async def test_another_teams_account_has_no_contacts_to_show_you(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = (await make_account(client, world.outsider.headers, name="Đội Nam"))["id"]

        response = await client.get(f"{ACCOUNTS}/{theirs}/contacts", headers=world.sales.headers)

        assert response.status_code == 404


class TestAccountLinks:
    async def test_a_second_primary_link_takes_over_and_the_contact_version_moves(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = (await make_account(client, world.sales.headers, name="Thứ nhất"))["id"]
        second = (await make_account(client, world.sales.headers, name="Thứ hai"))["id"]
        contact = await make_contact(client, world.sales.headers, account_id=first)

        linked = await client.post(
            f"{CONTACTS}/{contact['id']}/accounts",
            json={"account_id": second, "role": "billing", "is_primary": True},
            headers=world.sales.headers,
        )
        links = await client.get(
            f"{CONTACTS}/{contact['id']}/accounts", headers=world.sales.headers
        )

        assert linked.status_code == 201
        assert linked.json()["version"] == 2
        assert linked.headers["etag"] == '"2"'
        assert links.json()["data"] == [
            {"account_id": second, "role": "billing", "is_primary": True},
            {"account_id": first, "role": None, "is_primary": False},
        ]

    async def test_linking_twice_is_409(self, client: httpx.AsyncClient, world: World) -> None:
        account_id = (await make_account(client, world.sales.headers, name="Hai lần"))["id"]
        contact = await make_contact(client, world.sales.headers, account_id=account_id)

        again = await client.post(
            f"{CONTACTS}/{contact['id']}/accounts",
            json={"account_id": account_id},
            headers=world.sales.headers,
        )

        assert again.status_code == 409
        assert again.json()["code"] == "already_linked"

    async def test_a_sales_user_cannot_link_another_teams_account(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = (await make_account(client, world.outsider.headers, name="Đội Nam"))["id"]
        contact = await make_contact(client, world.sales.headers)

        response = await client.post(
            f"{CONTACTS}/{contact['id']}/accounts",
            json={"account_id": theirs},
            headers=world.sales.headers,
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "account_id"

    async def test_role_changes_and_unlinking_are_kept_in_history(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account_id = (await make_account(client, world.sales.headers, name="Lịch sử"))["id"]
        contact = await make_contact(client, world.sales.headers, account_id=account_id)
        link_url = f"{CONTACTS}/{contact['id']}/accounts/{account_id}"

        changed = await client.patch(
            link_url, json={"role": "influencer"}, headers=world.sales.headers
        )
        removed = await client.delete(link_url, headers=world.sales.headers)
        missing = await client.delete(link_url, headers=world.sales.headers)
        after = await client.get(f"{CONTACTS}/{contact['id']}", headers=world.sales.headers)
        history = await client.get(
            f"{CONTACTS}/{contact['id']}/history", headers=world.sales.headers
        )

        assert changed.json()["accounts"][0]["role"] == "influencer"
        assert removed.status_code == 204
        assert missing.status_code == 404
        assert after.json()["accounts"] == []
        assert after.json()["version"] == 3
        entries = history.json()["data"]
        assert [e["action"] for e in entries] == ["created", "updated", "updated"]
        assert entries[2]["changes"]["accounts"]["new"] == []
        assert entries[1]["changes"]["accounts"]["new"][0]["role"] == "influencer"

    async def test_a_deleted_account_drops_out_of_the_contacts_links(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account_id = (await make_account(client, world.sales.headers, name="Giải thể"))["id"]
        contact = await make_contact(client, world.sales.headers, account_id=account_id)

        await client.delete(f"{ACCOUNTS}/{account_id}", headers=world.sales.headers)
        after = await client.get(f"{CONTACTS}/{contact['id']}", headers=world.sales.headers)

        assert after.json()["accounts"] == []


class TestChangeDeleteRestore:
    async def test_only_sent_fields_change_and_stale_if_match_is_412(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(client, world.sales.headers, title="Trưởng phòng")
        url = f"{CONTACTS}/{contact['id']}"

        changed = await client.patch(
            url, json={"do_not_contact": True}, headers={**world.sales.headers, "If-Match": '"1"'}
        )
        stale = await client.patch(
            url, json={"title": "Giám đốc"}, headers={**world.sales.headers, "If-Match": '"1"'}
        )

        assert changed.status_code == 200
        assert (changed.json()["do_not_contact"], changed.json()["title"]) == (True, "Trưởng phòng")
        assert stale.status_code == 412

    async def test_deleted_contact_leaves_lists_and_comes_back(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(client, world.sales.headers, full_name="Võ Tạm Ẩn")
        url = f"{CONTACTS}/{contact['id']}"

        await client.delete(url, headers=world.sales.headers)
        hidden = await client.get(CONTACTS, params={"q": "tam an"}, headers=world.sales.headers)
        restored = await client.post(f"{url}/restore", headers=world.sales.headers)
        shown = await client.get(CONTACTS, params={"q": "tam an"}, headers=world.sales.headers)

        assert hidden.json()["data"] == []
        assert restored.status_code == 200
        assert [c["id"] for c in shown.json()["data"]] == [contact["id"]]


class TestLinksToAccountsYouCannotSee:
    async def test_are_hidden_from_you_and_not_yours_to_change(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = (await make_account(client, world.outsider.headers, name="Đội Nam"))["id"]
        contact = await make_contact(client, world.sales.headers)
        # An admin links the sales user's contact to another team's account.
        linked = await client.post(
            f"{CONTACTS}/{contact['id']}/accounts",
            json={"account_id": theirs, "role": "billing"},
            headers=world.admin.headers,
        )

        seen = await client.get(f"{CONTACTS}/{contact['id']}", headers=world.sales.headers)
        removed = await client.delete(
            f"{CONTACTS}/{contact['id']}/accounts/{theirs}", headers=world.sales.headers
        )
        still = await client.get(f"{CONTACTS}/{contact['id']}", headers=world.admin.headers)

        assert linked.status_code == 201
        assert seen.json()["accounts"] == []
        assert removed.status_code == 404
        assert [a["account_id"] for a in still.json()["accounts"]] == [theirs]

    async def test_a_one_word_name_longer_than_a_name_part_is_kept_whole(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(client, world.sales.headers, full_name="A" * 150)

        assert contact["full_name"] == "A" * 150
        assert contact["first_name"] == "A" * 100
