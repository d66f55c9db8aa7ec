"""Records for tests, made the way a client makes them: through the public HTTP API.

One maker per resource, `await make_lead(client, headers, **fields) -> dict`: it posts a valid
body (the defaults below, overridden by `fields`), asserts the 201 and returns the JSON. The
headers say who makes it (`world.sales.headers`, or a `sign_up(...)["headers"]` for a
workspace of the test's own, from tests/conftest.py). Pass every value a test asserts on or
searches by, even when it equals a default, unless the test is about that default.

A test about creating a record (its status code, its refusals) posts itself; these are for the
records a test needs before the behaviour it is about. Many records at once (hundreds, for
limits and query plans) are made through the services with `acting_as`, which is faster.
"""

import uuid
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

import httpx

from tests.conftest import PASSWORD

API = "/api/v1"

# A pipeline of a car dealer: two open stages, then the won and the lost end.
PIPELINE_STAGES: list[dict[str, object]] = [
    {"name": "Tiếp cận", "probability": 10, "kind": "open"},
    {"name": "Lái thử", "name_en": "Test drive", "probability": 40, "kind": "open"},
    {"name": "Thắng", "probability": 100, "kind": "won"},
    {"name": "Thua", "probability": 0, "kind": "lost"},
]


class Maker(Protocol):
    """What every `make_*` below is, for tests parametrized over resources."""

    def __call__(
        self, http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
    ) -> Awaitable[dict[str, Any]]: ...


def bearer(token: str) -> dict[str, str]:
    """Headers that present `token` (an access token or an API key)."""
    return {"Authorization": f"Bearer {token}"}


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# Factories make look-alike records on purpose (a test about conversion wants a second lead
# named as the first): the user's "save anyway" on the duplicate rules' warning. Tests of the
# rules themselves (tests/duplicates) post without it.
_SAVE_ANYWAY = {"allow_duplicates": "true"}
_CHECKED_BY_RULES = {"leads", "contacts", "accounts"}


async def _made(
    http: httpx.AsyncClient, path: str, headers: Mapping[str, str], body: dict[str, object]
) -> dict[str, Any]:
    params = _SAVE_ANYWAY if path in _CHECKED_BY_RULES else None
    response = await http.post(f"{API}/{path}", json=body, headers=headers, params=params)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


# Sales records


