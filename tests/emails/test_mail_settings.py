"""The workspace's mail server: admins set it, its password is never read back, a worker
checks it; emails are refused up front when they cannot be sent; the send rate defers."""

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from arq import create_pool
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.history import RecordChange
from app.core.queue import redis_settings
from app.core.ratelimit import take_turn
from tests.conftest import World, acting_as, sign_up
from tests.emails.conftest import SMTP_PASSWORD, SmtpServer
from tests.factories import API, make_contact
from tests.worker_harness import eventually, running_worker

SETTINGS = f"{API}/mail-settings"
BODY = {
    "host": "smtp.minhphat.vn",
    "port": 587,
    "security": "starttls",
    "username": "crm@minhphat.vn",
    "password": SMTP_PASSWORD,
    "from_email": "crm@minhphat.vn",
    "from_name": "Ô tô Minh Phát",
}


class TestMailSettings:
    async def test_an_admin_sets_them_and_reads_them_back_without_the_password(
        self, client: httpx.AsyncClient, world: World, session: AsyncSession
    ) -> None:
        missing = await client.get(SETTINGS, headers=world.admin.headers)
        assert missing.status_code == 404
        assert missing.json()["code"] == "mail_settings_not_found"

        put = await client.put(SETTINGS, json=BODY, headers=world.admin.headers)
        got = await client.get(SETTINGS, headers=world.admin.headers)

        for answer in (put, got):
            assert answer.status_code == 200, answer.text
            assert SMTP_PASSWORD not in answer.text
            assert "password" not in answer.json()
            assert answer.json()["password_set"] is True
            assert answer.json()["per_minute"] == 60
            assert answer.json()["check_status"] is None
        await acting_as(session, world.admin)
        changes = await session.scalars(
            select(RecordChange.changes).where(
                RecordChange.workspace_id == world.admin.workspace_id,
                RecordChange.resource == "mail_settings",
            )
        )
        kept = list(changes)
        assert kept
        assert all(SMTP_PASSWORD not in str(c) for c in kept)
        assert kept[0]["password"] == {"old": None, "new": "***"}

    async def test_a_put_without_the_password_keeps_it_and_null_removes_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await client.put(SETTINGS, json=BODY, headers=world.admin.headers)
        without = {k: v for k, v in BODY.items() if k != "password"} | {"port": 465}
        kept = await client.put(SETTINGS, json=without, headers=world.admin.headers)
        assert kept.json()["password_set"] is True
        assert kept.json()["port"] == 465
        removed = await client.put(
            SETTINGS, json={**without, "password": None}, headers=world.admin.headers
        )
        assert removed.json()["password_set"] is False

    async def test_members_may_neither_read_nor_change_them(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for method in ("GET", "PUT"):
            body = BODY if method == "PUT" else None
            refused = await client.request(method, SETTINGS, json=body, headers=world.sales.headers)
            assert refused.status_code == 403, refused.text
        refused = await client.post(f"{SETTINGS}/test", headers=world.manager.headers)
        assert refused.status_code == 403

    async def test_a_check_without_settings_is_a_409(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        refused = await client.post(f"{SETTINGS}/test", headers=world.admin.headers)
        assert refused.status_code == 409
        assert refused.json()["code"] == "mail_not_configured"

    @pytest.mark.usefixtures("empty_queue")
    @pytest.mark.parametrize(
        ("changes", "status", "error"),
        [
            ({}, "ok", None),
            ({"password": "sai-mật-khẩu"}, "failed", "the server refused the sign-in (535"),
            ({"security": "starttls"}, "failed", "the server does not offer STARTTLS"),
        ],
    )
    async def test_a_worker_checks_them_and_the_answer_is_polled(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
        changes: dict[str, str],
        status: str,
        error: str | None,
    ) -> None:
        http = committing_client
        owner = await sign_up(http, "committing-mail-check")
        headers = owner["headers"]
        put = await http.put(SETTINGS, json=smtp_server.settings(**changes), headers=headers)
        assert put.status_code == 200, put.text
        asked = await http.post(f"{SETTINGS}/test", headers=headers)
        assert asked.status_code == 202, asked.text
        assert asked.json()["check_status"] == "checking"
        state: dict[str, Any] = {}

        async def checked() -> bool:
            state.update((await http.get(SETTINGS, headers=headers)).json())
            return state["check_status"] != "checking"

        async with running_worker(database_url, redis_url):
            assert await eventually(checked, seconds=30), state
        assert state["check_status"] == status
        if error is None:
            assert state["check_error"] is None
        else:
            assert state["check_error"].startswith(error), state
        assert state["checked_at"] is not None
        assert smtp_server.messages() == []  # a check sends nothing


class TestRefusedUpFront:
    async def test_no_mail_server_is_a_409(self, client: httpx.AsyncClient, world: World) -> None:
        contact = await make_contact(client, world.owner.headers, email="anh@khach.vn")
        refused = await client.post(
            f"{API}/emails",
            json={"record_type": "contact", "record_id": contact["id"], "subject": "Chào",
                  "body_text": "…"},
            headers=world.owner.headers,
        )  # fmt: skip
        assert refused.status_code == 409
        assert refused.json()["code"] == "mail_not_configured"

    @pytest.mark.parametrize(
        ("body", "code", "field"),
        [
            ({"subject": "Chào", "body_text": "…", "contact_email": None}, "recipient_missing",
             "to"),
            ({"body_text": "…"}, "email_content_invalid", "subject"),
            ({"subject": "Chào"}, "email_content_invalid", "body_text"),
            ({"subject": "{{ contact.salary }}", "body_text": "…"}, "template_invalid", "subject"),
            ({"subject": "Chào {{ deal.name }}", "body_text": "…"}, "template_render_failed",
             "subject"),
            ({"subject": "{% for i in range(501) %}x{% endfor %}", "body_text": "…"},
             "template_render_failed", "subject"),
        ],
    )  # fmt: skip
    async def test_an_email_that_cannot_go_is_a_422_naming_the_field(
        self, client: httpx.AsyncClient, world: World, body: dict[str, Any], code: str, field: str
    ) -> None:
        await client.put(SETTINGS, json=BODY, headers=world.admin.headers)
        email = body.pop("contact_email", "anh@khach.vn")
        contact = await make_contact(client, world.owner.headers, email=email)
        refused = await client.post(
            f"{API}/emails",
            json={"record_type": "contact", "record_id": contact["id"], **body},
            headers=world.owner.headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == code
        assert [e["field"] for e in refused.json()["errors"]] == [field]

    async def test_a_sales_member_cannot_email_a_contact_they_cannot_see(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await client.put(SETTINGS, json=BODY, headers=world.admin.headers)
        contact = await make_contact(client, world.owner.headers, email="anh@khach.vn")
        refused = await client.post(
            f"{API}/emails",
            json={"record_type": "contact", "record_id": contact["id"], "subject": "Chào",
                  "body_text": "…"},
            headers=world.outsider.headers,
        )  # fmt: skip
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {"field": "record_id", "message": "not a contact you can see"}
        ]


class TestSendRate:
    async def test_turns_are_counted_per_workspace_and_say_how_long_to_wait(
        self, redis_url: str
    ) -> None:
        pool = await create_pool(redis_settings(redis_url))
        a, b = str(uuid.uuid4()), str(uuid.uuid4())
        if time.time() % 60 > 57:  # the five turns below are taken inside one window
            await asyncio.sleep(3.5)
        try:
            waits = [await take_turn(pool, "email", 2, 60, a) for _ in range(5)]
            assert waits[:2] == [0.0, 0.0]
            assert 0 < waits[2] <= 60
            assert waits[3] == pytest.approx(waits[2], abs=1)  # the next window holds two
            assert waits[4] == pytest.approx(waits[2] + 60, abs=1)  # the fifth, the one after
            assert await take_turn(pool, "email", 2, 60, b) == 0.0  # another workspace's own
        finally:
            await pool.aclose()

    @pytest.mark.usefixtures("empty_queue")
    async def test_over_the_rate_an_email_waits_for_its_turn_and_is_not_dropped(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        owner = await sign_up(http, "committing-mail-rate")
        headers = owner["headers"]
        await http.put(SETTINGS, json=smtp_server.settings(per_minute=1), headers=headers)
        contact = await make_contact(http, headers, email="anh@khach.vn")
        ids = []
        for n in range(2):
            queued = await http.post(
                f"{API}/emails",
                json={"record_type": "contact", "record_id": contact["id"],
                      "subject": f"Thư {n}", "body_text": "…"},
                headers=headers,
            )  # fmt: skip
            assert queued.status_code == 202, queued.text
            ids.append(queued.json()["id"])

        async def statuses() -> list[str]:
            return [
                (await http.get(f"{API}/emails/{i}", headers=headers)).json()["status"] for i in ids
            ]

        async def one_sent() -> bool:
            return sorted(await statuses()) == ["queued", "sent"]

        async with running_worker(database_url, redis_url):
            assert await eventually(one_sent, seconds=30), await statuses()
            await asyncio.sleep(1)  # the second's job has run by now, and deferred itself
            assert sorted(await statuses()) == ["queued", "sent"]
        assert len(smtp_server.messages()) == 1
        pool = await create_pool(redis_settings(redis_url))
        try:
            waiting = [job for job in await pool.queued_jobs() if job.function == "send_email"]
        finally:
            await pool.aclose()
        [deferred] = waiting  # its turn comes in the next minute's window
        assert deferred.args[1] in ids
        assert deferred.job_id is not None
        assert ":turn:" in deferred.job_id


class TestListing:
    async def test_a_records_emails_newest_first_filtered_by_status_for_who_sees_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await client.put(SETTINGS, json=BODY, headers=world.admin.headers)
        contact = await make_contact(client, world.owner.headers, email="anh@khach.vn")
        other = await make_contact(client, world.owner.headers, email="lan@khach.vn")
        ids = []
        for record, subject in ((contact, "Một"), (contact, "Hai"), (other, "Ba")):
            queued = await client.post(
                f"{API}/emails",
                json={"record_type": "contact", "record_id": record["id"], "subject": subject,
                      "body_text": "…"},
                headers=world.owner.headers,
            )  # fmt: skip
            assert queued.status_code == 202, queued.text
            ids.append(queued.json()["id"])
        params = {"record_type": "contact", "record_id": contact["id"]}

        listed = await client.get(f"{API}/emails", params=params, headers=world.owner.headers)
        assert listed.status_code == 200, listed.text
        assert [e["id"] for e in listed.json()["data"]] == [ids[1], ids[0]]
        assert [e["subject"] for e in listed.json()["data"]] == ["Hai", "Một"]
        assert {e["to_name"] for e in listed.json()["data"]} == {"Nguyễn Văn Ánh"}
        elsewhere = await client.post(
            f"{API}/emails",
            json={"record_type": "contact", "record_id": contact["id"], "subject": "Bốn",
                  "body_text": "…", "to": "ke-toan@khach.vn"},
            headers=world.owner.headers,
        )  # fmt: skip
        assert elsewhere.json()["to_email"] == "ke-toan@khach.vn"
        assert elsewhere.json()["to_name"] is None  # not the contact's own address
        sent = await client.get(
            f"{API}/emails", params={**params, "status": "sent"}, headers=world.owner.headers
        )
        assert sent.json()["data"] == []
        for member in (world.outsider, world.other_owner):
            hidden = await client.get(f"{API}/emails", params=params, headers=member.headers)
            assert hidden.status_code == 422, hidden.text
            assert hidden.json()["errors"][0]["field"] == "record_id"
