"""Every write operation in the OpenAPI spec commits at least one domain event with its change
(DESIGN §7's outbox): the spec is walked, each operation is done once as a client would do it,
and the events its transaction wrote are read back. An operation the spec gains without a
scenario here fails `test_every_write_operation_has_a_scenario`: say what it emits."""

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.automations.models import AutomationRun
from app.core.events import Event
from app.core.ids import id_floor, new_id
from app.core.models import utcnow
from app.emails.unsubscribe import make_token
from app.notifications.service import notify_about_lead
from app.webhooks import service as webhooks_service
from app.webhooks.models import WebhookDelivery
from app.webhooks.service import EventMessage
from tests.conftest import PASSWORD, World, acting_as
from tests.factories import (
    API,
    PIPELINE_STAGES,
    make_account,
    make_activity,
    make_api_key,
    make_assignment_rule,
    make_campaign,
    make_contact,
    make_custom_field,
    make_deal,
    make_email,
    make_email_template,
    make_form,
    make_integration,
    make_lead,
    make_pipeline,
    make_team,
    make_user,
    submit_form,
)
from tests.integrations.platforms import (
    GOOGLE_KEY,
    SIGNING_SECRET,
    FakeGraph,
    google_lead,
    graph,  # noqa: F401 (a fixture)
    graph_server,  # noqa: F401 (a fixture)
    leadgen,
    post_meta,
    post_signed,
)

NEW_PASSWORD = "mật-khẩu-mới-dài-789"
SPEC = json.loads((Path(__file__).parents[2] / "openapi" / "openapi.json").read_text())
WRITES = ("post", "put", "patch", "delete")

# Writes that change nothing, and why.
CHANGE_NOTHING = {
    "check_duplicates": "compares a record with the rules; nothing is saved",
    "log_in": "issues an access token; no record changes (failed attempts are counted in Redis)",
    "test_automation": "a dry run: says what a workflow would do, does nothing",
    "preview_email_template": "renders a template for a record; nothing is saved",
}


ANY_RECORD = "*"  # a record whose id the API does not show (the workspace's mail settings)


@dataclass
class Call:
    """What a scenario did: the answer, and the events it must have written (type, record)."""

    response: httpx.Response
    expected: list[tuple[str, str]]


