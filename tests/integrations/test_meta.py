"""Meta Lead Ads end to end: the subscription handshake, signatures over the raw body, one
submission per `leadgen` change stored before the 200, and the worker reading each lead from
the Graph API (a real local server): mapped, retried while Graph fails, failed with the reason
when it refuses."""

import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from app.core import jobs
from app.core.jobs import job_context
from app.core.models import utcnow
from app.core.settings import get_settings
from app.intake import service as intake_service
from tests.conftest import World
from tests.factories import (
    API,
    META_CONFIG,
    make_campaign,
    make_custom_field,
    make_integration,
    make_lead,
)
from tests.intake_harness import settled, statuses, submission
from tests.integrations.platforms import FakeGraph, Workspace, leadgen, post_meta
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")


async def handshake(
    http: httpx.AsyncClient, integration_id: str, token: str, mode: str = "subscribe"
) -> httpx.Response:
    params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"}
    return await http.get(f"{API}/intake/meta/{integration_id}", params=params)


class TestHandshake:
    async def test_the_right_verify_token_gets_the_bare_challenge(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)

        response = await handshake(client, made["id"], str(META_CONFIG["verify_token"]))

        assert response.status_code == 200
        assert response.text == "1158201444"
        assert response.headers["content-type"].startswith("text/plain")

    @pytest.mark.parametrize(
        ("token", "mode"), [("sai-roi", "subscribe"), (str(META_CONFIG["verify_token"]), "x")]
    )
    async def test_a_wrong_token_or_mode_is_a_403(
        self, client: httpx.AsyncClient, world: World, token: str, mode: str
    ) -> None:
        made = await make_integration(client, world.admin.headers)

        response = await handshake(client, made["id"], token, mode)

        assert response.status_code == 403
        assert response.json()["code"] == "signature_invalid"
        assert "1158201444" not in response.text