async def make_lead(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    return await _made(http, "leads", headers, {"full_name": "Nguyễn Văn Ánh", **fields})


async def make_account(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    return await _made(http, "accounts", headers, {"name": "Công ty TNHH Minh Phát", **fields})


async def make_contact(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    return await _made(http, "contacts", headers, {"full_name": "Nguyễn Văn Ánh", **fields})


async def make_deal(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    return await _made(http, "deals", headers, {"name": "Minh Phát — 3 xe tải", **fields})


async def make_activity(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A call about a lead; without a `related_id`, about a new lead of the same maker."""
    body: dict[str, object] = {"type": "call", "subject": "Gọi giới thiệu", "related_type": "lead"}
    body |= fields
    if "related_id" not in body:
        body["related_id"] = (await make_lead(http, headers))["id"]
    return await _made(http, "activities", headers, body)


# Setup an admin shapes


async def make_pipeline(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A pipeline with `PIPELINE_STAGES`; only admins and owners may make one."""
    body = {"name": "Bán xe", "stages": PIPELINE_STAGES}
    return await _made(http, "pipelines", headers, body | fields)


async def default_pipeline(http: httpx.AsyncClient, headers: Mapping[str, str]) -> dict[str, Any]:
    """The pipeline every workspace starts with (seeded, not made)."""
    listed = await http.get(f"{API}/pipelines", headers=headers)
    assert listed.status_code == 200, listed.text
    return next(p for p in listed.json()["data"] if p["is_default"])


async def make_campaign(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A Facebook campaign with a key of its own; only admins and owners may make one."""
    body = {"name": "Khuyến mãi Tết 2027", "key": _unique("tet-2027-"), "channel": "facebook"}
    return await _made(http, "campaigns", headers, body | fields)


async def make_custom_field(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A text field on leads unless `fields` say otherwise; admins and owners only."""
    body = {"resource": "lead", "key": _unique("truong_"), "label": "Trường", "type": "text"}
    return await _made(http, "custom-fields", headers, body | fields)


# Intake: web forms

# A test-drive sign-up of a car dealer: name and phone required, an email, a model to choose.
FORM_FIELDS: list[dict[str, object]] = [
    {"name": "full_name", "label": "Họ và tên", "label_en": "Full name", "required": True},
    {"name": "phone", "label": "Số điện thoại", "label_en": "Phone", "type": "tel",
     "required": True},
    {"name": "email", "label": "Email", "type": "email"},
    {"name": "model", "label": "Dòng xe", "label_en": "Model", "type": "select",
     "options": ["Vios", "Fortuner"]},
]  # fmt: skip


async def make_form(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A web form with `FORM_FIELDS`; only admins and owners may make one. Its `key` is what
    the public posts with."""
    body = {"name": "Đăng ký lái thử", "fields": FORM_FIELDS}
    return await _made(http, "forms", headers, body | fields)


async def submit_form(http: httpx.AsyncClient, key: str, **fields: object) -> dict[str, Any]:
    """A visitor's post to a form (JSON, no token): its 202 answer."""
    body = {"full_name": "Trần Thị Bích", "phone": "0912 345 678", **fields}
    response = await http.post(f"{API}/intake/forms/{key}", json=body)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


# Intake: ad platforms

# What an admin copies from a Meta app and a page (the Graph API is a local server in tests).
META_CONFIG: dict[str, object] = {
    "app_secret": "meta-app-secret-0123456789",
    "verify_token": "minh-phat-xac-minh",
    "page_access_token": "EAAG-page-token-minh-phat",
    "form_ids": ["555000111222"],
}


async def make_integration(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A Meta Lead Ads integration with `META_CONFIG` unless `fields` say otherwise (give
    `provider` and its `config`); only admins and owners may make one."""
    body = {"provider": "meta", "name": "Fanpage Minh Phát", "config": META_CONFIG}
    return await _made(http, "integrations", headers, body | fields)


async def make_assignment_rule(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A rule that gives every new lead to the maker (`fixed`) unless `fields` say otherwise
    (pass `user_ids` or `team_id` for other hands); admins and owners only."""
    body: dict[str, object] = {"name": "Mọi lead mới", "strategy": "fixed"}
    if "user_ids" not in fields and "team_id" not in fields:
        me = await http.get(f"{API}/me", headers=headers)
        assert me.status_code == 200, me.text
        body["user_ids"] = [me.json()["user"]["id"]]
    return await _made(http, "assignment-rules", headers, body | fields)


async def make_export(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """An export asked for (202): queued until a worker writes it."""
    response = await http.post(
        f"{API}/exports", json={"resource": "lead", **fields}, headers=headers
    )
    assert response.status_code == 202, response.text
    made: dict[str, Any] = response.json()
    return made


async def make_import(
    http: httpx.AsyncClient, headers: Mapping[str, str], *, rows: int = 1
) -> dict[str, Any]:
    """An import of a small lead csv (202): queued until a worker runs it."""
    content = ("Họ và tên\r\n" + "".join(f"Khách {i}\r\n" for i in range(rows))).encode()
    response = await http.post(
        f"{API}/imports",
        files={"file": ("khach.csv", content, "text/csv")},
        data={"resource": "lead"},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    made: dict[str, Any] = response.json()
    return made


async def make_email_template(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    body = {
        "name": "Chúc mừng sinh nhật",
        "subject": "Chúc mừng sinh nhật {{ contact.full_name }}!",
        "body_html": "<p>Kính gửi {{ contact.full_name }},</p>",
        "body_text": "Kính gửi {{ contact.full_name }},",
    }
    return await _made(http, "email-templates", headers, body | fields)


async def make_email(
    http: httpx.AsyncClient, headers: Mapping[str, str], *, contact_id: str, **fields: object
) -> dict[str, Any]:
    """An email to a contact (202, queued), written by hand, sent to `to` (an address of the
    test's own) through a mail server set on 127.0.0.1 if the workspace has none."""
    if (await http.get(f"{API}/mail-settings", headers=headers)).status_code == 404:
        settings = {"host": "127.0.0.1", "port": 2525, "security": "none",
                    "from_email": "crm@minhphat.vn"}  # fmt: skip
        put = await http.put(f"{API}/mail-settings", json=settings, headers=headers)
        assert put.status_code == 200, put.text
    body = {
        "record_type": "contact",
        "record_id": contact_id,
        "subject": "Xin chào",
        "body_text": "Kính gửi {{ contact.full_name }},",
        "to": "khach@example.vn",
    }
    response = await http.post(f"{API}/emails", json=body | fields, headers=headers)
    assert response.status_code == 202, response.text
    made: dict[str, Any] = response.json()
    return made


# People and credentials


async def make_user(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A member of the maker's workspace (a sales user unless `role` says otherwise)."""
    body = {"email": f"{_unique('')}@a.vn", "full_name": "Lý Thu", "password": PASSWORD}
    return await _made(http, "users", headers, body | fields)


async def make_member(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """`make_user`, signed in: the user's JSON and the `headers` of their access token."""
    user = await make_user(http, headers, **fields)
    password = fields.get("password", PASSWORD)
    return user | {"headers": await log_in(http, user["email"], str(password))}


async def log_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """A fresh access token for `email` (another device's session), as headers."""
    response = await http.post(f"{API}/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def make_team(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    return await _made(http, "teams", headers, {"name": _unique("Đội "), **fields})


async def make_api_key(
    http: httpx.AsyncClient, headers: Mapping[str, str], **fields: object
) -> dict[str, Any]:
    """A key of the maker's; its secret, shown this once, is `["key"]` (see `bearer`)."""
    return await _made(http, "api-keys", headers, {"name": "tích hợp", **fields})
