"""Web forms: admins define them, every member reads them; each has an unguessable public key,
the URL a website posts to, a hosted page and a ready-to-paste snippet."""

import base64
import html

import httpx

from tests.conftest import World
from tests.factories import API, FORM_FIELDS, make_custom_field, make_form, submit_form


class TestDefineForm:
    async def test_a_new_form_has_an_unguessable_key_and_what_a_website_needs(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(
            client, world.admin.headers, allowed_origins=["https://MinhPhat.vn"], tags=["lái thử"]
        )

        key_bits = len(base64.urlsafe_b64decode(form["key"] + "==")) * 8
        assert key_bits >= 128
        assert form["post_url"].endswith(f"/api/v1/intake/forms/{form['key']}")
        assert form["hosted_url"].endswith(f"/f/{form['key']}")
        assert f'action="{form["post_url"]}"' in form["embed_html"]
        assert 'name="_gotcha"' in form["embed_html"]  # the honeypot, hidden from people
        assert form["allowed_origins"] == ["https://minhphat.vn"]
        assert form["default_source"] == "form"
        assert form["active"] is True

    async def test_two_forms_never_share_a_key(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        first = await make_form(client, world.admin.headers)
        second = await make_form(client, world.admin.headers)

        assert first["key"] != second["key"]

    async def test_labels_an_admin_typed_are_escaped_in_the_snippet(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        fields = [{"name": "full_name", "label": '<img src=x onerror="alert(1)">'}]
        form = await make_form(client, world.admin.headers, fields=fields)

        assert "<img" not in form["embed_html"]
        assert html.escape('<img src=x onerror="alert(1)">') in form["embed_html"]

    async def test_sales_staff_read_forms_but_cannot_make_one(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.owner.headers)

        made = await client.post(
            f"{API}/forms", json={"name": "x", "fields": FORM_FIELDS}, headers=world.sales.headers
        )
        read = await client.get(f"{API}/forms/{form['id']}", headers=world.sales.headers)
        deleted = await client.delete(f"{API}/forms/{form['id']}", headers=world.sales.headers)

        assert made.status_code == 403
        assert read.status_code == 200
        assert deleted.status_code == 403

    async def test_another_workspace_sees_no_form(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        got = await client.get(f"{API}/forms/{form['id']}", headers=world.other_owner.headers)
        listed = await client.get(f"{API}/forms", headers=world.other_owner.headers)

        assert got.status_code == 404
        assert form["id"] not in [f["id"] for f in listed.json()["data"]]

    async def test_list_shows_each_form_with_its_urls(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers, name="Nhận báo giá")

        listed = await client.get(f"{API}/forms?active=true", headers=world.sales.headers)

        found = next(f for f in listed.json()["data"] if f["id"] == form["id"])
        assert found["name"] == "Nhận báo giá"
        assert found["post_url"] == form["post_url"]
        assert found["embed_html"] == form["embed_html"]


class TestFormRefusals:
    async def _refused(self, client: httpx.AsyncClient, world: World, **body: object) -> list:
        response = await client.post(
            f"{API}/forms",
            json={"name": "Đăng ký", "fields": FORM_FIELDS, **body},
            headers=world.admin.headers,
        )
        assert response.status_code == 422, response.text
        return [e["field"] for e in response.json()["errors"]]

    async def test_mapping_a_field_the_form_lacks(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        fields = await self._refused(client, world, mapping={"budget": "notes"})

        assert fields == ["mapping.budget"]

    async def test_mapping_to_a_custom_field_leads_do_not_have(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        fields = await self._refused(client, world, mapping={"model": "custom_fields.khong_co"})

        assert fields == ["mapping.model"]

    async def test_mapping_to_something_that_is_no_lead_field(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        fields = await self._refused(client, world, mapping={"model": "owner_id"})

        assert fields == ["mapping.model"]

    async def test_a_select_without_options(self, client: httpx.AsyncClient, world: World) -> None:
        fields = await self._refused(
            client, world, fields=[{"name": "model", "label": "Xe", "type": "select"}]
        )

        assert fields[0].startswith("fields")

    async def test_an_origin_with_a_path(self, client: httpx.AsyncClient, world: World) -> None:
        fields = await self._refused(client, world, allowed_origins=["https://minhphat.vn/lien-he"])

        assert fields[0].startswith("allowed_origins")

    async def test_a_status_that_does_not_exist(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        fields = await self._refused(client, world, default_status="khong_co")

        assert fields == ["default_status"]

    async def test_a_custom_field_of_leads_can_be_mapped(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        custom = await make_custom_field(client, world.admin.headers, key="dong_xe")

        form = await make_form(
            client, world.admin.headers, mapping={"model": f"custom_fields.{custom['key']}"}
        )

        assert form["mapping"] == {"model": "custom_fields.dong_xe"}


class TestFormLifecycle:
    async def test_an_inactive_form_takes_no_posts_until_it_is_active_again(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)
        path = f"{API}/forms/{form['id']}"

        await client.patch(path, json={"active": False}, headers=world.admin.headers)
        refused = await client.post(f"{API}/intake/forms/{form['key']}", json={"full_name": "A"})
        await client.patch(path, json={"active": True}, headers=world.admin.headers)
        accepted = await submit_form(client, form["key"])

        assert refused.status_code == 404
        assert accepted["submission_id"]

    async def test_a_deleted_form_takes_no_posts(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        await client.delete(f"{API}/forms/{form['id']}", headers=world.admin.headers)
        refused = await client.post(
            f"{API}/intake/forms/{form['key']}", json={"full_name": "A", "phone": "0912345678"}
        )

        assert refused.status_code == 404

    async def test_an_update_keeps_the_key_and_is_in_the_history(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        updated = await client.patch(
            f"{API}/forms/{form['id']}",
            json={"redirect_url": "https://minhphat.vn/cam-on"},
            headers=world.admin.headers,
        )
        history = await client.get(f"{API}/forms/{form['id']}/history", headers=world.admin.headers)

        assert updated.status_code == 200
        assert updated.json()["key"] == form["key"]
        changed = history.json()["data"][-1]["changes"]
        assert changed["redirect_url"] == {"old": None, "new": "https://minhphat.vn/cam-on"}
