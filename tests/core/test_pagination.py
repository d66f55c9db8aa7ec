"""Lists are written straight from rows (a fast path): they must read exactly as the record
does on its own, which pydantic writes."""

import httpx

from tests.conftest import World


async def test_a_lead_reads_the_same_in_a_list_as_on_its_own(
    client: httpx.AsyncClient, world: World
) -> None:
    await client.post(
        "/api/v1/custom-fields",
        json={"resource": "lead", "key": "budget", "label": "Ngân sách", "type": "number"},
        headers=world.admin.headers,
    )
    made = await client.post(
        "/api/v1/leads",
        json={"full_name": "Đỗ Thị Ánh", "phone": "0912 345 678", "tags": ["vip", "hội chợ"],
              "custom_fields": {"budget": 1.5e9}, "score": 77, "utm_source": "zalo"},
        headers=world.sales.headers,
    )  # fmt: skip
    sparse = await client.post(
        "/api/v1/leads", json={"full_name": "Ít thông tin"}, headers=world.sales.headers
    )

    listed = await client.get("/api/v1/leads", headers=world.sales.headers)
    by_id = {lead["id"]: lead for lead in listed.json()["data"]}

    for created in (made, sparse):
        alone = await client.get(
            f"/api/v1/leads/{created.json()['id']}", headers=world.sales.headers
        )
        assert by_id[created.json()["id"]] == alone.json()
        assert listed.text.count(alone.json()["created_at"]) >= 1  # same text, not just equal
