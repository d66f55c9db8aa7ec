"""Emails through a real arq worker, a real aiosmtpd server on 127.0.0.1 and the real
PostgreSQL and Redis: what arrives (a Vietnamese name in UTF-8 headers), what the timeline
shows, failures with their reason, do_not_contact at queue and at send time, unsubscribing."""

import re
import uuid
from typing import Any

import httpx
import pytest

from app.core.db import make_engine, make_sessionmaker
from app.core.jobs import job_context
from app.emails import sending
from app.emails.models import Email
from app.emails.schemas import EmailRecordType
from tests.conftest import settings_changed, sign_up
from tests.emails.conftest import SMTP_PASSWORD, SmtpServer, free_port
from tests.factories import API, make_contact, make_deal
from tests.worker_harness import eventually, running_worker
from workers.settings import sweep_emails

pytestmark = pytest.mark.usefixtures("empty_queue")

BIRTHDAY = {
    "name": "Chúc mừng sinh nhật",
    "subject": "Chúc mừng sinh nhật {{ contact.full_name }}!",
    "body_html": "<p>Kính gửi {{ contact.full_name }},</p><p>{{ owner.full_name }}</p>",
    "body_text": "Kính gửi {{ contact.full_name }},\n{{ owner.full_name }}",
}


async def _workspace(
    http: httpx.AsyncClient, name: str, smtp: SmtpServer, **settings: Any
) -> dict[str, Any]:
    owner = await sign_up(http, f"committing-email-{name}")
    put = await http.put(
        f"{API}/mail-settings", json=smtp.settings(**settings), headers=owner["headers"]
    )
    assert put.status_code == 200, put.text
    return owner