class TestSignatures:
    @pytest.mark.parametrize(
        ("signature", "status", "code"),
        [
            ("", 401, "signature_missing"),
            ("sha256=" + "0" * 64, 403, "signature_invalid"),
            ("sha1=abc", 403, "signature_invalid"),
            ("sha256=ĐÀO", 403, "signature_invalid"),
        ],
    )
    async def test_an_unsigned_or_forged_post_stores_nothing(
        self, client: httpx.AsyncClient, world: World, signature: str, status: int, code: str
    ) -> None:
        made = await make_integration(client, world.admin.headers)

        response = await post_meta(client, made["id"], leadgen("88001"), signature=signature)

        assert response.status_code == status
        assert response.json()["code"] == code
        assert await statuses(client, world.admin.headers, integration_id=made["id"]) == []

    async def test_signed_with_another_workspaces_secret_reaches_no_workspace(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        mine = await make_integration(client, world.admin.headers)
        other_config = {**META_CONFIG, "app_secret": "bi-mat-cua-doi-thu"}
        theirs = await make_integration(client, world.other_owner.headers, config=other_config)

        response = await post_meta(client, theirs["id"], leadgen("88002"))

        assert response.status_code == 403
        for member, integration in ((world.admin, mine), (world.other_owner, theirs)):
            stored = await statuses(client, member.headers, integration_id=integration["id"])
            assert stored == []

    async def test_a_post_to_a_google_integration_as_meta_is_a_404(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        google = await make_integration(
            client, world.admin.headers, provider="google", config={"google_key": "k-12345678"}
        )

        response = await post_meta(client, google["id"], leadgen("88003"))

        assert response.status_code == 404


class TestStored:
    async def test_each_leadgen_change_is_a_submission_stored_before_the_200(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)
        body = leadgen("88010", "88011")
        body["entry"][0]["changes"].append({"field": "feed", "value": {"item": "status"}})

        response = await post_meta(client, made["id"], body)

        assert response.status_code == 200, response.text
        ids = response.json()["submission_ids"]
        stored = await statuses(client, world.admin.headers, integration_id=made["id"])
        assert sorted(s["id"] for s in stored) == sorted(ids)
        assert {s["external_id"] for s in stored} == {"88010", "88011"}
        assert {(s["provider"], s["status"]) for s in stored} == {("meta", "received")}
        assert stored[0]["payload"]["form_id"] == "555000111222"
        assert stored[0]["context"]["page_id"] == "106270412345678"

    async def test_a_redelivered_leadgen_id_is_answered_200_with_its_first_submission(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)

        first = await post_meta(client, made["id"], leadgen("88020"))
        again = await post_meta(client, made["id"], leadgen("88020", "88020", "88021"))

        assert (first.status_code, again.status_code) == (200, 200)
        (sid,) = first.json()["submission_ids"]
        assert again.json()["submission_ids"][:2] == [sid, sid]
        assert again.json()["redelivered"] == 2
        stored = await statuses(client, world.admin.headers, integration_id=made["id"])
        assert len(stored) == 2

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (b'{"object": "page", "entry": [\xff]}', 400),  # not UTF-8
            (b"[" * 5000 + b"]" * 5000, 400),  # nested past any sane depth
            (b'{"object": "page"}', 422),  # no entries
        ],
    )  # fmt: skip
    async def test_a_signed_body_that_is_not_a_webhook_is_a_clear_4xx(
        self, client: httpx.AsyncClient, world: World, body: bytes, status: int
    ) -> None:
        made = await make_integration(client, world.admin.headers)

        response = await post_meta(client, made["id"], body)

        assert response.status_code == status
        assert await statuses(client, world.admin.headers, integration_id=made["id"]) == []

    async def test_a_change_that_is_no_lead_is_kept_failed_and_never_holds_back_the_others(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers)
        body = leadgen("88030")
        bad = {"field": "leadgen", "value": {"leadgen_id": "../../me"}}
        body["entry"][0]["changes"].append(bad)

        response = await post_meta(client, made["id"], body)

        assert response.status_code == 200  # refused, Meta would resend the good one too
        stored = await statuses(client, world.admin.headers, integration_id=made["id"])
        by_status = {s["status"]: s for s in stored}
        assert sorted(by_status) == ["failed", "received"]
        assert by_status["received"]["external_id"] == "88030"
        assert by_status["failed"]["payload"] == {"leadgen_id": "../../me"}
        assert "entry.0.changes.1.value.leadgen_id" in by_status["failed"]["error"]


QUESTIONS = {
    "full_name": "Nguyễn Văn Ánh",
    "email": "Anh.Nguyen@MinhPhat.vn",
    "phone_number": "+84912345678",
    "city": "Hà Nội",
    "company_name": "Công ty TNHH Minh Phát",
    "job_title": "Giám đốc",
    "dòng_xe_quan_tâm?": "Fortuner",
    "ngân_sách": "1,2 tỷ",
}


