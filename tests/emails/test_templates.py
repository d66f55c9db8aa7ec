"""Email templates through the HTTP API: admins write them, everyone reads them; a template
that cannot work is refused when saved, and a preview renders it for a real record."""

import httpx
import pytest

from tests.conftest import World
from tests.factories import API, make_contact, make_deal

TEMPLATES = f"{API}/email-templates"
BIRTHDAY = {
    "name": "Chúc mừng sinh nhật",
    "subject": "Chúc mừng sinh nhật {{ contact.full_name }}!",
    "body_html": "<p>Kính gửi {{ contact.full_name }},</p><p>{{ owner.full_name }}</p>",
    "body_text": "Kính gửi {{ contact.full_name }},\n{{ owner.full_name }}",
}
THANKS = {
    "name": "Cảm ơn khách hàng",
    "subject": "Cảm ơn {{ contact.full_name }}: {{ deal.name }}",
    "body_html": "<p>Giá trị hợp đồng: {{ deal.amount | vnd }}</p>",
    "body_text": "Giá trị hợp đồng: {{ deal.amount | vnd }}",
}


async def _template(http: httpx.AsyncClient, world: World, body: dict[str, str]) -> str:
    made = await http.post(TEMPLATES, json=body, headers=world.admin.headers)
    assert made.status_code == 201, made.text
    template_id: str = made.json()["id"]
    return template_id


def _problems(response: httpx.Response, code: str) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return [(e["field"], e["message"]) for e in body["errors"]]


class TestTemplates:
    async def test_an_admin_makes_one_and_a_sales_member_reads_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        template_id = await _template(client, world, BIRTHDAY)
        read = await client.get(f"{TEMPLATES}/{template_id}", headers=world.sales.headers)
        assert read.status_code == 200, read.text
        assert read.json()["subject"] == BIRTHDAY["subject"]
        assert read.headers["etag"] == '"1"'
        listed = await client.get(TEMPLATES, headers=world.sales.headers)
        assert template_id in [t["id"] for t in listed.json()["data"]]

    async def test_a_sales_member_cannot_write_one(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        refused = await client.post(TEMPLATES, json=BIRTHDAY, headers=world.sales.headers)
        assert refused.status_code == 403, refused.text

    async def test_another_workspace_sees_none(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        template_id = await _template(client, world, BIRTHDAY)
        hidden = await client.get(f"{TEMPLATES}/{template_id}", headers=world.other_owner.headers)
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "email_template_not_found"

    async def test_an_update_is_checked_and_kept_in_history(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        template_id = await _template(client, world, BIRTHDAY)
        changed = await client.patch(
            f"{TEMPLATES}/{template_id}",
            json={"subject": "Sinh nhật vui vẻ, {{ contact.first_name }}"},
            headers={**world.admin.headers, "If-Match": '"1"'},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["version"] == 2
        history = await client.get(
            f"{TEMPLATES}/{template_id}/history", headers=world.admin.headers
        )
        assert [e["action"] for e in history.json()["data"]] == ["created", "updated"]
        bad = await client.patch(
            f"{TEMPLATES}/{template_id}",
            json={"body_text": "{{ contact.salary }}"},
            headers=world.admin.headers,
        )
        assert _problems(bad, "template_invalid") == [
            ("body_text", "line 1: `contact` has no field `salary`")
        ]


class TestInvalidTemplates:
    @pytest.mark.parametrize(
        ("part", "source", "message"),
        [
            ("subject", "Chào {{ contact.full_name ", "line 1: unexpected end of template"),
            ("body_html", "<p>{% if %}</p>", "line 1: Expected an expression"),
            ("body_text", "{{ customer.name }}", "line 1: unknown variable `customer`"),
            ("body_text", "{{ contact.salary }}", "line 1: `contact` has no field `salary`"),
            ("body_html", "{{ deal.amount | usd }}", "line 1: No filter named 'usd'"),
            ("body_text", "\n\n{{ contact.__class__ }}", "line 3: `contact` has no field"),
        ],
    )
    async def test_is_a_422_naming_the_part_and_the_error(
        self, client: httpx.AsyncClient, world: World, part: str, source: str, message: str
    ) -> None:
        refused = await client.post(
            TEMPLATES, json={**BIRTHDAY, part: source}, headers=world.admin.headers
        )
        [(field, found)] = _problems(refused, "template_invalid")
        assert field == part
        assert found.startswith(message), found

    async def test_jinjas_own_names_in_loops_are_accepted(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        body = "{% for tag in contact.tags %}{{ loop.index }}. {{ tag }}{% endfor %}"
        body += "{% set n = 3 %}{% for i in range(n) %}*{% endfor %}"
        made = await client.post(
            TEMPLATES, json={**BIRTHDAY, "body_text": body}, headers=world.admin.headers
        )
        assert made.status_code == 201, made.text


class TestPreview:
    async def test_renders_a_deal_with_its_contact_owner_and_amount_in_vnd(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(
            client, world.owner.headers, full_name="Nguyễn Văn Ánh", email="anh@khach.vn"
        )
        deal = await make_deal(
            client, world.owner.headers, contact_id=contact["id"], amount="1500000"
        )
        template_id = await _template(client, world, THANKS)
        preview = await client.post(
            f"{TEMPLATES}/{template_id}/preview",
            json={"record_type": "deal", "record_id": deal["id"]},
            headers=world.owner.headers,
        )
        assert preview.status_code == 200, preview.text
        assert preview.json() == {
            "subject": f"Cảm ơn Nguyễn Văn Ánh: {deal['name']}",
            "body_html": "<p>Giá trị hợp đồng: 1.500.000 ₫</p>",
            "body_text": "Giá trị hợp đồng: 1.500.000 ₫",
            "to": "anh@khach.vn",
        }

    async def test_escapes_the_records_values_in_html_only(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(client, world.owner.headers, full_name="Ánh <b>&</b>")
        template_id = await _template(client, world, BIRTHDAY)
        preview = await client.post(
            f"{TEMPLATES}/{template_id}/preview",
            json={"record_type": "contact", "record_id": contact["id"]},
            headers=world.owner.headers,
        )
        body = preview.json()
        assert "<p>Kính gửi Ánh &lt;b&gt;&amp;&lt;/b&gt;,</p>" in body["body_html"]
        assert body["body_text"].startswith("Kính gửi Ánh <b>&</b>,")
        assert body["body_text"].endswith("\nChủ A")  # the owner's name
        assert body["to"] is None

    async def test_a_deal_variable_in_an_email_about_a_contact_is_a_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(client, world.owner.headers)
        template_id = await _template(client, world, THANKS)
        refused = await client.post(
            f"{TEMPLATES}/{template_id}/preview",
            json={"record_type": "contact", "record_id": contact["id"]},
            headers=world.owner.headers,
        )
        [(field, message)] = _problems(refused, "template_render_failed")
        assert field == "subject"
        assert "'deal' is undefined" in message

    async def test_a_record_the_caller_cannot_see_is_a_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        contact = await make_contact(client, world.owner.headers)
        template_id = await _template(client, world, BIRTHDAY)
        refused = await client.post(
            f"{TEMPLATES}/{template_id}/preview",
            json={"record_type": "contact", "record_id": contact["id"]},
            headers=world.outsider.headers,
        )
        assert _problems(refused, "validation_error") == [
            ("record_id", "not a contact you can see")
        ]