async def _send(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    queued = await http.post(f"{API}/emails", json=body, headers=headers)
    assert queued.status_code == 202, queued.text
    email: dict[str, Any] = queued.json()
    assert email["status"] == "queued"
    return email


async def _settled(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    email_id: str,
    database_url: str,
    redis_url: str,
) -> dict[str, Any]:
    """The email once a worker has sent it or given up."""
    state: dict[str, Any] = {}

    async def done() -> bool:
        state.update((await http.get(f"{API}/emails/{email_id}", headers=headers)).json())
        return state["status"] != "queued"

    async with running_worker(database_url, redis_url):
        assert await eventually(done, seconds=30), (
            state["status"],
            state["error"],
            state["attempts"],
        )
    return state


async def _activity(http: httpx.AsyncClient, headers: dict[str, str], email: dict[str, Any]) -> Any:
    found = await http.get(f"{API}/activities/{email['activity_id']}", headers=headers)
    assert found.status_code == 200, found.text
    return found.json()


class TestSending:
    async def test_the_server_receives_it_with_the_vietnamese_name_in_utf8_headers(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "utf8", smtp_server)
        headers = owner["headers"]
        contact = await make_contact(
            http, headers, full_name="Nguyễn Văn Ánh", email="anh.nguyen@khach.vn"
        )
        template = await http.post(f"{API}/email-templates", json=BIRTHDAY, headers=headers)
        email = await _send(
            http, headers, record_type="contact", record_id=contact["id"],
            template_id=template.json()["id"],
        )  # fmt: skip
        assert (await _activity(http, headers, email))["outcome"] == "queued"

        sent = await _settled(http, headers, email["id"], database_url, redis_url)

        assert sent["status"] == "sent", sent
        assert sent["attempts"] == 1
        assert sent["sent_at"] is not None
        [received] = smtp_server.messages()
        assert received.recipients == ["anh.nguyen@khach.vn"]
        raw_headers = received.raw.split(b"\r\n\r\n", 1)[0]
        assert raw_headers.isascii()  # RFC 2047: UTF-8 encoded words, nothing raw
        message = received.message
        assert message["Subject"] == "Chúc mừng sinh nhật Nguyễn Văn Ánh!"
        assert message["To"].addresses[0].display_name == "Nguyễn Văn Ánh"
        assert message["To"].addresses[0].addr_spec == "anh.nguyen@khach.vn"
        assert message["From"].addresses[0].display_name == "Ô tô Minh Phát"
        assert message["Message-ID"] == sent["message_id"]
        assert sent["message_id"] == f"<{email['id']}@minhphat.vn>"
        assert message["List-Unsubscribe"] is None  # not a marketing email
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None
        assert html is not None
        assert text.get_content() == "Kính gửi Nguyễn Văn Ánh,\r\nÁnh\r\n"  # SMTP lines end CRLF
        assert "<p>Kính gửi Nguyễn Văn Ánh,</p>" in html.get_content()
        activity = await _activity(http, headers, email)
        assert activity["type"] == "email"
        assert activity["outcome"] == "sent"
        assert activity["completed"] is True
        timeline = await http.get(f"{API}/contacts/{contact['id']}/timeline", headers=headers)
        assert email["activity_id"] in str(timeline.json())

    async def test_a_deals_email_goes_to_its_contact_rendered_with_the_amount(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "deal", smtp_server)
        headers = owner["headers"]
        contact = await make_contact(http, headers, full_name="Trần Thị Lan", email="lan@khach.vn")
        deal = await make_deal(http, headers, contact_id=contact["id"], amount="1500000")
        email = await _send(
            http, headers, record_type="deal", record_id=deal["id"],
            subject="Cảm ơn {{ contact.full_name }}", body_text="Tổng: {{ deal.amount | vnd }}",
        )  # fmt: skip
        assert email["contact_id"] == contact["id"]
        assert email["to_email"] == "lan@khach.vn"

        sent = await _settled(http, headers, email["id"], database_url, redis_url)

        assert sent["status"] == "sent", sent
        [received] = smtp_server.messages()
        assert received.message["Subject"] == "Cảm ơn Trần Thị Lan"
        body = received.message.get_body(("plain",))
        assert body is not None
        assert body.get_content() == "Tổng: 1.500.000 ₫\r\n"

    async def test_a_closed_port_fails_it_with_the_reason(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "closed", smtp_server, port=free_port())
        headers = owner["headers"]
        contact = await make_contact(http, headers, email="anh@khach.vn")
        email = await _send(
            http, headers, record_type="contact", record_id=contact["id"],
            subject="Xin chào", body_text="…",
        )  # fmt: skip

        with settings_changed(email_send_tries=1):
            failed = await _settled(http, headers, email["id"], database_url, redis_url)

        assert failed["status"] == "failed", failed
        assert failed["error"].startswith("could not connect to the server"), failed
        activity = await _activity(http, headers, email)
        assert activity["outcome"].startswith("failed: could not connect to the server")
        assert smtp_server.messages() == []

    async def test_a_refused_sign_in_fails_it_at_once_with_the_reason(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "auth", smtp_server, password="sai-mật-khẩu")
        headers = owner["headers"]
        contact = await make_contact(http, headers, email="anh@khach.vn")
        email = await _send(
            http, headers, record_type="contact", record_id=contact["id"],
            subject="Xin chào", body_text="…",
        )  # fmt: skip

        failed = await _settled(http, headers, email["id"], database_url, redis_url)

        assert failed["status"] == "failed", failed
        assert failed["attempts"] == 1  # not a fault that waiting mends: no second try
        assert failed["error"].startswith("the server refused the sign-in (535"), failed
        assert smtp_server.messages() == []


class TestDoNotContact:
    async def test_is_refused_when_queued(
        self, committing_client: httpx.AsyncClient, smtp_server: SmtpServer
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "dnc", smtp_server)
        contact = await make_contact(
            http, owner["headers"], email="anh@khach.vn", do_not_contact=True
        )
        refused = await http.post(
            f"{API}/emails",
            json={"record_type": "contact", "record_id": contact["id"], "subject": "Khuyến mãi",
                  "body_text": "…", "to": "khac@khach.vn"},
            headers=owner["headers"],
        )  # fmt: skip
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "do_not_contact"

    async def test_set_after_queueing_fails_it_at_send_time(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "dnc-later", smtp_server)
        headers = owner["headers"]
        contact = await make_contact(http, headers, email="anh@khach.vn")
        email = await _send(
            http, headers, record_type="contact", record_id=contact["id"],
            subject="Khuyến mãi", body_text="…",
        )  # fmt: skip
        marked = await http.patch(
            f"{API}/contacts/{contact['id']}", json={"do_not_contact": True}, headers=headers
        )
        assert marked.status_code == 200, marked.text

        failed = await _settled(http, headers, email["id"], database_url, redis_url)

        assert failed["status"] == "failed"
        assert failed["error"] == "the contact is marked do_not_contact"
        assert smtp_server.messages() == []


class TestUnsubscribe:
    async def test_a_marketing_emails_link_and_header_set_do_not_contact_once(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "unsubscribe", smtp_server)
        headers = owner["headers"]
        contact = await make_contact(http, headers, email="anh@khach.vn")
        email = await _send(
            http, headers, record_type="contact", record_id=contact["id"], marketing=True,
            subject="Ưu đãi tháng 12", body_html="<p>Giảm 10%</p>", body_text="Giảm 10%",
        )  # fmt: skip
        sent = await _settled(http, headers, email["id"], database_url, redis_url)
        assert sent["status"] == "sent", sent
        message = smtp_server.messages()[0].message
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        header = re.fullmatch(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
        assert header is not None
        path = "/" + header.group(1).split("/", 3)[3]
        assert path.startswith("/u/")
        text, html = message.get_body(("plain",)), message.get_body(("html",))
        assert text is not None
        assert header.group(1) in text.get_content()
        assert html is not None
        assert "Hủy đăng ký / Unsubscribe" in html.get_content()

        page = await http.get(path)
        assert page.status_code == 200
        assert 'method="post"' in page.text
        still = await http.get(f"{API}/contacts/{contact['id']}", headers=headers)
        assert still.json()["do_not_contact"] is False  # opening the link changes nothing

        for _ in range(2):  # the one-click POST a mail client sends, then again
            done = await http.post(path, content=b"List-Unsubscribe=One-Click")
            assert done.status_code == 200, done.text
            assert "Bạn đã hủy đăng ký" in done.text
        contact_now = await http.get(f"{API}/contacts/{contact['id']}", headers=headers)
        assert contact_now.json()["do_not_contact"] is True
        history = await http.get(f"{API}/contacts/{contact['id']}/history", headers=headers)
        changes = [e["changes"] for e in history.json()["data"] if e["action"] == "updated"]
        assert changes == [{"do_not_contact": {"old": False, "new": True}}]

    async def test_a_forged_or_altered_token_is_a_404(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        from app.emails.unsubscribe import make_token

        token = make_token(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
        altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        for path in (f"/u/{altered}", "/u/not-a-token"):
            for method in ("GET", "POST"):
                response = await committing_client.request(method, path)
                assert response.status_code == 404, response.text
                assert response.json()["code"] == "unsubscribe_link_invalid"


class TestSweep:
    async def test_an_email_whose_nudge_was_lost_is_sent_by_the_sweep_once(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "sweep", smtp_server)
        headers = owner["headers"]
        contact = await make_contact(http, headers, email="anh@khach.vn")
        engine = make_engine(database_url)
        maker = make_sessionmaker(engine)
        workspace = uuid.UUID(owner["workspace_id"])
        try:
            from app.core.context import SYSTEM

            async with job_context(maker, workspace, SYSTEM, queue=None) as ctx:  # no nudge
                email = await sending.queue_email(
                    ctx, EmailRecordType.contact, uuid.UUID(contact["id"]),
                    subject="Xin chào", body_text="…",
                )  # fmt: skip
            async with job_context(maker, workspace, queue=None) as ctx:  # as if queued long ago
                row = await ctx.session.get(Email, (workspace, email.id))
                assert row is not None
                row.next_attempt_at = row.next_attempt_at.replace(year=2025)
            async with running_worker(database_url, redis_url):
                from arq import create_pool

                from app.core.queue import redis_settings

                pool = await create_pool(redis_settings(redis_url))
                try:
                    await pool.enqueue_job("sweep_emails")
                finally:
                    await pool.aclose()

                async def sent() -> bool:
                    got = await http.get(f"{API}/emails/{email.id}", headers=headers)
                    return bool(got.json()["status"] == "sent")

                assert await eventually(sent, seconds=30)
                assert await sweep_emails({"sessionmaker": maker}) == 0  # nothing left
        finally:
            await engine.dispose()
        assert len(smtp_server.messages()) == 1
        assert smtp_server.messages()[0].message["Message-ID"] == email.message_id

    async def test_the_password_is_in_no_answer(
        self, committing_client: httpx.AsyncClient, smtp_server: SmtpServer
    ) -> None:
        http = committing_client
        owner = await _workspace(http, "secret", smtp_server)
        headers = owner["headers"]
        answers = [
            await http.get(f"{API}/mail-settings", headers=headers),
            await http.put(
                f"{API}/mail-settings", json=smtp_server.settings(port=2526), headers=headers
            ),
            await http.post(f"{API}/mail-settings/test", headers=headers),
        ]
        for answer in answers:
            assert answer.status_code in (200, 202), answer.text
            assert SMTP_PASSWORD not in answer.text
            assert answer.json()["password_set"] is True


class TestOnce:
    """The row lock held through the SMTP send is what keeps a second job from sending."""

    async def _queued(
        self, http: httpx.AsyncClient, smtp: SmtpServer, name: str
    ) -> tuple[uuid.UUID, uuid.UUID, dict[str, str]]:
        owner = await _workspace(http, name, smtp)
        contact = await make_contact(http, owner["headers"], email="anh@khach.vn")
        email = await _send(
            http, owner["headers"], record_type="contact", record_id=contact["id"],
            subject="Xin chào", body_text="…",
        )  # fmt: skip
        return uuid.UUID(owner["workspace_id"]), uuid.UUID(email["id"]), owner["headers"]

    async def _send_and_die(
        self, maker: Any, workspace: uuid.UUID, email_id: uuid.UUID, turn: sending.Turn
    ) -> None:
        async with job_context(maker, workspace, queue=None) as job:
            assert (await sending.send_queued_email(job, email_id, turn=turn)).status == "sent"
            raise RuntimeError("the worker dies before its commit")

    async def test_a_second_job_beside_a_send_in_flight_sends_nothing(
        self, committing_client: httpx.AsyncClient, smtp_server: SmtpServer, database_url: str
    ) -> None:
        workspace, email_id, _ = await self._queued(committing_client, smtp_server, "once")
        engine = make_engine(database_url)
        maker = make_sessionmaker(engine)

        async def free(_workspace: uuid.UUID, _per_minute: int) -> float:
            return 0.0

        try:
            async with job_context(maker, workspace, queue=None) as first:
                sent = await sending.send_queued_email(first, email_id, turn=free)
                assert sent.status == "sent"
                async with job_context(
                    maker, workspace, queue=None
                ) as second:  # before the first commits
                    again = await sending.send_queued_email(second, email_id, turn=free)
                assert again.status == "not queued"
            async with job_context(maker, workspace, queue=None) as third:  # after it committed
                assert (await sending.send_queued_email(third, email_id, turn=free)).status == (
                    "not queued"
                )
        finally:
            await engine.dispose()
        assert len(smtp_server.messages()) == 1

    async def test_a_send_whose_commit_was_lost_goes_again_with_the_same_message_id(
        self,
        committing_client: httpx.AsyncClient,
        smtp_server: SmtpServer,
        database_url: str,
    ) -> None:
        """The one window left (docs/decisions/0012-email.md): the server took the message,
        the worker died before its commit. The email is still queued and goes again, and the
        recipient's side can tell the copy by its Message-ID."""
        http = committing_client
        workspace, email_id, headers = await self._queued(http, smtp_server, "lost-commit")
        engine = make_engine(database_url)
        maker = make_sessionmaker(engine)

        async def free(_workspace: uuid.UUID, _per_minute: int) -> float:
            return 0.0

        try:
            with pytest.raises(RuntimeError, match="dies before its commit"):
                await self._send_and_die(maker, workspace, email_id, free)
            still = await http.get(f"{API}/emails/{email_id}", headers=headers)
            assert still.json()["status"] == "queued"
            async with job_context(maker, workspace, queue=None) as job:
                assert (await sending.send_queued_email(job, email_id, turn=free)).status == (
                    "sent"
                )
        finally:
            await engine.dispose()
        first, second = smtp_server.messages()
        assert first.message["Message-ID"] == second.message["Message-ID"]
        assert first.message["Message-ID"] == f"<{email_id}@minhphat.vn>"
