"""How many accounts a contact may be linked to: every contact in a list page carries all its
links, so they must stay few."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts_service
from app.accounts.schemas import AccountCreate
from app.contacts import service
from app.contacts.schemas import AccountLinkCreate, ContactCreate
from app.core.limits import ACCOUNTS_PER_CONTACT
from tests.conftest import World, acting_as
from tests.factories import make_lead

CONTACTS = "/api/v1/contacts"


class TestAccountsPerContact:
    async def test_the_51st_account_link_is_409_and_a_conversion_onto_the_contact_saves_nothing(
        self, session: AsyncSession, client: httpx.AsyncClient, world: World
    ) -> None:
        ctx = await acting_as(session, world.owner)
        contact = await service.create_contact(ctx, ContactCreate(full_name="Trần Văn Bảy"))
        accounts = [
            await accounts_service.create_account(ctx, AccountCreate(name=f"Công ty {n}"))
            for n in range(ACCOUNTS_PER_CONTACT + 1)
        ]
        for account in accounts[:-1]:
            await service.link_account(ctx, contact.id, AccountLinkCreate(account_id=account.id))
        lead = await make_lead(
            client, world.owner.headers, full_name="Trần Văn Bảy", company_name="Công ty Mới"
        )

        refused = await client.post(
            f"{CONTACTS}/{contact.id}/accounts",
            json={"account_id": str(accounts[-1].id)},
            headers=world.owner.headers,
        )
        converted = await client.post(
            f"/api/v1/leads/{lead['id']}/convert",
            json={"contact": {"id": str(contact.id)}},
            headers=world.owner.headers,
        )
        lead_after = await client.get(f"/api/v1/leads/{lead['id']}", headers=world.owner.headers)
        accounts_after = await client.get(
            "/api/v1/accounts", params={"limit": 200}, headers=world.owner.headers
        )
        links = await client.get(f"{CONTACTS}/{contact.id}/accounts", headers=world.owner.headers)

        assert ACCOUNTS_PER_CONTACT == 50
        assert refused.status_code == 409
        assert refused.json()["code"] == "account_link_limit"
        assert converted.status_code == 409
        assert converted.json()["code"] == "account_link_limit"
        assert lead_after.json()["status"] != "converted"
        assert len(accounts_after.json()["data"]) == ACCOUNTS_PER_CONTACT + 1
        assert "Công ty Mới" not in {a["name"] for a in accounts_after.json()["data"]}
        assert len(links.json()["data"]) == 50

    async def test_the_spec_states_the_cap_and_its_code(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        links = paths[f"{CONTACTS}/{{contact_id}}/accounts"]

        assert "at most 50 accounts" in links["get"]["description"]
        assert "`account_link_limit`" in links["post"]["responses"]["409"]["description"]
