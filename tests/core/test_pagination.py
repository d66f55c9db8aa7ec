"""Lists are written straight from rows (a fast path): they must read exactly as the record
does on its own, which pydantic writes."""

import httpx

from tests.conftest import World
from tests.factories import make_custom_field, make_lead


async def test_a_lead_reads_the_same_in_a_list_as_on_its_own(
    client: httpx.AsyncClient, world: World
) -> None:
    await make_custom_field(
        client, world.admin.headers, key="budget", label="Ngân sách", type="number"
    )
    made = await make_lead(
        client, world.sales.headers, full_name="Đỗ Thị Ánh", phone="0912 345 678",
        tags=["vip", "hội chợ"], custom_fields={"budget": 1.5e9}, score=77, utm_source="zalo",
    )  # fmt: skip
    sparse = await make_lead(client, world.sales.headers, full_name="Ít thông tin")

    listed = await client.get("/api/v1/leads", headers=world.sales.headers)
    by_id = {lead["id"]: lead for lead in listed.json()["data"]}

    for created in (made, sparse):
        alone = await client.get(f"/api/v1/leads/{created['id']}", headers=world.sales.headers)
        assert by_id[created["id"]] == alone.json()
        assert listed.text.count(alone.json()["created_at"]) >= 1  # same text, not just equal
