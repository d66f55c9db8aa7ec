"""What an admin's setup may grow to: fields per resource, and how much a record's custom fields
may weigh. Past these, every member's lists and records would grow without bound."""

import asyncio
import uuid

import asyncpg
import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from app.core.context import SYSTEM, Ctx
from app.core.db import enter_workspace, libpq_url, make_engine, make_sessionmaker
from app.core.limits import CUSTOM_FIELDS_MAX_BYTES, CUSTOM_FIELDS_PER_RESOURCE
from app.custom_fields import service
from app.custom_fields.schemas import CustomFieldCreate, CustomFieldResource, CustomFieldType
from app.leads.models import Lead
from tests.conftest import CITUS_WORKERS, World, acting_as, sign_up
from tests.factories import make_lead

# Where a lock wait shows: on a Citus cluster the row is a worker's, and so is the wait.
ACTIVITY = "citus_stat_activity" if CITUS_WORKERS else "pg_stat_activity"

FIELDS = "/api/v1/custom-fields"
PATHS = {"lead": "/api/v1/leads", "account": "/api/v1/accounts",
         "contact": "/api/v1/contacts", "deal": "/api/v1/deals"}  # fmt: skip
NAMES = {"lead": "full_name", "account": "name", "contact": "full_name", "deal": "name"}
LONG_VI = "ệ" * 2000  # the longest text value, 6,000 bytes in UTF-8


async def _declare_text_fields(ctx: Ctx, resource: str, count: int) -> list[str]:
    keys = [f"ghi_chu_{n}" for n in range(count)]
    for key in keys:
        await service.create_definition(
            ctx,
            CustomFieldCreate(
                resource=CustomFieldResource(resource), key=key, label=f"Ghi chú {key}",
                type=CustomFieldType.text,
            ),
        )  # fmt: skip
    return keys