Scenario = Callable[[httpx.AsyncClient, World, "Given"], Awaitable[Call]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(operation_id: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[operation_id] = fn
        return fn

    return register


@dataclass
class Given:
    """What a scenario may need besides the world: the local Graph API (a Meta backfill), the
    test's session (a notification only intake or a reminder would make)."""

    graph: FakeGraph
    session: AsyncSession


def write_operations() -> set[str]:
    return {
        op["operationId"]
        for path in SPEC["paths"].values()
        for method, op in path.items()
        if method in WRITES
    }


def test_every_write_operation_has_a_scenario() -> None:
    missing = write_operations() - SCENARIOS.keys() - CHANGE_NOTHING.keys()
    assert missing == set(), "add a scenario (what it emits) for each"
    assert SCENARIOS.keys() - write_operations() == set(), "scenarios of operations gone"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # At collection, when every scenario below has registered itself.
    if "operation_id" in metafunc.fixturenames:
        metafunc.parametrize("operation_id", sorted(SCENARIOS))


@pytest.mark.usefixtures("empty_queue")
async def test_a_committed_write_emits_its_events(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    request: pytest.FixtureRequest,
    operation_id: str,
) -> None:
    since = id_floor(utcnow())
    given = Given(graph=request.getfixturevalue("graph"), session=session)
    call = await SCENARIOS[operation_id](client, world, given)
    assert call.response.is_success, call.response.text
    await session.execute(text("SET LOCAL ROLE NONE"))  # every workspace's (a sign-up's own)
    emitted = await session.execute(
        select(Event.type, Event.record_id).where(Event.id >= since).order_by(Event.id)
    )
    made = {(row.type, str(row.record_id)) for row in emitted}
    anyone = {(kind, ANY_RECORD) for kind, _ in made}  # an expected record of "*"
    assert set(call.expected) <= made | anyone, f"emitted {sorted(made)}"


# Helpers ---------------------------------------------------------------------------------------


def owner(world: World) -> dict[str, str]:
    return world.owner.headers


async def etag(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> dict[str, str]:
    got = await http.get(f"{API}/{path}", headers=headers)
    assert got.status_code == 200, got.text
    return {**headers, "If-Match": got.headers["ETag"]}


async def patched(
    http: httpx.AsyncClient, world: World, path: str, body: dict[str, Any]
) -> httpx.Response:
    return await http.patch(
        f"{API}/{path}", json=body, headers=await etag(http, path, owner(world))
    )


async def deleted(http: httpx.AsyncClient, world: World, path: str) -> httpx.Response:
    return await http.delete(f"{API}/{path}", headers=await etag(http, path, owner(world)))


def emits(response: httpx.Response, *expected: tuple[str, str]) -> Call:
    return Call(response, list(expected))


# Records through the resource layer: created, updated, deleted, restored ----------------------

Maker = Callable[..., Awaitable[dict[str, Any]]]
RECORDS: dict[str, tuple[str, Maker, dict[str, Any]]] = {
    # resource: (path, maker, a change)
    "lead": ("leads", make_lead, {"status": "contacted"}),
    "account": ("accounts", make_account, {"industry": "Ô tô"}),
    "contact": ("contacts", make_contact, {"title": "Giám đốc"}),
    "deal": ("deals", make_deal, {"name": "Minh Phát — 5 xe tải"}),
    "activity": ("activities", make_activity, {"subject": "Gọi lại"}),
    "campaign": ("campaigns", make_campaign, {"name": "Tết 2028"}),
    "form": ("forms", make_form, {"name": "Đăng ký tư vấn"}),
    "integration": ("integrations", make_integration, {"name": "Fanpage 2"}),
    "assignment_rule": ("assignment-rules", make_assignment_rule, {"name": "Lead Hà Nội"}),
    "automation": (
        "automations",
        lambda http, headers: _made(http, headers, "automations", AUTOMATION),
        {"name": "Gắn thẻ lead mới (2)"},
    ),
    "email_template": ("email-templates", make_email_template, {"name": "Cảm ơn khách hàng"}),
    "webhook": (
        "webhooks",
        lambda http, headers: _made(http, headers, "webhooks", WEBHOOK),
        {"description": "Kế toán (2)"},
    ),
    "duplicate_rule": (
        "duplicate-rules",
        lambda http, headers: _made(http, headers, "duplicate-rules", DUPLICATE_RULE),
        {"name": "Cùng email (2)"},
    ),
}
AUTOMATION = {
    "name": "Gắn thẻ lead mới",
    "resource": "lead",
    "trigger": {"type": "event", "event": "lead.created"},
    "actions": [{"type": "add_tag", "tag": "moi"}],
}
WEBHOOK = {"url": "https://hooks.minhphat.vn/sen", "events": ["lead.*"], "description": "Kế toán"}
DUPLICATE_RULE = {
    "resource": "lead",
    "name": "Cùng email",
    "action": "warn",
    "criteria": [{"fields": ["email"], "match": "exact"}],
}


async def _made(
    http: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(f"{API}/{path}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def _record_scenarios(resource: str, path: str, maker: Maker, change: dict[str, Any]) -> None:
    """create_lead, update_lead, delete_lead, restore_lead… (the operations are named after
    the resource)."""

    @scenario(f"create_{resource}")
    async def create(http: httpx.AsyncClient, world: World, _: Given) -> Call:
        if resource in ("duplicate_rule", "automation"):
            body = DUPLICATE_RULE if resource == "duplicate_rule" else AUTOMATION
            response = await http.post(f"{API}/{path}", json=body, headers=owner(world))
        else:
            made = await maker(http, owner(world))
            response = await http.get(f"{API}/{path}/{made['id']}", headers=owner(world))
        return emits(response, (f"{resource}.created", response.json()["id"]))

    @scenario(f"update_{resource}")
    async def update(http: httpx.AsyncClient, world: World, _: Given) -> Call:
        made = await maker(http, owner(world))
        response = await patched(http, world, f"{path}/{made['id']}", change)
        return emits(response, (f"{resource}.updated", made["id"]))

    @scenario(f"delete_{resource}")
    async def delete(http: httpx.AsyncClient, world: World, _: Given) -> Call:
        made = await maker(http, owner(world))
        response = await deleted(http, world, f"{path}/{made['id']}")
        return emits(response, (f"{resource}.deleted", made["id"]))

    @scenario(f"restore_{resource}")
    async def restore(http: httpx.AsyncClient, world: World, _: Given) -> Call:
        made = await maker(http, owner(world))
        assert (await deleted(http, world, f"{path}/{made['id']}")).status_code == 204
        response = await http.post(f"{API}/{path}/{made['id']}/restore", headers=owner(world))
        return emits(response, (f"{resource}.restored", made["id"]))


for _resource, (_path, _maker, _change) in RECORDS.items():
    _record_scenarios(_resource, _path, _maker, _change)


# Sales ------------------------------------------------------------------------------------------


@scenario("convert_lead")
async def convert(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    lead = await make_lead(http, owner(world), company_name="Công ty Phương Nam")
    response = await http.post(
        f"{API}/leads/{lead['id']}/convert",
        json={"account": {"name": "Công ty Phương Nam"}, "deal": {"name": "3 xe tải"}},
        headers=owner(world),
        params={"allow_duplicates": "true"},
    )
    body = response.json()
    return emits(
        response,
        ("lead.converted", lead["id"]),
        ("account.created", body.get("account", {}).get("id", "")),
        ("contact.created", body.get("contact", {}).get("id", "")),
        ("deal.created", body.get("deal", {}).get("id", "")),
    )


@scenario("move_deal_to_stage")
async def move_deal(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    pipeline = await make_pipeline(http, owner(world))
    deal = await make_deal(http, owner(world), pipeline_id=pipeline["id"])
    won = next(s for s in pipeline["stages"] if s["kind"] == "won")
    response = await http.post(
        f"{API}/deals/{deal['id']}/stage",
        json={"stage_id": won["id"]},
        headers=await etag(http, f"deals/{deal['id']}", owner(world)),
    )
    return emits(
        response,
        ("deal.updated", deal["id"]),
        ("deal.stage_changed", deal["id"]),
        ("deal.won", deal["id"]),
    )


async def _merge(http: httpx.AsyncClient, world: World, path: str, maker: Maker) -> Call:
    survivor = await maker(http, owner(world))
    merged = await maker(http, owner(world))
    response = await http.post(
        f"{API}/{path}/merge",
        json={"survivor_id": survivor["id"], "merged_ids": [merged["id"]]},
        headers=owner(world),
    )
    resource = path.removesuffix("s")
    return emits(
        response, (f"{resource}.merged", survivor["id"]), (f"{resource}.merged_into", merged["id"])
    )


@scenario("merge_leads")
async def merge_leads(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    return await _merge(http, world, "leads", make_lead)


@scenario("merge_contacts")
async def merge_contacts(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    return await _merge(http, world, "contacts", make_contact)


@scenario("merge_accounts")
async def merge_accounts(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    return await _merge(http, world, "accounts", make_account)


@scenario("link_contact_account")
async def link(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    contact = await make_contact(http, owner(world))
    account = await make_account(http, owner(world))
    response = await http.post(
        f"{API}/contacts/{contact['id']}/accounts",
        json={"account_id": account["id"], "role": "decision_maker"},
        headers=owner(world),
    )
    return emits(response, ("contact.updated", contact["id"]))


async def _linked(http: httpx.AsyncClient, world: World) -> tuple[dict[str, Any], str]:
    account = await make_account(http, owner(world))
    contact = await make_contact(http, owner(world), account_id=account["id"])
    return contact, account["id"]


@scenario("update_contact_account")
async def update_link(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    contact, account_id = await _linked(http, world)
    response = await http.patch(
        f"{API}/contacts/{contact['id']}/accounts/{account_id}",
        json={"role": "billing"},
        headers=owner(world),
    )
    return emits(response, ("contact.updated", contact["id"]))


@scenario("unlink_contact_account")
async def unlink(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    contact, account_id = await _linked(http, world)
    response = await http.delete(
        f"{API}/contacts/{contact['id']}/accounts/{account_id}", headers=owner(world)
    )
    return emits(response, ("contact.updated", contact["id"]))


# Setup: statuses, pipelines, custom fields ------------------------------------------------------


LABELS = {"vi": "Đang cân nhắc", "en": "Considering"}


async def _status(http: httpx.AsyncClient, world: World) -> dict[str, Any]:
    body = {"key": f"k_{uuid.uuid4().hex[:8]}", "category": "open", "labels": LABELS}
    return await _made(http, owner(world), "lead-statuses", body)


@scenario("create_lead_status")
async def create_status(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    body = {"key": f"k_{uuid.uuid4().hex[:8]}", "category": "open", "labels": LABELS}
    response = await http.post(f"{API}/lead-statuses", json=body, headers=owner(world))
    return emits(response, ("lead_status.created", response.json()["id"]))


@scenario("update_lead_status")
async def update_status(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    status = await _status(http, world)
    response = await http.patch(
        f"{API}/lead-statuses/{status['id']}", json={"position": 77}, headers=owner(world)
    )
    return emits(response, ("lead_status.updated", status["id"]))


@scenario("delete_lead_status")
async def delete_status(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    status = await _status(http, world)
    response = await http.delete(f"{API}/lead-statuses/{status['id']}", headers=owner(world))
    return emits(response, ("lead_status.deleted", status["id"]))


@scenario("create_pipeline")
async def create_pipeline(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    body = {"name": "Bán xe", "stages": PIPELINE_STAGES}
    response = await http.post(f"{API}/pipelines", json=body, headers=owner(world))
    return emits(response, ("pipeline.created", response.json()["id"]))


@scenario("update_pipeline")
async def update_pipeline(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    pipeline = await make_pipeline(http, owner(world))
    response = await http.patch(
        f"{API}/pipelines/{pipeline['id']}", json={"name": "Bán xe cũ"}, headers=owner(world)
    )
    return emits(response, ("pipeline.updated", pipeline["id"]))


@scenario("delete_pipeline")
async def delete_pipeline(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    pipeline = await make_pipeline(http, owner(world))
    response = await http.delete(f"{API}/pipelines/{pipeline['id']}", headers=owner(world))
    return emits(response, ("pipeline.deleted", pipeline["id"]))


@scenario("add_stage")
async def add_stage(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    pipeline = await make_pipeline(http, owner(world))
    response = await http.post(
        f"{API}/pipelines/{pipeline['id']}/stages",
        json={"name": "Đàm phán", "probability": 60, "kind": "open"},
        headers=owner(world),
    )
    return emits(response, ("pipeline.updated", pipeline["id"]))


@scenario("update_stage")
async def update_stage(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    pipeline = await make_pipeline(http, owner(world))
    stage = pipeline["stages"][0]
    response = await http.patch(
        f"{API}/pipelines/{pipeline['id']}/stages/{stage['id']}",
        json={"probability": 15},
        headers=owner(world),
    )
    return emits(response, ("pipeline.updated", pipeline["id"]))


@scenario("retire_stage")
async def retire_stage(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    pipeline = await make_pipeline(http, owner(world))
    stage = pipeline["stages"][1]
    response = await http.delete(
        f"{API}/pipelines/{pipeline['id']}/stages/{stage['id']}", headers=owner(world)
    )
    return emits(response, ("pipeline.updated", pipeline["id"]))


@scenario("create_custom_field")
async def create_field(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    body = {"resource": "lead", "key": f"f_{uuid.uuid4().hex[:8]}", "label": "Xe", "type": "text"}
    response = await http.post(f"{API}/custom-fields", json=body, headers=owner(world))
    return emits(response, ("custom_field.created", response.json()["id"]))


@scenario("update_custom_field")
async def update_field(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    field = await make_custom_field(http, owner(world))
    response = await patched(http, world, f"custom-fields/{field['id']}", {"label": "Dòng xe"})
    return emits(response, ("custom_field.updated", field["id"]))


@scenario("delete_custom_field")
async def delete_field(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    field = await make_custom_field(http, owner(world))
    response = await deleted(http, world, f"custom-fields/{field['id']}")
    return emits(response, ("custom_field.deleted", field["id"]))


# People and credentials ---------------------------------------------------------------------------


@scenario("sign_up")
async def sign_up(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    body = {
        "workspace_name": "Sự kiện",
        "email": f"{uuid.uuid4().hex[:10]}@su-kien.vn",
        "password": PASSWORD,
        "full_name": "Ánh",
    }
    response = await http.post(f"{API}/auth/signup", json=body)
    return emits(response, ("user.created", response.json()["user"]["id"]))


@scenario("create_user")
async def create_user(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    body = {"email": f"{uuid.uuid4().hex[:8]}@a.vn", "full_name": "Lý Thu", "password": PASSWORD}
    response = await http.post(f"{API}/users", json=body, headers=owner(world))
    return emits(response, ("user.created", response.json()["id"]))


@scenario("update_user")
async def update_user(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    user = await make_user(http, owner(world))
    response = await patched(http, world, f"users/{user['id']}", {"full_name": "Lý Thu Hà"})
    return emits(response, ("user.updated", user["id"]))


async def _invited(http: httpx.AsyncClient, world: World) -> tuple[str, httpx.Response]:
    body = {"email": f"{uuid.uuid4().hex[:8]}@moi.vn", "full_name": "Ngô Thị Mới"}
    user = await _made(http, owner(world), "users", body)
    response = await http.post(f"{API}/users/{user['id']}/invitation", headers=owner(world))
    return user["id"], response


@scenario("invite_user")
async def invite_user(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    user_id, response = await _invited(http, world)
    return emits(response, ("user.updated", user_id))


@scenario("accept_invitation")
async def accept_invitation(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    user_id, invitation = await _invited(http, world)
    body = {"token": invitation.json()["token"], "password": NEW_PASSWORD}
    response = await http.post(f"{API}/auth/accept-invitation", json=body)
    return emits(response, ("user.updated", user_id))


@scenario("change_password")
async def change_password(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    user = await make_user(http, owner(world))
    token = await http.post(
        f"{API}/auth/token", data={"username": user["email"], "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = await http.post(f"{API}/auth/password", json=body, headers=headers)
    return emits(response, ("user.updated", user["id"]))


@scenario("issue_calendar_token")
async def calendar_token(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    response = await http.post(f"{API}/me/calendar-token", headers=world.sales.headers)
    return emits(response, ("user.updated", str(world.sales.user_id)))


@scenario("create_team")
async def create_team(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    response = await http.post(
        f"{API}/teams", json={"name": f"Đội {uuid.uuid4().hex[:6]}"}, headers=owner(world)
    )
    return emits(response, ("team.created", response.json()["id"]))


@scenario("update_team")
async def update_team(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    team = await make_team(http, owner(world))
    response = await patched(
        http, world, f"teams/{team['id']}", {"name": f"Đội {uuid.uuid4().hex[:6]}"}
    )
    return emits(response, ("team.updated", team["id"]))


@scenario("create_api_key")
async def create_api_key(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    response = await http.post(f"{API}/api-keys", json={"name": "Zapier"}, headers=owner(world))
    return emits(response, ("api_key.created", response.json()["id"]))


@scenario("revoke_api_key")
async def revoke_api_key(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    key = await make_api_key(http, owner(world))
    response = await http.delete(f"{API}/api-keys/{key['id']}", headers=owner(world))
    return emits(response, ("api_key.deleted", key["id"]))


# Notifications ------------------------------------------------------------------------------------


async def _reminded(http: httpx.AsyncClient, world: World, given: Given) -> str:
    """A notification of the sales member's (intake's kind: a new lead assigned to them)."""
    lead = await make_lead(http, owner(world), owner_id=str(world.sales.user_id))
    ctx = await acting_as(given.session, world.owner)
    title = f"Lead mới {lead['id']}"
    await notify_about_lead(
        ctx, user_id=world.sales.user_id, kind="lead_assigned", title=title, lead_id=lead["id"]
    )
    inbox = await http.get(f"{API}/notifications", headers=world.sales.headers)
    assert inbox.status_code == 200, inbox.text
    return next(n["id"] for n in inbox.json()["data"] if n["title"] == title)


@scenario("read_notification")
async def read_notification(http: httpx.AsyncClient, world: World, given: Given) -> Call:
    notification_id = await _reminded(http, world, given)
    response = await http.post(
        f"{API}/notifications/{notification_id}/read", headers=world.sales.headers
    )
    return emits(response, ("notification.read", notification_id))


@scenario("read_all_notifications")
async def read_all(http: httpx.AsyncClient, world: World, given: Given) -> Call:
    await _reminded(http, world, given)
    response = await http.post(f"{API}/notifications/read-all", headers=world.sales.headers)
    return emits(response, ("notification.all_read", str(world.sales.user_id)))


# Intake -----------------------------------------------------------------------------------------


@scenario("submit_form")
async def submit(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    form = await make_form(http, owner(world))
    response = await http.post(
        f"{API}/intake/forms/{form['key']}", json={"full_name": "Bích", "phone": "0912345678"}
    )
    return emits(response, ("submission.received", response.json()["submission_id"]))


@scenario("replay_submission")
async def replay(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    form = await make_form(http, owner(world))
    spam = await submit_form(http, form["key"], _gotcha="http://spam.example")
    response = await http.post(
        f"{API}/intake/submissions/{spam['submission_id']}/replay", headers=owner(world)
    )
    return emits(response, ("submission.replayed", spam["submission_id"]))


async def _received(response: httpx.Response) -> Call:
    ids = response.json().get("submission_ids", [""])
    return emits(response, *(("submission.received", i) for i in ids))


@scenario("receive_meta_leads")
async def meta(http: httpx.AsyncClient, world: World, given: Given) -> Call:
    integration = await make_integration(http, owner(world))
    lead_id = given.graph.add_lead(full_name="Meta Ánh")
    return await _received(await post_meta(http, integration["id"], leadgen(lead_id)))


@scenario("receive_google_lead")
async def google(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    config = {"google_key": GOOGLE_KEY}
    integration = await make_integration(http, owner(world), provider="google", config=config)
    body = google_lead(f"G-{uuid.uuid4().hex[:6]}", FULL_NAME="Ánh")
    return await _received(await http.post(f"{API}/intake/google/{integration['id']}", json=body))


async def _signed(http: httpx.AsyncClient, world: World, provider: str) -> Call:
    config = {"secret": SIGNING_SECRET}
    integration = await make_integration(http, owner(world), provider=provider, config=config)
    body = {"lead_id": f"T-{uuid.uuid4().hex[:6]}", "full_name": "Ánh"}
    return await _received(await post_signed(http, provider, integration["id"], body))


@scenario("receive_tiktok_leads")
async def tiktok(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    return await _signed(http, world, "tiktok")


@scenario("receive_signed_leads")
async def generic(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    return await _signed(http, world, "generic")


@scenario("backfill_integration")
async def backfill(http: httpx.AsyncClient, world: World, given: Given) -> Call:
    integration = await make_integration(http, owner(world))
    given.graph.add_lead(full_name="Bị lỡ")
    now = utcnow()
    window = {"from": now.replace(hour=0, minute=0).isoformat(), "to": now.isoformat()}
    response = await http.post(
        f"{API}/integrations/{integration['id']}/backfill", json=window, headers=owner(world)
    )
    return emits(response, ("integration.backfilled", integration["id"]))


@scenario("retry_automation_run")
async def retry_run(http: httpx.AsyncClient, world: World, given: Given) -> Call:
    made = await _made(http, owner(world), "automations", AUTOMATION)
    target = await make_lead(http, owner(world))
    ctx = await acting_as(given.session, world.owner)
    run = AutomationRun(
        workspace_id=ctx.workspace_id, id=new_id(), automation_id=uuid.UUID(made["id"]),
        resource="lead", record_id=uuid.UUID(target["id"]), occurrence="test",
        trigger={"plan": {"conditions": {}, "actions": AUTOMATION["actions"]}}, status="failed",
    )  # fmt: skip
    given.session.add(run)  # as a run whose every try failed is left
    await given.session.flush()
    response = await http.post(
        f"{API}/automations/{made['id']}/runs/{run.id}/retry", headers=owner(world)
    )
    return emits(response, ("automation_run.retried", str(run.id)))


# Email -------------------------------------------------------------------------------------------

MAIL_SERVER = {"host": "127.0.0.1", "port": 2525, "security": "none", "from_email": "crm@a.vn"}


@scenario("put_mail_settings")
async def put_mail_settings(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    response = await http.put(f"{API}/mail-settings", json=MAIL_SERVER, headers=owner(world))
    return emits(response, ("mail_settings.created", ANY_RECORD))


@scenario("check_mail_settings")
async def check_mail_settings(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    put = await http.put(f"{API}/mail-settings", json=MAIL_SERVER, headers=owner(world))
    assert put.status_code == 200, put.text
    response = await http.post(f"{API}/mail-settings/test", headers=owner(world))
    return emits(response, ("mail_settings.check_requested", ANY_RECORD))


@scenario("send_email")
async def send_email(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    contact = await make_contact(http, owner(world), email="anh@khach.vn")
    email = await make_email(http, owner(world), contact_id=contact["id"])
    sent = await http.get(f"{API}/emails/{email['id']}", headers=owner(world))
    return emits(sent, ("email.queued", email["id"]), ("activity.created", email["activity_id"]))


@scenario("unsubscribe_contact")
async def unsubscribe(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    contact = await make_contact(http, owner(world), email="binh@khach.vn")
    email = await make_email(http, owner(world), contact_id=contact["id"], marketing=True)
    token = make_token(world.owner.workspace_id, uuid.UUID(contact["id"]), uuid.UUID(email["id"]))
    response = await http.post(f"/u/{token}")
    return emits(response, ("contact.updated", contact["id"]))


# Jobs asked for ---------------------------------------------------------------------------------


@scenario("rotate_webhook_secret")
async def rotate_secret(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    webhook = await _made(http, owner(world), "webhooks", WEBHOOK)
    response = await http.post(
        f"{API}/webhooks/{webhook['id']}/rotate-secret", headers=owner(world)
    )
    return emits(response, ("webhook.updated", webhook["id"]))


@scenario("redeliver_webhook_delivery")
async def redeliver(http: httpx.AsyncClient, world: World, given: Given) -> Call:
    webhook = await _made(http, owner(world), "webhooks", WEBHOOK)
    # Deliveries are made by the events dispatcher: one here, as it would.
    ctx = await acting_as(given.session, world.owner)
    event = EventMessage(new_id(), "lead.created", "lead", new_id(), utcnow())
    await webhooks_service.deliver_events(ctx, [event])
    delivery_id = await given.session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.workspace_id == world.owner.workspace_id,
            WebhookDelivery.webhook_id == uuid.UUID(webhook["id"]),
        )
    )
    response = await http.post(
        f"{API}/webhooks/deliveries/{delivery_id}/redeliver", headers=owner(world)
    )
    return emits(response, ("webhook.redelivered", webhook["id"]))


@scenario("start_duplicate_scan")
async def scan(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    response = await http.post(
        f"{API}/duplicates/scans", json={"resource": "account"}, headers=owner(world)
    )
    return emits(response, ("duplicate_scan.requested", response.json()["id"]))


@scenario("create_export")
async def export(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    response = await http.post(f"{API}/exports", json={"resource": "lead"}, headers=owner(world))
    return emits(response, ("export.requested", response.json()["id"]))


@scenario("create_import")
async def import_(http: httpx.AsyncClient, world: World, _: Given) -> Call:
    response = await http.post(
        f"{API}/imports",
        files={"file": ("khach.csv", "Họ và tên\r\nKhách 1\r\n".encode(), "text/csv")},
        data={"resource": "lead"},
        headers=owner(world),
    )
    return emits(response, ("import.requested", response.json()["id"]))
