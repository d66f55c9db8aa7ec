"""A stored submission becomes its lead through a real arq worker on the real Redis: mapped,
normalised, matched against who Sen already knows, assigned and announced, once each, and
found again by the sweep when its job was lost."""

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from arq import create_pool
from fastapi import FastAPI

from app.core import jobs
from app.core.jobs import job_context
from app.core.models import utcnow
from app.core.queue import redis_settings
from app.intake import service as intake_service
from tests.conftest import sign_up
from tests.factories import (
    API,
    make_campaign,
    make_custom_field,
    make_form,
    make_lead,
    make_user,
    submit_form,
)
from tests.intake_harness import leads, settled, submission
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")


async def read_lead(http: httpx.AsyncClient, headers: dict[str, str], lead_id: str) -> dict:
    response = await http.get(f"{API}/leads/{lead_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


class TestFormSubmissionBecomesALead:
    async def test_the_lead_carries_the_form_source_tracking_and_tags_and_its_owner_hears(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-lead")
        headers = owner["headers"]
        form = await make_form(committing_client, headers, tags=["lái thử"])
        accepted = await committing_client.post(
            f"{API}/intake/forms/{form['key']}?utm_source=zalo&utm_campaign=tet",
            json={
                "full_name": "  Nguyễn   Văn Ánh ",
                "phone": "0912 345 678",
                "email": "Anh.Nguyen@MinhPhat.vn",
                "model": "Vios",
                "fbclid": "FB-1",
            },
        )

        done = await settled(
            committing_client, headers, accepted.json()["submission_id"], database_url, redis_url
        )

        assert done["status"] == "processed"
        assert done["attempts"] == 1
        lead = (
            await committing_client.get(f"{API}/leads/{done['lead_id']}", headers=headers)
        ).json()
        assert lead["full_name"] == "Nguyễn Văn Ánh"
        assert lead["email"] == "anh.nguyen@minhphat.vn"
        assert lead["phone_e164"] == "+84912345678"
        assert (lead["source"], lead["status"], lead["tags"]) == ("form", "new", ["lái thử"])
        assert (lead["utm_source"], lead["utm_campaign"], lead["fbclid"]) == ("zalo", "tet", "FB-1")
        assert (lead["form_id"], lead["submission_id"]) == (form["id"], done["id"])
        assert lead["owner_id"] == owner["user_id"]  # no rule, no default: the owner
        assert "Dòng xe: Vios" in lead["notes"]  # a field with no lead field of its own
        inbox = (await committing_client.get(f"{API}/notifications", headers=headers)).json()
        assert [(n["kind"], n["lead_id"]) for n in inbox["data"]] == [("lead_assigned", lead["id"])]

    async def test_mapped_fields_fill_custom_fields_and_the_forms_default_owner_gets_it(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-mapping")
        headers = owner["headers"]
        seller = await make_user(committing_client, headers, full_name="Lý Thu")
        custom = await make_custom_field(committing_client, headers, key="dong_xe")
        form = await make_form(
            committing_client,
            headers,
            mapping={"model": f"custom_fields.{custom['key']}"},
            default_owner_id=seller["id"],
        )
        accepted = await submit_form(committing_client, form["key"], model="Fortuner")

        done = await settled(
            committing_client, headers, accepted["submission_id"], database_url, redis_url
        )

        lead = (
            await committing_client.get(f"{API}/leads/{done['lead_id']}", headers=headers)
        ).json()
        assert lead["custom_fields"] == {"dong_xe": "Fortuner"}
        assert lead["owner_id"] == seller["id"]

    async def test_the_lead_joins_the_forms_campaign_or_the_one_its_utm_campaign_names(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-campaigns")
        headers = owner["headers"]
        tet = await make_campaign(committing_client, headers, key="tet-2027", channel="facebook")
        summer = await make_campaign(committing_client, headers, key="he-2027")
        with_campaign = await make_form(committing_client, headers, campaign_id=summer["id"])
        without = await make_form(committing_client, headers)
        by_form = await submit_form(
            committing_client, with_campaign["key"], utm_campaign="tet-2027"
        )
        by_utm = await submit_form(
            committing_client, without["key"], phone="0987000222", utm_campaign="Tet-2027"
        )

        first = await settled(
            committing_client, headers, by_form["submission_id"], database_url, redis_url
        )
        second = await settled(
            committing_client, headers, by_utm["submission_id"], database_url, redis_url
        )

        assert (await read_lead(committing_client, headers, first["lead_id"]))[
            "campaign_id"
        ] == summer["id"]
        assert (await read_lead(committing_client, headers, second["lead_id"]))[
            "campaign_id"
        ] == tet["id"]
        stats = await committing_client.get(f"{API}/campaigns/{tet['id']}/stats", headers=headers)
        assert stats.json()["leads"] == 1

    async def test_an_assignment_rule_takes_turns_between_its_sellers(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-rules")
        headers = owner["headers"]
        sellers = [await make_user(committing_client, headers) for _ in range(2)]
        form = await make_form(committing_client, headers)
        rule = await committing_client.post(
            f"{API}/assignment-rules",
            json={
                "name": "Form lái thử",
                "strategy": "round_robin",
                "conditions": {"form_id": form["id"]},
                "user_ids": [s["id"] for s in sellers],
            },
            headers=headers,
        )
        assert rule.status_code == 201, rule.text
        posted = [
            await submit_form(committing_client, form["key"], phone=f"090000000{i}")
            for i in range(4)
        ]

        await jobs.wait_for_sends()
        async with running_worker(database_url, redis_url):

            async def all_done() -> bool:
                found = [await submission(committing_client, headers, p["submission_id"])
                         for p in posted]  # fmt: skip
                return all(s["status"] == "processed" for s in found)

            assert await eventually(all_done)

        owners = [lead["owner_id"] for lead in await leads(committing_client, headers)]
        assert sorted(owners) == sorted([sellers[0]["id"], sellers[1]["id"]] * 2)


class TestPeopleSenAlreadyKnows:
    async def test_someone_whose_owner_left_comes_back_to_the_workspace_owner(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-owner-left")
        headers = owner["headers"]
        seller = await make_user(committing_client, headers)
        known = await make_lead(
            committing_client, headers, phone="0912 000 444", owner_id=seller["id"]
        )
        left = await committing_client.patch(
            f"{API}/users/{seller['id']}", json={"is_active": False}, headers=headers
        )
        assert left.status_code == 200, left.text
        form = await make_form(committing_client, headers)
        accepted = await submit_form(committing_client, form["key"], phone="0912000444")

        done = await settled(
            committing_client, headers, accepted["submission_id"], database_url, redis_url
        )

        assert (done["status"], done["duplicate_of_id"]) == ("duplicate", known["id"])
        inbox = (await committing_client.get(f"{API}/notifications", headers=headers)).json()
        assert [(n["kind"], n["lead_id"]) for n in inbox["data"]] == [
            ("lead_returned", known["id"])
        ]

    async def test_a_known_phone_makes_no_lead_and_the_lead_hears_they_came_back(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-duplicate")
        headers = owner["headers"]
        known = await make_lead(committing_client, headers, phone="+84 912 345 678")
        form = await make_form(committing_client, headers)
        accepted = await submit_form(
            committing_client, form["key"], full_name="Anh Ánh", phone="0912.345.678"
        )

        done = await settled(
            committing_client, headers, accepted["submission_id"], database_url, redis_url
        )

        assert done["status"] == "duplicate"
        assert (done["duplicate_of_type"], done["duplicate_of_id"]) == ("lead", known["id"])
        assert [lead["id"] for lead in await leads(committing_client, headers)] == [known["id"]]
        activities = await committing_client.get(
            f"{API}/activities", params={"related_id": known["id"]}, headers=headers
        )
        (note,) = activities.json()["data"]
        assert note["type"] == "note"
        assert "Anh Ánh" in note["body"]

    async def test_a_known_email_of_a_contact_is_a_duplicate_of_the_contact(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-contact")
        headers = owner["headers"]
        contact = await committing_client.post(
            f"{API}/contacts",
            json={"full_name": "Trần Bích", "email": "bich@khach.vn"},
            headers=headers,
        )
        form = await make_form(committing_client, headers)
        accepted = await submit_form(
            committing_client, form["key"], email="BICH@khach.vn", phone="0987000111"
        )

        done = await settled(
            committing_client, headers, accepted["submission_id"], database_url, redis_url
        )

        assert (done["duplicate_of_type"], done["duplicate_of_id"]) == (
            "contact",
            contact.json()["id"],
        )


class TestOnceAndNeverLost:
    async def test_processing_a_submission_twice_makes_one_lead(
        self, committing_client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-twice")
        headers = owner["headers"]
        form = await make_form(committing_client, headers)
        accepted = await submit_form(committing_client, form["key"])
        workspace, sid = owner["workspace_id"], accepted["submission_id"]

        outcomes = []
        for _ in range(2):
            async with job_context(app.state.sessionmaker, uuid.UUID(workspace), queue=None) as ctx:
                outcomes.append(await intake_service.process_submission(ctx, uuid.UUID(sid)))

        assert outcomes == ["processed", None]
        assert len(await leads(committing_client, headers)) == 1
        assert (await submission(committing_client, headers, sid))["attempts"] == 1

    async def test_a_double_click_processed_by_two_workers_at_once_makes_one_lead(
        self, committing_client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-double-click")
        headers = owner["headers"]
        form = await make_form(committing_client, headers)
        first, second = [
            await submit_form(committing_client, form["key"], phone="0912 000 333")
            for _ in range(2)
        ]
        workspace = uuid.UUID(owner["workspace_id"])

        async def process(sid: str) -> str | None:
            async with job_context(app.state.sessionmaker, workspace, queue=None) as ctx:
                return await intake_service.process_submission(ctx, uuid.UUID(sid))

        outcomes = await asyncio.gather(
            process(first["submission_id"]), process(second["submission_id"])
        )

        assert sorted(str(o) for o in outcomes) == ["duplicate", "processed"]
        assert len(await leads(committing_client, headers)) == 1

    async def test_a_submission_whose_job_redis_lost_is_found_by_the_sweep(
        self,
        committing_client: httpx.AsyncClient,
        database_url: str,
        redis_url: str,
        retry_at_once: None,
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-sweep")
        headers = owner["headers"]
        form = await make_form(committing_client, headers)
        accepted = await submit_form(committing_client, form["key"])
        await jobs.wait_for_sends()
        pool = await create_pool(redis_settings(redis_url))
        await pool.flushdb()  # Redis restarted without its data: the nudge is gone

        await pool.enqueue_job("sweep_submissions")  # what the every-minute cron runs
        await pool.aclose()
        async with running_worker(database_url, redis_url):

            async def processed() -> bool:
                found = await submission(committing_client, headers, accepted["submission_id"])
                return found["status"] == "processed"

            assert await eventually(processed)


class TestFailedAndReplayed:
    async def test_a_submission_refused_by_a_rule_fails_with_why_and_replays_once_fixed(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-replay")
        headers = owner["headers"]
        form = await make_form(committing_client, headers)
        required = await make_custom_field(committing_client, headers, key="nganh", required=True)
        accepted = await submit_form(committing_client, form["key"])
        sid = accepted["submission_id"]

        failed = await settled(committing_client, headers, sid, database_url, redis_url)
        await committing_client.delete(f"{API}/custom-fields/{required['id']}", headers=headers)
        replay = await committing_client.post(
            f"{API}/intake/submissions/{sid}/replay", headers=headers
        )
        done = await settled(committing_client, headers, sid, database_url, redis_url)
        again = await committing_client.post(
            f"{API}/intake/submissions/{sid}/replay", headers=headers
        )

        assert failed["status"] == "failed"
        assert "nganh" in failed["error"]
        assert replay.status_code == 202
        assert (done["status"], done["attempts"], done["error"]) == ("processed", 2, None)
        assert again.status_code == 409
        assert again.json()["code"] == "submission_processed"

    async def test_raw_payloads_are_pruned_and_what_became_of_them_stays(
        self, committing_client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-prune")
        headers = owner["headers"]
        form = await make_form(committing_client, headers)
        accepted = await submit_form(committing_client, form["key"], _gotcha="bot")
        waiting = await submit_form(committing_client, form["key"], full_name="Chưa xử lý")

        async with job_context(
            app.state.sessionmaker, uuid.UUID(owner["workspace_id"]), queue=None
        ) as ctx:
            pruned = await intake_service.prune_payloads(
                ctx, received_before=utcnow() + timedelta(minutes=1)
            )

        kept = await submission(committing_client, headers, accepted["submission_id"])
        still = await submission(committing_client, headers, waiting["submission_id"])
        assert pruned == 1
        assert (kept["status"], kept["payload"]) == ("spam", None)
        assert still["payload"]["full_name"] == "Chưa xử lý"  # its lead is yet to be made of it

    async def test_a_run_that_crashes_unforeseen_is_counted_and_ends_failed_to_replay(
        self, committing_client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        owner = await sign_up(committing_client, "committing-intake-crash")
        headers = owner["headers"]
        form = await make_form(committing_client, headers)
        accepted = await submit_form(committing_client, form["key"])
        sid = uuid.UUID(accepted["submission_id"])
        crash = RuntimeError("deadlock detected")

        seen = []
        for _ in range(5):
            async with job_context(
                app.state.sessionmaker, uuid.UUID(owner["workspace_id"]), queue=None
            ) as ctx:
                await intake_service.record_crash(ctx, sid, crash, give_up_after=5)
            seen.append((await submission(committing_client, headers, str(sid)))["status"])

        failed = await submission(committing_client, headers, str(sid))
        assert seen == ["received"] * 4 + ["failed"]
        assert (failed["attempts"], failed["error"]) == (5, "RuntimeError: deadlock detected")