class TestFieldsPerResource:
    async def test_the_51st_field_of_a_resource_is_409_while_another_resource_takes_one(
        self, session: AsyncSession, client: httpx.AsyncClient, world: World
    ) -> None:
        await _declare_text_fields(
            await acting_as(session, world.admin), "contact", CUSTOM_FIELDS_PER_RESOURCE
        )

        refused = await client.post(
            FIELDS,
            json={"resource": "contact", "key": "mot_qua", "label": "Một quá", "type": "text"},
            headers=world.admin.headers,
        )
        elsewhere = await client.post(
            FIELDS,
            json={"resource": "lead", "key": "mot_qua", "label": "Một quá", "type": "text"},
            headers=world.admin.headers,
        )
        listed = await client.get(
            FIELDS, params={"resource": "contact"}, headers=world.sales.headers
        )
        await client.delete(
            f"{FIELDS}/{listed.json()['data'][0]['id']}", headers=world.admin.headers
        )
        after_delete = await client.post(
            FIELDS,
            json={"resource": "contact", "key": "mot_qua", "label": "Một quá", "type": "text"},
            headers=world.admin.headers,
        )

        assert CUSTOM_FIELDS_PER_RESOURCE == 50
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "custom_field_limit"
        assert "50" in refused.json()["detail"]
        assert elsewhere.status_code == 201
        assert len(listed.json()["data"]) == 50
        assert "mot_qua" not in {d["key"] for d in listed.json()["data"]}
        assert after_delete.status_code == 201

    async def test_two_admins_racing_for_the_last_place_get_one_field_between_them(
        self, database_url: str, committing_client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(committing_client, "committing-custom-field-race")
        workspace_id = uuid.UUID(owner["workspace_id"])
        engine = make_engine(database_url, poolclass=NullPool)
        maker = make_sessionmaker(engine)
        watcher = await asyncpg.connect(libpq_url(database_url))

        def ctx_of(session: AsyncSession) -> Ctx:
            ctx = Ctx(session=session, actor=SYSTEM, workspace_id=workspace_id)
            ctx.state.workspace_id = workspace_id  # its transactions begin in the workspace
            return ctx

        def field(key: str) -> CustomFieldCreate:
            return CustomFieldCreate(
                resource=CustomFieldResource.lead, key=key, label=key, type=CustomFieldType.text
            )

        try:
            async with maker() as setup:
                await _declare_text_fields(ctx_of(setup), "lead", CUSTOM_FIELDS_PER_RESOURCE - 1)
                await setup.commit()
            async with maker() as first, maker() as second:
                await service.create_definition(ctx_of(first), field("nguoi_thu_nhat"))
                racing = asyncio.create_task(
                    service.create_definition(ctx_of(second), field("nguoi_thu_hai"))
                )
                # The second admin either finishes (no lock: the cap is soft) or waits on
                # the first one's lock; only then does the first commit.
                while not racing.done():
                    waiting = await watcher.fetchval(
                        f"SELECT count(*) FROM {ACTIVITY} WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"
                    )
                    if waiting:
                        break
                    await asyncio.sleep(0.01)
                await first.commit()
                try:
                    await racing
                    await second.commit()
                    outcome = "created"
                except service.TooManyCustomFields:
                    outcome = "refused"
            held = await watcher.fetchval(
                "SELECT count(*) FROM custom_field_definitions WHERE workspace_id = $1",
                workspace_id,
            )
        finally:
            await watcher.close()
            await engine.dispose()

        assert outcome == "refused"
        assert held == CUSTOM_FIELDS_PER_RESOURCE


class TestRecordSize:
    @pytest.mark.parametrize("resource", ["lead", "account", "contact", "deal"])
    async def test_a_record_over_16_kib_of_custom_fields_is_422_naming_them_and_nothing_is_saved(
        self, session: AsyncSession, client: httpx.AsyncClient, world: World, resource: str
    ) -> None:
        keys = await _declare_text_fields(await acting_as(session, world.admin), resource, 3)
        name = f"Quá tải {resource}"

        response = await client.post(
            PATHS[resource],
            json={NAMES[resource]: name, "custom_fields": dict.fromkeys(keys, LONG_VI)},
            headers=world.owner.headers,
        )
        listed = await client.get(
            PATHS[resource], params={"limit": 200}, headers=world.owner.headers
        )
        ascii_same_length = await client.post(  # bytes are counted, not characters
            PATHS[resource],
            json={NAMES[resource]: name, "custom_fields": dict.fromkeys(keys, "a" * 2000)},
            headers=world.owner.headers,
        )

        assert CUSTOM_FIELDS_MAX_BYTES == 16 * 1024
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "custom_fields"
        assert "16384" in response.json()["errors"][0]["message"]
        assert name not in {r[NAMES[resource]] for r in listed.json()["data"]}
        assert ascii_same_length.status_code == 201

    async def test_a_patch_that_would_pass_the_limit_is_422_and_leaves_the_record_as_it_was(
        self, session: AsyncSession, client: httpx.AsyncClient, world: World
    ) -> None:
        keys = await _declare_text_fields(await acting_as(session, world.admin), "contact", 3)
        created = await client.post(
            PATHS["contact"],
            json={"full_name": "Lê Văn Tám", "custom_fields": {keys[0]: LONG_VI, keys[1]: LONG_VI}},
            headers=world.owner.headers,
        )
        url = f"{PATHS['contact']}/{created.json()['id']}"

        grown = await client.patch(
            url, json={"custom_fields": {keys[2]: LONG_VI}}, headers=world.owner.headers
        )
        after = await client.get(url, headers=world.owner.headers)
        swapped = await client.patch(
            url,
            json={"custom_fields": {keys[0]: None, keys[2]: LONG_VI}},
            headers=world.owner.headers,
        )

        assert created.status_code == 201
        assert grown.status_code == 422
        assert grown.json()["errors"][0]["field"] == "custom_fields"
        assert after.json()["version"] == created.json()["version"]
        assert set(after.json()["custom_fields"]) == {keys[0], keys[1]}
        assert swapped.status_code == 200
        assert set(swapped.json()["custom_fields"]) == {keys[1], keys[2]}

    async def test_a_record_stored_over_the_limit_can_be_edited_down_but_not_up(
        self, session: AsyncSession, client: httpx.AsyncClient, world: World
    ) -> None:
        keys = await _declare_text_fields(await acting_as(session, world.admin), "lead", 5)
        created = await make_lead(client, world.owner.headers, full_name="Cũ")
        lead_id = uuid.UUID(created["id"])
        await enter_workspace(session, world.owner.workspace_id)
        await session.execute(  # as a record saved before the limit existed
            update(Lead)
            .where(Lead.workspace_id == world.owner.workspace_id, Lead.id == lead_id)
            .values(custom_fields=dict.fromkeys(keys, LONG_VI))
        )
        url = f"{PATHS['lead']}/{lead_id}"

        trimmed = await client.patch(
            url, json={"custom_fields": {keys[0]: None}}, headers=world.owner.headers
        )
        grown = await client.patch(
            url, json={"custom_fields": {keys[0]: "thêm"}}, headers=world.owner.headers
        )

        assert trimmed.status_code == 200
        assert len(trimmed.json()["custom_fields"]) == 4
        assert grown.status_code == 422


class TestContract:
    async def test_the_spec_states_the_caps_and_their_codes(
        self, client: httpx.AsyncClient
    ) -> None:
        spec = (await client.get("/openapi.json")).json()
        create = spec["paths"]["/api/v1/custom-fields"]["post"]
        listing = spec["paths"]["/api/v1/custom-fields"]["get"]
        values = spec["components"]["schemas"]["LeadCreate"]["properties"]["custom_fields"]

        assert "at most 50 custom fields" in create["description"]
        assert "`custom_field_limit`" in create["responses"]["409"]["description"]
        assert "at most 50 fields" in listing["description"]
        assert "16384 bytes" in values["description"]
