"""Merging duplicates: leads, contacts and accounts become one, nothing lost — the survivor
takes the chosen values, every tag and everything the merged records held; the merged ones
are deleted, remember the survivor and keep their own values."""

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.intake.models import Submission
from tests.conftest import World, acting_as
from tests.factories import (
    make_account,
    make_activity,
    make_contact,
    make_custom_field,
    make_deal,
    make_lead,
)

API = "/api/v1"


async def _merge(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    kind: str,
    survivor: str,
    merged: list[str],
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    body = {"survivor_id": survivor, "merged_ids": merged, "fields": fields or {}}
    return await client.post(f"{API}/{kind}/merge", json=body, headers=headers)


async def _get(client: httpx.AsyncClient, h: dict[str, str], path: str, **params: str) -> Any:
    response = await client.get(f"{API}/{path}", headers=h, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _last_history(client: httpx.AsyncClient, h: dict[str, str], path: str) -> Any:
    return (await _get(client, h, f"{path}/history", limit="200"))["data"][-1]


class TestMergeLeads:
    async def test_two_leads_become_one_with_everything_they_held(
        self, client: httpx.AsyncClient, world: World, session: AsyncSession
    ) -> None:
        h = world.sales.headers
        field = (await make_custom_field(client, world.owner.headers))["key"]
        other = (await make_custom_field(client, world.owner.headers))["key"]
        survivor = await make_lead(
            client, h, full_name="Nguyễn Văn Ánh", phone="0912 345 678", tags=["vip"],
            custom_fields={field: "Vios"}, province=None,
        )  # fmt: skip
        merged = await make_lead(
            client, h, full_name="Nguyen Van Anh", phone="0987 654 321",
            email="anh.nguyen@minhphat.vn", province="Hà Nội", tags=["hội chợ 2026", "vip"],
            custom_fields={field: "Fortuner", other: "Tiền mặt"},
        )  # fmt: skip
        kept = await make_activity(client, h, related_type="lead", related_id=survivor["id"])
        moved = await make_activity(client, h, related_type="lead", related_id=merged["id"])
        submission = Submission(
            workspace_id=world.sales.workspace_id, provider="form", status="lead",
            lead_id=uuid.UUID(merged["id"]),
        )  # fmt: skip
        session.add(submission)

        response = await _merge(
            client, h, "leads", survivor["id"], [merged["id"]], {"phone": merged["id"]}
        )

        assert response.status_code == 200, response.text
        lead = response.json()
        assert lead["id"] == survivor["id"]
        assert lead["full_name"] == "Nguyễn Văn Ánh"  # the survivor's, not chosen otherwise
        assert (lead["phone"], lead["phone_e164"]) == ("0987 654 321", "+84987654321")
        assert lead["email"] == "anh.nguyen@minhphat.vn"  # blank in the survivor
        assert lead["province"] == "Hà Nội"
        assert lead["tags"] == ["vip", "hội chợ 2026"]
        assert lead["custom_fields"] == {field: "Vios", other: "Tiền mặt"}
        assert lead["merged_into_id"] is None
        activities = await _get(client, h, "activities", related_id=survivor["id"])
        assert {a["id"] for a in activities["data"]} == {kept["id"], moved["id"]}
        await acting_as(session, world.sales)
        found_lead = await session.scalar(
            select(Submission.lead_id).where(
                Submission.workspace_id == submission.workspace_id, Submission.id == submission.id
            )
        )
        assert found_lead == uuid.UUID(survivor["id"])
        found = await _get(client, h, "leads", q="anh.nguyen@minhphat")  # search text refreshed
        assert [f["id"] for f in found["data"]] == [survivor["id"]]

        history = await _last_history(client, h, f"leads/{survivor['id']}")
        assert history["action"] == "merged"
        assert history["changes"]["merged"]["new"] == [merged["id"]]
        assert history["changes"]["phone"] == {
            "old": "0912 345 678", "new": "0987 654 321", "from": merged["id"],
        }  # fmt: skip
        assert history["changes"]["custom_fields"]["from"] == {other: merged["id"]}

    async def test_the_merged_lead_is_kept_deleted_with_its_own_values(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        survivor = await make_lead(client, h, full_name="Trần Thị Bình", email="binh@a.vn")
        merged = await make_lead(client, h, full_name="Tran Thi Binh", email="binh@b.vn")

        response = await _merge(client, h, "leads", survivor["id"], [merged["id"]])

        assert response.status_code == 200, response.text
        assert response.json()["email"] == "binh@a.vn"  # the survivor's, not blank
        gone = await client.get(f"{API}/leads/{merged['id']}", headers=h)
        assert gone.status_code == 404
        kept = await _get(client, h, f"leads/{merged['id']}", include_deleted="true")
        assert kept["merged_into_id"] == survivor["id"]
        assert kept["deleted_at"] is not None
        assert (kept["full_name"], kept["email"]) == ("Tran Thi Binh", "binh@b.vn")
        listed = await _get(client, h, "leads", include_deleted="true", q="binh")
        assert {lead["id"] for lead in listed["data"]} == {survivor["id"], merged["id"]}
        history = await _last_history(client, h, f"leads/{merged['id']}")
        assert history["action"] == "merged_into"
        assert history["changes"]["merged_into_id"]["new"] == survivor["id"]

    async def test_a_merged_lead_is_not_merged_again_nor_restored(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        a, b, c = [await make_lead(client, h, full_name=f"Lê Văn {n}") for n in "ABC"]
        assert (await _merge(client, h, "leads", a["id"], [b["id"]])).status_code == 200

        again = await _merge(client, h, "leads", c["id"], [b["id"]])
        restored = await client.post(f"{API}/leads/{b['id']}/restore", headers=h)

        assert again.status_code == 409
        assert again.json()["code"] == "record_already_merged"
        assert restored.status_code == 409
        assert restored.json()["code"] == "record_already_merged"

    async def test_a_converted_lead_is_not_merged(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        a = await make_lead(client, h, full_name="Phạm Minh Châu")
        b = await make_lead(client, h, full_name="Pham Minh Chau")
        converted = await client.post(f"{API}/leads/{b['id']}/convert", json={}, headers=h)
        assert converted.status_code == 200, converted.text

        response = await _merge(client, h, "leads", a["id"], [b["id"]])

        assert response.status_code == 409
        assert response.json()["code"] == "lead_converted"


class TestMergeContacts:
    async def test_links_deals_and_activities_move_and_a_shared_account_keeps_one_link(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        shared = await make_account(client, h, name="Công ty CP Hoa Sen")
        other = await make_account(client, h, name="Công ty TNHH Bình Minh")
        survivor = await make_contact(client, h, full_name="Đỗ Thu Hà", account_id=shared["id"])
        merged = await make_contact(client, h, full_name="Do Thu Ha", account_id=shared["id"])
        linked = await client.post(
            f"{API}/contacts/{merged['id']}/accounts",
            json={"account_id": other["id"], "role": "decision_maker"},
            headers=h,
        )
        assert linked.status_code in (200, 201), linked.text
        deal = await make_deal(client, h, contact_id=merged["id"], account_id=other["id"])
        call = await make_activity(client, h, related_type="contact", related_id=merged["id"])

        response = await _merge(client, h, "contacts", survivor["id"], [merged["id"]])

        assert response.status_code == 200, response.text
        links = {(a["account_id"], a["is_primary"]) for a in response.json()["accounts"]}
        assert links == {(shared["id"], True), (other["id"], False)}
        assert (await _get(client, h, f"deals/{deal['id']}"))["contact_id"] == survivor["id"]
        activity = await _get(client, h, f"activities/{call['id']}")
        assert activity["related_id"] == survivor["id"]
        kept = await _get(client, h, f"contacts/{merged['id']}", include_deleted="true")
        assert kept["merged_into_id"] == survivor["id"]
        history = (await _get(client, h, f"contacts/{merged['id']}/history"))["data"]
        had = next(e for e in reversed(history) if "accounts" in e["changes"])
        assert {a["account_id"] for a in had["changes"]["accounts"]["old"]} == {
            shared["id"], other["id"],
        }  # fmt: skip

    async def test_a_survivor_without_a_primary_account_takes_the_merged_ones(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        account = await make_account(client, h, name="Công ty TNHH Thành Công")
        survivor = await make_contact(client, h, full_name="Bùi Thị Lan")
        merged = await make_contact(client, h, full_name="Bui Thi Lan", account_id=account["id"])

        response = await _merge(client, h, "contacts", survivor["id"], [merged["id"]])

        assert response.status_code == 200, response.text
        assert response.json()["accounts"] == [
            {"account_id": account["id"], "role": None, "is_primary": True}
        ]

    async def test_a_lead_converted_into_a_merged_contact_points_at_the_survivor(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        lead = await make_lead(client, h, full_name="Vũ Quang Huy", company_name=None)
        converted = await client.post(f"{API}/leads/{lead['id']}/convert", json={}, headers=h)
        assert converted.status_code == 200, converted.text
        became = converted.json()["contact"]["id"]
        survivor = await make_contact(client, h, full_name="Vu Quang Huy")

        response = await _merge(client, h, "contacts", survivor["id"], [became])

        assert response.status_code == 200, response.text
        after = await _get(client, h, f"leads/{lead['id']}")
        assert after["converted_contact_id"] == survivor["id"]


class TestMergeAccounts:
    async def test_contacts_deals_and_child_accounts_move_to_the_survivor(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        survivor = await make_account(client, h, name="Công ty TNHH Minh Phát", tags=["đối tác"])
        merged = await make_account(
            client, h, name="Cty Minh Phat", tax_code="0312345678", tags=["khách lớn"]
        )
        child = await make_account(client, h, name="Minh Phát Chi nhánh Đà Nẵng",
                                   parent_id=merged["id"])  # fmt: skip
        person = await make_contact(client, h, full_name="Hoàng Anh", account_id=merged["id"])
        deal = await make_deal(client, h, account_id=merged["id"])

        response = await _merge(client, h, "accounts", survivor["id"], [merged["id"]])

        assert response.status_code == 200, response.text
        account = response.json()
        assert account["tax_code"] == "0312345678"
        assert account["tags"] == ["đối tác", "khách lớn"]
        assert (await _get(client, h, f"accounts/{child['id']}"))["parent_id"] == survivor["id"]
        assert (await _get(client, h, f"deals/{deal['id']}"))["account_id"] == survivor["id"]
        contact = await _get(client, h, f"contacts/{person['id']}")
        assert [(a["account_id"], a["is_primary"]) for a in contact["accounts"]] == [
            (survivor["id"], True)
        ]

    async def test_a_merged_parent_gives_way_to_its_own_parent(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        top = await make_account(client, h, name="Tập đoàn Sao Mai")
        parent = await make_account(client, h, name="Sao Mai Miền Bắc", parent_id=top["id"])
        survivor = await make_account(client, h, name="Sao Mai Hà Nội", parent_id=parent["id"])

        response = await _merge(client, h, "accounts", survivor["id"], [parent["id"]])

        assert response.status_code == 200, response.text
        assert response.json()["parent_id"] == top["id"]


class TestMergeAccountsRefused:
    async def test_a_merge_that_would_make_the_survivor_its_own_ancestor_is_409_and_moves_nothing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        merged = await make_account(client, h, name="Tập đoàn Sao Mai")
        middle = await make_account(client, h, name="Sao Mai Miền Bắc", parent_id=merged["id"])
        survivor = await make_account(client, h, name="Sao Mai Hà Nội", parent_id=middle["id"])

        response = await _merge(client, h, "accounts", survivor["id"], [merged["id"]])

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "account_hierarchy_cycle"
        assert (await _get(client, h, f"accounts/{middle['id']}"))["parent_id"] == merged["id"]
        assert (await _get(client, h, f"accounts/{merged['id']}"))["merged_into_id"] is None


class TestRefused:
    async def test_another_workspaces_record_is_404(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        mine = await make_lead(client, world.owner.headers, full_name="Ngô Bảo")
        theirs = await make_lead(client, world.other_owner.headers, full_name="Ngô Bảo")

        response = await _merge(client, world.owner.headers, "leads", mine["id"], [theirs["id"]])

        assert response.status_code == 404
        assert response.json()["code"] == "lead_not_found"

    async def test_a_record_a_sales_member_cant_see_is_404(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        mine = await make_contact(client, world.sales.headers, full_name="Lý Thường")
        hidden = await make_contact(client, world.outsider.headers, full_name="Lý Thường")

        response = await _merge(client, world.sales.headers, "contacts", mine["id"], [hidden["id"]])

        assert response.status_code == 404
        assert response.json()["code"] == "contact_not_found"
        still = await _get(client, world.outsider.headers, f"contacts/{hidden['id']}")
        assert still["merged_into_id"] is None

    async def test_bad_bodies_are_422_naming_the_field(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        h = world.sales.headers
        a, b = [await make_lead(client, h, full_name=f"Mai {n}") for n in "AB"]
        stranger = str(uuid.uuid4())
        cases = [
            (a["id"], [a["id"]], {}, "merged_ids"),
            (a["id"], [b["id"], b["id"]], {}, "merged_ids"),
            (a["id"], [], {}, "merged_ids"),
            (a["id"], [str(uuid.uuid4()) for _ in range(11)], {}, "merged_ids"),
            (a["id"], [b["id"]], {"search_text": b["id"]}, "fields.search_text"),
            (a["id"], [b["id"]], {"tags": b["id"]}, "fields.tags"),
            (a["id"], [b["id"]], {"email": stranger}, "fields.email"),
        ]
        for survivor, merged, fields, field in cases:
            response = await _merge(client, h, "leads", survivor, merged, fields)

            assert response.status_code == 422, (field, response.text)
            assert field in {e["field"] for e in response.json()["errors"]}, response.text
        for lead in (a, b):
            assert (await _get(client, h, f"leads/{lead['id']}"))["merged_into_id"] is None

    async def test_other_methods_on_merge_are_405_not_a_record_id(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for kind in ("leads", "contacts", "accounts"):
            response = await client.patch(
                f"{API}/{kind}/merge", json={}, headers=world.sales.headers
            )

            assert response.status_code == 405, response.text
            assert response.headers["allow"] == "POST"
