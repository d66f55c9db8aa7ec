"""Lead statuses and custom fields: what admins configure and leads are checked against."""

import httpx

from tests.conftest import World
from tests.factories import make_custom_field, make_lead

STATUSES = "/api/v1/lead-statuses"
FIELDS = "/api/v1/custom-fields"


async def _status_id(client: httpx.AsyncClient, world: World, key: str) -> str:
    listed = await client.get(STATUSES, headers=world.owner.headers)
    return next(s["id"] for s in listed.json()["data"] if s["key"] == key)


class TestLeadStatuses:
    async def test_admin_adds_a_status_leads_can_take(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        created = await client.post(
            STATUSES,
            json={"key": "meeting", "category": "qualified",
                  "labels": {"vi": "Đã hẹn", "en": "Meeting"}, "position": 55},
            headers=world.admin.headers,
        )  # fmt: skip
        lead = await client.post(
            "/api/v1/leads",
            json={"full_name": "A", "status": "meeting"},
            headers=world.sales.headers,
        )

        assert created.status_code == 201
        assert lead.status_code == 201

    async def test_sales_cannot_change_statuses(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            STATUSES,
            json={"key": "x", "category": "open", "labels": {"vi": "X", "en": "X"}},
            headers=world.sales.headers,
        )

        assert response.status_code == 403

    async def test_rename_and_reorder_keep_the_key(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        status_id = await _status_id(client, world, "contacted")

        response = await client.patch(
            f"{STATUSES}/{status_id}",
            json={"labels": {"vi": "Đã gọi", "en": "Called"}, "position": 99},
            headers=world.admin.headers,
        )

        assert response.json()["key"] == "contacted"
        assert response.json()["labels"] == {"vi": "Đã gọi", "en": "Called"}
        listed = await client.get(STATUSES, headers=world.admin.headers)
        assert listed.json()["data"][-1]["key"] == "contacted"

    async def test_retired_status_can_no_longer_be_given(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        status_id = await _status_id(client, world, "unreachable")
        await client.patch(
            f"{STATUSES}/{status_id}", json={"is_active": False}, headers=world.admin.headers
        )

        response = await client.post(
            "/api/v1/leads",
            json={"full_name": "A", "status": "unreachable"},
            headers=world.sales.headers,
        )

        assert response.status_code == 422

    async def test_status_in_use_cannot_be_deleted_but_an_unused_one_can(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_lead(client, world.sales.headers, full_name="A", status="hot")
        in_use = await client.delete(
            f"{STATUSES}/{await _status_id(client, world, 'hot')}", headers=world.admin.headers
        )
        unused = await client.delete(
            f"{STATUSES}/{await _status_id(client, world, 'raw')}", headers=world.admin.headers
        )

        assert in_use.status_code == 409
        assert in_use.json()["code"] == "lead_status_in_use"
        assert unused.status_code == 204

    async def test_converted_is_reached_only_through_conversion(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            "/api/v1/leads",
            json={"full_name": "A", "status": "converted"},
            headers=world.sales.headers,
        )

        assert response.status_code == 422


class TestCustomFields:
    async def test_values_are_checked_against_their_definitions(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        admin = world.admin.headers
        await make_custom_field(client, admin, key="budget", label="Ngân sách", type="number")
        await make_custom_field(
            client, admin, key="car", label="Dòng xe", type="select", options=["SUV", "Sedan"]
        )
        await make_custom_field(client, admin, key="visit", label="Ngày đến", type="date")

        good = await client.post(
            "/api/v1/leads",
            json={"full_name": "A",
                  "custom_fields": {"budget": 850000000, "car": "SUV", "visit": "2026-12-01"}},
            headers=world.sales.headers,
        )  # fmt: skip
        bad = await client.post(
            "/api/v1/leads",
            json={"full_name": "A",
                  "custom_fields": {"budget": "nhiều", "car": "Xe tải", "colour": "đỏ"}},
            headers=world.sales.headers,
        )  # fmt: skip

        assert good.status_code == 201
        assert good.json()["custom_fields"] == {
            "budget": 850000000, "car": "SUV", "visit": "2026-12-01"
        }  # fmt: skip
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["errors"]} == {
            "custom_fields.budget", "custom_fields.car", "custom_fields.colour"
        }  # fmt: skip

    async def test_required_field_must_be_given_and_patches_merge(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        admin = world.admin.headers
        await make_custom_field(
            client, admin, key="region", label="Vùng", type="text", required=True
        )
        await make_custom_field(client, admin, key="vip", label="VIP", type="boolean")

        missing = await client.post(
            "/api/v1/leads", json={"full_name": "A"}, headers=world.sales.headers
        )
        lead = await make_lead(
            client, world.sales.headers, full_name="A", custom_fields={"region": "Bắc"}
        )
        patched = await client.patch(
            f"/api/v1/leads/{lead['id']}",
            json={"custom_fields": {"vip": True}},
            headers=world.sales.headers,
        )
        cleared = await client.patch(
            f"/api/v1/leads/{lead['id']}",
            json={"custom_fields": {"region": None}},
            headers=world.sales.headers,
        )

        assert missing.status_code == 422
        assert patched.json()["custom_fields"] == {"region": "Bắc", "vip": True}
        assert cleared.status_code == 422

    async def test_duplicate_key_is_409_and_select_needs_options(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_custom_field(
            client, world.admin.headers, key="size", label="Quy mô", type="text"
        )

        again = await client.post(
            FIELDS,
            json={"resource": "lead", "key": "size", "label": "X", "type": "text"},
            headers=world.admin.headers,
        )
        no_options = await client.post(
            FIELDS,
            json={"resource": "lead", "key": "kind", "label": "X", "type": "select"},
            headers=world.admin.headers,
        )

        assert again.status_code == 409
        assert no_options.status_code == 422

    async def test_a_number_too_big_for_a_client_to_hold_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_custom_field(client, world.admin.headers, key="big", label="Big", type="number")

        response = await client.post(
            "/api/v1/leads",
            json={"full_name": "A", "custom_fields": {"big": 10**20}},
            headers=world.sales.headers,
        )

        assert response.status_code == 422

    async def test_null_for_a_required_setting_of_a_field_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_custom_field(client, world.admin.headers, key="n", label="N", type="text")

        response = await client.patch(
            f"{FIELDS}/{made['id']}", json={"label": None}, headers=world.admin.headers
        )

        assert response.status_code == 422
