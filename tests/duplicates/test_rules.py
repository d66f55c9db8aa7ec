"""Duplicate rules at the door: a lead, contact or account the workspace's rules match is a 409
listing what it matched (`possible_duplicate` for a `warn` rule, which the user may answer with
"save anyway"; `duplicate` for a `block` rule, always); the rules are the workspace's to change."""

from typing import Any

import httpx

from tests.conftest import World
from tests.factories import make_account, make_contact, make_lead

API = "/api/v1"


async def _post(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    **params: str,
) -> httpx.Response:
    return await client.post(f"{API}/{path}", json=body, headers=headers, params=params)


def _matched(response: httpx.Response) -> list[tuple[str, str, str]]:
    return [(d["resource"], d["id"], d["rule"]["name"]) for d in response.json()["duplicates"]]


async def _rule(
    client: httpx.AsyncClient, world: World, resource: str, name: str
) -> dict[str, Any]:
    listed = await client.get(
        f"{API}/duplicate-rules", params={"resource": resource}, headers=world.owner.headers
    )
    (rule,) = [r for r in listed.json()["data"] if r["name"] == name]
    return rule  # type: ignore[no-any-return]


class TestDefaults:
    async def test_a_new_workspace_warns_of_the_same_email_phone_and_similar_names(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        listed = await client.get(f"{API}/duplicate-rules", headers=world.sales.headers)

        rules = {(r["resource"], r["name"], r["action"]) for r in listed.json()["data"]}
        assert rules == {
            (kind, name, "warn")
            for kind in ("lead", "contact")
            for name in ("Cùng email", "Cùng số điện thoại", "Tên và công ty gần giống")
        } | {("account", "Cùng mã số thuế", "warn"), ("account", "Tên gần giống", "warn")}


class TestOnCreate:
    async def test_the_same_phone_typed_another_way_is_a_possible_duplicate(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_lead(client, world.sales.headers, phone="0912 345 678")
        h = world.sales.headers

        answers = [
            await _post(client, "leads", h, {"full_name": "Khách mới", "phone": typed})
            for typed in ("+84 912345678", "84912345678", "0912.345.678")
        ]

        for answer in answers:
            assert answer.status_code == 409, answer.text
            assert answer.json()["code"] == "possible_duplicate"
            assert _matched(answer) == [("lead", first["id"], "Cùng số điện thoại")]
            assert answer.json()["duplicates"][0]["score"] == 1.0
        listed = await client.get(f"{API}/leads", headers=h)
        assert [lead["id"] for lead in listed.json()["data"]] == [first["id"]]  # none saved

    async def test_save_anyway_saves_past_a_warning(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_lead(client, world.sales.headers, email="anh@minhphat.vn")

        saved = await _post(
            client, "leads", world.sales.headers,
            {"full_name": "Ánh", "email": "ANH@minhphat.vn"}, allow_duplicates="true",
        )  # fmt: skip

        assert saved.status_code == 201, saved.text

    async def test_a_block_rule_refuses_even_when_told_to_save_anyway(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await _rule(client, world, "lead", "Cùng email")
        blocked = await client.patch(
            f"{API}/duplicate-rules/{rule['id']}",
            json={"action": "block"},
            headers=world.admin.headers,
        )
        assert blocked.status_code == 200, blocked.text
        await make_lead(client, world.sales.headers, email="van.anh@gmail.com")

        answer = await _post(
            client, "leads", world.sales.headers,
            {"full_name": "Vân Anh", "email": "VanAnh+fb@gmail.com"}, allow_duplicates="true",
        )  # fmt: skip

        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "duplicate"
        assert [d["rule"]["action"] for d in answer.json()["duplicates"]] == ["block"]

    async def test_a_name_typed_any_way_at_the_same_company_is_a_possible_duplicate(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_lead(
            client, world.sales.headers, full_name="Nguyễn Văn Ánh",
            company_name="Công ty TNHH Minh Phát",
        )  # fmt: skip
        h = world.sales.headers

        same = [
            await _post(client, "leads", h, {"full_name": name, "company_name": company})
            for name, company in (
                ("NGUYEN  VAN ANH", "Minh Phat Co., Ltd"),
                ("Văn Ánh Nguyễn", "CÔNG TY CỔ PHẦN MINH PHÁT"),
                ("Nguyen Van Anhh", "Minh Phát"),  # a typo
            )
        ]
        strangers = [
            await _post(client, "leads", h, {"full_name": name, "company_name": company})
            for name, company in (
                ("Nguyễn Văn Bình", "Minh Phát"),  # shares family and middle name only
                ("Nguyễn Văn Ánh", "Hoàng Long"),  # the same name at another company
                ("Nguyễn Văn Ánh", None),  # no company: that criterion can't hold
            )
        ]

        assert [(a.status_code, _matched(a)) for a in same] == [
            (409, [("lead", first["id"], "Tên và công ty gần giống")])
        ] * 3
        assert [a.status_code for a in strangers] == [201, 201, 201]

    async def test_a_new_lead_who_is_already_a_contact_is_a_possible_duplicate(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(client, world.sales.headers, email="lan@hoanglong.vn")

        answer = await _post(
            client, "leads", world.sales.headers, {"full_name": "Lan", "email": "Lan@HoangLong.vn"}
        )

        assert answer.status_code == 409, answer.text
        assert _matched(answer) == [("contact", contact["id"], "Cùng email")]

    async def test_a_new_lead_named_as_a_contact_at_that_contacts_company(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        account = await make_account(client, h, name="Công ty CP Hoàng Long")
        contact = await make_contact(client, h, full_name="Trần Thị Mai", account_id=account["id"])

        answer = await _post(
            client, "leads", h, {"full_name": "Tran Thi Mai", "company_name": "Hoàng Long JSC"}
        )

        assert answer.status_code == 409, answer.text
        assert _matched(answer) == [("contact", contact["id"], "Tên và công ty gần giống")]

    async def test_a_new_contact_who_is_still_a_lead_is_a_possible_duplicate(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers, phone="0987 654 321")

        answer = await _post(
            client, "contacts", world.sales.headers, {"full_name": "Hùng", "phone": "0987654321"}
        )

        assert answer.status_code == 409, answer.text
        assert _matched(answer) == [("lead", lead["id"], "Cùng số điện thoại")]

    async def test_an_account_with_a_known_tax_code_is_a_possible_duplicate(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        account = await make_account(
            client, world.sales.headers, name="Công ty CP Hoàng Long", tax_code="0312345678"
        )

        by_tax = await _post(
            client, "accounts", world.sales.headers, {"name": "HL Group", "tax_code": "0312345678"}
        )
        by_name = await _post(client, "accounts", world.sales.headers, {"name": "Hoang Long JSC"})
        other = await _post(client, "accounts", world.sales.headers, {"name": "Minh Phát"})

        assert _matched(by_tax) == [("account", account["id"], "Cùng mã số thuế")]
        assert _matched(by_name) == [("account", account["id"], "Tên gần giống")]
        assert other.status_code == 201

    async def test_converting_a_lead_is_not_stopped_by_the_lead_itself(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(
            client, world.sales.headers, email="minh@minhphat.vn", company_name="Minh Phát"
        )

        converted = await client.post(
            f"{API}/leads/{lead['id']}/convert", json={}, headers=world.sales.headers
        )

        assert converted.status_code == 200, converted.text


class TestOnUpdate:
    async def test_taking_another_records_phone_is_a_possible_duplicate(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_lead(client, world.sales.headers, phone="0912 345 678")
        second = await make_lead(client, world.sales.headers, full_name="Bình", phone="0911111111")

        answer = await client.patch(
            f"{API}/leads/{second['id']}", json={"phone": "+84912345678"},
            headers=world.sales.headers,
        )  # fmt: skip
        kept = await client.get(f"{API}/leads/{second['id']}", headers=world.sales.headers)

        assert answer.status_code == 409, answer.text
        assert _matched(answer) == [("lead", first["id"], "Cùng số điện thoại")]
        assert kept.json()["phone"] == "0911111111"

    async def test_a_change_to_a_field_no_rule_compares_is_not_checked_again(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_lead(client, world.sales.headers, phone="0912 345 678")
        twin = await make_lead(client, world.sales.headers, phone="0912 345 678")  # saved anyway

        answer = await client.patch(
            f"{API}/leads/{twin['id']}", json={"notes": "Gọi lại sau Tết"},
            headers=world.sales.headers,
        )  # fmt: skip

        assert answer.status_code == 200, answer.text


class TestRulesAreTheWorkspaces:
    async def test_a_rule_switched_off_stops_applying_at_the_next_request(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await _rule(client, world, "lead", "Cùng số điện thoại")
        await make_lead(client, world.sales.headers, phone="0912 345 678")
        before = await _post(
            client, "leads", world.sales.headers, {"full_name": "B", "phone": "0912345678"}
        )

        off = await client.patch(
            f"{API}/duplicate-rules/{rule['id']}", json={"active": False},
            headers=world.admin.headers,
        )  # fmt: skip
        after = await _post(
            client, "leads", world.sales.headers, {"full_name": "B", "phone": "0912345678"}
        )

        assert off.status_code == 200, off.text
        assert (before.status_code, after.status_code) == (409, 201)

    async def test_a_deleted_rule_stops_applying(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await _rule(client, world, "contact", "Cùng email")
        await make_contact(client, world.sales.headers, email="a@b.vn")
        await _post(client, "contacts", world.sales.headers, {"full_name": "X", "email": "a@b.vn"})

        deleted = await client.delete(
            f"{API}/duplicate-rules/{rule['id']}", headers=world.admin.headers
        )
        after = await _post(
            client, "contacts", world.sales.headers, {"full_name": "X", "email": "a@b.vn"}
        )

        assert deleted.status_code == 204, deleted.text
        assert after.status_code == 201, after.text

    async def test_a_new_block_rule_on_a_field_pair(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await _post(
            client, "duplicate-rules", world.admin.headers,
            {"resource": "contact", "name": "Cùng tên và SĐT", "action": "block",
             "criteria": [{"fields": ["full_name", "phone"], "match": "exact"}]},
        )  # fmt: skip
        await make_contact(client, world.sales.headers, full_name="Lê Thu", phone="0903 000 111")

        same = await _post(
            client, "contacts", world.sales.headers,
            {"full_name": "Thu Le", "phone": "0903000111"}, allow_duplicates="true",
        )  # fmt: skip

        assert made.status_code == 201, made.text
        assert same.json()["code"] == "duplicate"

    async def test_a_rule_on_a_field_the_resource_lacks_or_with_no_indexed_field_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.admin.headers
        no_such = await _post(
            client, "duplicate-rules", h,
            {"resource": "account", "name": "x", "criteria": [{"fields": ["full_name"]}]},
        )  # fmt: skip
        unindexed = await _post(
            client, "duplicate-rules", h,
            {"resource": "lead", "name": "x", "criteria": [{"fields": ["company_name"]}]},
        )  # fmt: skip

        assert no_such.status_code == 422
        assert no_such.json()["errors"][0]["field"] == "criteria.0.fields"
        assert unindexed.status_code == 422
        assert unindexed.json()["errors"][0]["field"] == "criteria"

    async def test_sales_staff_read_the_rules_but_cannot_change_them(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        rule = await _rule(client, world, "lead", "Cùng email")

        changed = await client.patch(
            f"{API}/duplicate-rules/{rule['id']}", json={"active": False},
            headers=world.sales.headers,
        )  # fmt: skip

        assert changed.status_code == 403


class TestLookingWithoutSaving:
    async def test_check_lists_what_saving_would_meet_and_saves_nothing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers, phone="0912 345 678")
        contact = await make_contact(client, world.sales.headers, email="anh@minhphat.vn")

        checked = await _post(
            client, "duplicates/check", world.sales.headers,
            {"resource": "lead", "record": {"full_name": "Ánh", "phone": "0912.345.678",
                                            "email": "Anh@MinhPhat.vn", "source": "web"}},
        )  # fmt: skip
        leads = await client.get(f"{API}/leads", headers=world.sales.headers)

        assert checked.status_code == 200, checked.text
        assert {(d["resource"], d["id"]) for d in checked.json()["duplicates"]} == {
            ("lead", lead["id"]), ("contact", contact["id"])
        }  # fmt: skip
        assert len(leads.json()["data"]) == 1

    async def test_a_records_duplicates_by_todays_rules(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_lead(client, world.sales.headers, phone="0912 345 678")
        twin = await make_lead(client, world.sales.headers, phone="+84912345678")
        await make_lead(client, world.sales.headers, full_name="Khác", phone="0900000000")

        found = await client.get(
            f"{API}/leads/{first['id']}/duplicates", headers=world.sales.headers
        )

        assert [(d["resource"], d["id"]) for d in found.json()["duplicates"]] == [
            ("lead", twin["id"])
        ]

    async def test_another_workspaces_record_has_no_duplicates_here(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = await make_lead(client, world.other_owner.headers, phone="0912 345 678")
        await make_lead(client, world.sales.headers, phone="0912 345 678")

        found = await client.get(
            f"{API}/leads/{theirs['id']}/duplicates", headers=world.sales.headers
        )
        checked = await _post(
            client, "duplicates/check", world.other_owner.headers,
            {"resource": "lead", "record": {"phone": "0912 345 678"}},
        )  # fmt: skip

        assert found.status_code == 404
        assert [d["id"] for d in checked.json()["duplicates"]] == [theirs["id"]]