class TestTheWorkerReadsEachLead:
    async def test_a_replayed_change_that_is_no_lead_fails_again_without_calling_graph(
        self, workspace: Workspace, graph: FakeGraph
    ) -> None:
        integration = await workspace.integration()
        body = leadgen()
        body["entry"][0]["changes"].append({"field": "leadgen", "value": {"leadgen_id": "../me"}})
        (sid,) = (await post_meta(workspace.http, integration["id"], body)).json()["submission_ids"]

        replayed = await workspace.http.post(
            f"{API}/intake/submissions/{sid}/replay", headers=workspace.headers
        )
        done = await settled(workspace.http, workspace.headers, sid, *workspace.servers)

        assert replayed.status_code == 202
        assert done["status"] == "failed"
        assert "not a Graph lead id" in done["error"]
        assert graph.calls == []

    async def test_the_lead_is_fetched_mapped_and_given_to_its_owner(
        self, workspace: Workspace, graph: FakeGraph
    ) -> None:
        campaign = await make_campaign(workspace.http, workspace.headers)
        custom = await make_custom_field(workspace.http, workspace.headers, key="ngan_sach")
        config = {**META_CONFIG, "mapping": {"ngân_sách": f"custom_fields.{custom['key']}"}}
        integration = await workspace.integration(config=config, campaign_id=campaign["id"])
        lead_id = graph.add_lead(**QUESTIONS)

        done = await workspace.settle(
            await post_meta(workspace.http, integration["id"], leadgen(lead_id))
        )

        assert (done["status"], done["attempts"], done["error"]) == ("processed", 1, None)
        assert done["payload"]["lead"]["id"] == lead_id
        lead = await workspace.lead(done["lead_id"])
        assert (lead["full_name"], lead["email"], lead["phone_e164"]) == (
            "Nguyễn Văn Ánh",
            "anh.nguyen@minhphat.vn",
            "+84912345678",
        )
        assert (lead["province"], lead["company_name"], lead["title"]) == (
            "Hà Nội",
            "Công ty TNHH Minh Phát",
            "Giám đốc",
        )
        assert (lead["source"], lead["campaign_id"], lead["submission_id"]) == (
            "facebook",
            campaign["id"],
            done["id"],
        )
        assert lead["custom_fields"] == {"ngan_sach": "1,2 tỷ"}
        assert lead["notes"] == "dòng_xe_quan_tâm?: Fortuner"
        assert lead["owner_id"] == workspace.owner["user_id"]
        inbox = (await workspace.http.get(f"{API}/notifications", headers=workspace.headers)).json()
        assert [(n["kind"], n["lead_id"]) for n in inbox["data"]] == [("lead_assigned", lead["id"])]
        assert graph.fetches_of(lead_id) == 1

    async def test_a_person_sen_knows_is_a_duplicate_and_no_new_lead(
        self, workspace: Workspace, graph: FakeGraph
    ) -> None:
        integration = await workspace.integration()
        known = await make_lead(workspace.http, workspace.headers, phone="0912 345 678")
        lead_id = graph.add_lead(full_name="Ánh", phone_number="+84 912 345 678")

        done = await workspace.settle(
            await post_meta(workspace.http, integration["id"], leadgen(lead_id))
        )

        assert (done["status"], done["duplicate_of_id"]) == ("duplicate", known["id"])

    async def test_graph_500s_and_timeouts_are_retried_until_it_answers(
        self, workspace: Workspace, graph: FakeGraph
    ) -> None:
        integration = await workspace.integration()
        lead_id = graph.add_lead(full_name="Lê Thu")
        graph.fail(lead_id, "500", "timeout")

        done = await workspace.settle(
            await post_meta(workspace.http, integration["id"], leadgen(lead_id))
        )

        assert (done["status"], done["attempts"], done["retry_at"]) == ("processed", 3, None)
        assert done["error"] is None
        assert graph.fetches_of(lead_id) == 3

    async def test_between_tries_it_waits_received_with_why_and_the_sweep_leaves_it(
        self, workspace: Workspace, graph: FakeGraph, app: FastAPI
    ) -> None:
        integration = await workspace.integration()
        lead_id = graph.add_lead(full_name="Lê Thu")
        graph.fail(lead_id, "500")
        get_settings().meta_retry_seconds = 60  # restored by the `graph` fixture

        posted = await post_meta(workspace.http, integration["id"], leadgen(lead_id))
        sid = posted.json()["submission_ids"][0]
        await jobs.wait_for_sends()
        async with running_worker(*workspace.servers):

            async def tried() -> bool:
                found = await submission(workspace.http, workspace.headers, sid)
                return found["retry_at"] is not None

            assert await eventually(tried)
        waiting = await submission(workspace.http, workspace.headers, sid)
        ws = uuid.UUID(workspace.owner["workspace_id"])
        async with job_context(app.state.sessionmaker, ws, queue=None) as job:
            handed_back = await intake_service.requeue_waiting(
                job, received_before=utcnow() + timedelta(minutes=1)
            )

        assert (waiting["status"], waiting["attempts"], graph.fetches_of(lead_id)) == (
            "received",
            1,
            1,
        )
        assert "answered 500" in waiting["error"]
        assert datetime.fromisoformat(waiting["retry_at"]) > utcnow() + timedelta(seconds=50)
        assert handed_back == 0

    async def test_graph_down_past_every_try_ends_failed_with_the_reason(
        self, workspace: Workspace, graph: FakeGraph
    ) -> None:
        integration = await workspace.integration()
        lead_id = graph.add_lead(full_name="Lê Thu")
        graph.fail(lead_id, "timeout", "timeout", "timeout", "timeout")

        done = await workspace.settle(
            await post_meta(workspace.http, integration["id"], leadgen(lead_id))
        )

        assert (done["status"], done["attempts"], done["lead_id"]) == ("failed", 3, None)
        assert "did not answer within 0.5 s (after 3 tries)" in done["error"]
        assert graph.fetches_of(lead_id) == 3

    async def test_an_invalid_token_fails_at_once_and_a_replay_after_the_fix_makes_the_lead(
        self, workspace: Workspace, graph: FakeGraph
    ) -> None:
        integration = await workspace.integration()
        lead_id = graph.add_lead(full_name="Phạm Hùng")
        graph.token = "EAAG-a-new-token"  # the page's token was revoked and a new one issued

        posted = await post_meta(workspace.http, integration["id"], leadgen(lead_id))
        failed = await workspace.settle(posted)
        config = {**integration["config"], "page_access_token": "EAAG-a-new-token"}
        await workspace.http.patch(
            f"{API}/integrations/{integration['id']}",
            json={"config": config},
            headers=workspace.headers,
        )
        replay = await workspace.http.post(
            f"{API}/intake/submissions/{failed['id']}/replay", headers=workspace.headers
        )
        done = await workspace.settle(posted)

        assert (failed["status"], failed["attempts"]) == ("failed", 1)
        assert "Graph error 190" in failed["error"]
        assert "EAAG" not in failed["error"]
        assert replay.status_code == 202
        assert (done["status"], done["error"]) == ("processed", None)

    async def test_a_lead_graph_does_not_know_fails_with_graphs_reason(
        self, workspace: Workspace, graph: FakeGraph
    ) -> None:
        integration = await workspace.integration()

        done = await workspace.settle(
            await post_meta(workspace.http, integration["id"], leadgen("99999"))
        )

        assert done["status"] == "failed"
        assert "error 100" in done["error"]
        assert "does not exist" in done["error"]

    async def test_a_slow_lead_does_not_hold_up_the_healthy_ones(
        self, workspace: Workspace, graph: FakeGraph
    ) -> None:
        integration = await workspace.integration()
        get_settings().meta_fetch_tries = 5  # over 3 s of trying (restored by `graph`)
        slow = graph.add_lead(full_name="Chậm")
        graph.fail(slow, *["timeout"] * 5)
        healthy = [graph.add_lead(full_name=f"Khách {i}", phone_number=f"09120001{i:02d}")
                   for i in range(8)]  # fmt: skip

        done = await workspace.settle(
            await post_meta(workspace.http, integration["id"], leadgen(slow, *healthy))
        )

        assert [s["status"] for s in done] == ["failed"] + ["processed"] * 8
        assert "(after 5 tries)" in done[0]["error"]
        # The healthy ones were done while the slow one still waited for its first answer.
        assert max(s["processed_at"] for s in done[1:]) < done[0]["processed_at"]


class TestSubmissionsOfAnIntegration:
    async def test_the_log_filters_by_integration(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        one = await make_integration(client, world.admin.headers)
        other = await make_integration(client, world.admin.headers)
        await post_meta(client, one["id"], leadgen("88100"))
        await post_meta(client, other["id"], leadgen("88101"))

        found = await statuses(client, world.admin.headers, integration_id=one["id"])

        assert [s["external_id"] for s in found] == ["88100"]
        assert (await submission(client, world.admin.headers, found[0]["id"]))[
            "integration_id"
        ] == one["id"]
