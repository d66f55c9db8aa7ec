"""How many lead statuses a workspace may have: `GET /lead-statuses` is not paged."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.limits import LEAD_STATUSES_PER_WORKSPACE
from app.leads import statuses
from app.leads.schemas import LeadStatusCreate, LeadStatusLabels, StatusCategory
from tests.conftest import World, acting_as

STATUSES = "/api/v1/lead-statuses"


class TestLeadStatusesPerWorkspace:
    async def test_the_51st_status_is_409_retired_ones_counting_until_one_is_deleted(
        self, session: AsyncSession, client: httpx.AsyncClient, world: World
    ) -> None:
        ctx = await acting_as(session, world.admin)
        seeded = len(statuses.DEFAULT_STATUSES)
        for n in range(LEAD_STATUSES_PER_WORKSPACE - seeded):
            labels = LeadStatusLabels(vi=f"Bước {n}", en=f"Step {n}")
            await statuses.create_status(
                ctx, LeadStatusCreate(key=f"buoc_{n}", category=StatusCategory.open, labels=labels)
            )
        body = {"key": "mot_qua", "category": "open", "labels": {"vi": "Một quá", "en": "One more"}}
        listed = await client.get(STATUSES, headers=world.sales.headers)
        spare = next(s for s in listed.json()["data"] if s["key"] == "buoc_0")
        await client.patch(
            f"{STATUSES}/{spare['id']}", json={"is_active": False}, headers=world.admin.headers
        )

        refused = await client.post(STATUSES, json=body, headers=world.admin.headers)
        await client.delete(f"{STATUSES}/{spare['id']}", headers=world.admin.headers)
        after_delete = await client.post(STATUSES, json=body, headers=world.admin.headers)

        assert LEAD_STATUSES_PER_WORKSPACE == 50
        assert len(listed.json()["data"]) == 50
        assert refused.status_code == 409
        assert refused.json()["code"] == "lead_status_limit"
        assert "50" in refused.json()["detail"]
        assert after_delete.status_code == 201

    async def test_the_spec_states_the_cap_and_its_code(self, client: httpx.AsyncClient) -> None:
        operations = (await client.get("/openapi.json")).json()["paths"][STATUSES]

        assert "at most 50" in operations["get"]["description"]
        assert "`lead_status_limit`" in operations["post"]["responses"]["409"]["description"]
