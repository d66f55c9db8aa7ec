"""Workflows with real parts: the API's rules for saving one, and runs carried out by a real arq
worker on real PostgreSQL and Redis — on events, on a date (the clock is a setting the test
moves), after a wait, failing and retried — each action done once."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.automations import runner
from app.automations.runs import MAX_DEPTH
from tests.conftest import World, settings_changed, sign_up
from tests.factories import (
    API,
    make_account,
    make_assignment_rule,
    make_contact,
    make_custom_field,
    make_lead,
)
from tests.worker_harness import eventually, running_worker
from workers.settings import fire_automations, sweep_automation_runs

pytestmark = pytest.mark.usefixtures("empty_queue")

NEW_LEAD_TASK = {
    "name": "Nhắc lead mới",
    "active": True,
    "resource": "lead",
    "trigger": {"type": "event", "event": "lead.created"},
    "conditions": {"all": [{"field": "status", "op": "eq", "value": "new"}]},
    "actions": [
        {"type": "add_tag", "tag": "tu-dong"},
        {"type": "create_activity", "activity_type": "task", "subject": "Gọi lead mới",
         "due_in": "1h"},
        {"type": "notify", "user": "owner", "title": "Có lead mới"},
    ],
}  # fmt: skip


async def automation(
    http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(f"{API}/automations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def runs_of(
    http: httpx.AsyncClient, headers: dict[str, str], automation_id: str
) -> list[dict[str, Any]]:
    response = await http.get(f"{API}/automations/{automation_id}/runs", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def settled_runs(
    http: httpx.AsyncClient, headers: dict[str, str], automation_id: str, count: int
) -> list[dict[str, Any]]:
    """The workflow's runs once at least `count` of them have ended (completed, skipped or
    failed) and none is left under way."""
    seen: list[dict[str, Any]] = []

    async def ended() -> bool:
        seen[:] = await runs_of(http, headers, automation_id)
        done = [r for r in seen if r["status"] in ("completed", "skipped", "failed")]
        return len(done) >= count and len(done) == len(seen)

    assert await eventually(ended, seconds=20), seen
    return seen


async def lead(http: httpx.AsyncClient, headers: dict[str, str], lead_id: str) -> dict[str, Any]:
    response = await http.get(f"{API}/leads/{lead_id}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


class TestSaving:
    async def test_an_admin_saves_a_workflow_switched_off_unless_asked(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        body = {**NEW_LEAD_TASK}
        del body["active"]
        made = await automation(client, world.admin.headers, body)
        assert made["active"] is False
        assert made["trigger"] == {"type": "event", "event": "lead.created", "field": None,
                                   "to": None}  # fmt: skip
        assert [a["type"] for a in made["actions"]] == ["add_tag", "create_activity", "notify"]
        sales = await client.post(f"{API}/automations", json=body, headers=world.sales.headers)
        assert sales.status_code == 403, sales.text

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"conditions": {"all": [{"field": "mau_xe", "op": "eq", "value": 1}]}},
             "conditions.0.field"),
            ({"conditions": {"any": [{"field": "account.khong_co", "op": "is_empty"}]}},
             "conditions.0.field"),
            ({"trigger": {"type": "event", "event": "deal.created"}}, "trigger.event"),
            ({"trigger": {"type": "event", "event": "lead.updated", "field": "khong_co"}},
             "trigger.field"),
            ({"trigger": {"type": "schedule", "cron": "mỗi sáng thứ hai"}}, "trigger.cron"),
            ({"trigger": {"type": "date", "field": "full_name"}}, "trigger.field"),
            ({"actions": [{"type": "update_field", "field": "id", "value": "x"}]},
             "actions.0.field"),
            ({"actions": [{"type": "notify", "user": str(uuid.uuid4()), "title": "x"}]},
             "actions.0.user"),
        ],
    )  # fmt: skip
    async def test_a_field_trigger_or_user_that_does_not_exist_is_a_422_naming_it(
        self, client: httpx.AsyncClient, world: World, change: dict[str, Any], field: str
    ) -> None:
        response = await client.post(
            f"{API}/automations", json={**NEW_LEAD_TASK, **change}, headers=world.admin.headers
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]

    async def test_custom_fields_and_related_records_fields_are_known(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        custom = await make_custom_field(client, world.admin.headers, resource="contact")
        body = {
            **NEW_LEAD_TASK,
            "resource": "contact",
            "trigger": {"type": "date", "field": "birthday", "yearly": True},
            "conditions": {"all": [
                {"field": f"custom_fields.{custom['key']}", "op": "is_not_empty"},
                {"field": "account.type", "op": "eq", "value": "customer"},
                {"field": "owner.team_id", "op": "is_not_empty"},
            ]},
        }  # fmt: skip
        made = await automation(client, world.admin.headers, body)
        assert made["next_fire_at"] is not None  # tomorrow's (or today's) 08:00


class TestOnEvents:
    async def test_a_new_lead_gets_the_tag_task_and_notification_once(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        http = committing_client
        owner = await sign_up(http, "committing-automations")
        headers = owner["headers"]
        made = await automation(http, headers, NEW_LEAD_TASK)
        fresh = await make_lead(http, headers, full_name="Nguyễn Văn Ánh")
        contacted = await make_lead(http, headers, full_name="Trần Thị Bình", status="contacted")

        tag_changes: list[dict[str, Any]] = []

        async def tag_change_announced() -> bool:
            changed = await http.get(
                f"{API}/events", headers=headers,
                params={"record_id": fresh["id"], "type": "lead.updated"},
            )  # fmt: skip
            tag_changes[:] = changed.json()["data"]
            return bool(tag_changes)

        async with running_worker(database_url, redis_url):
            found = await settled_runs(http, headers, made["id"], 2)
            assert await eventually(tag_change_announced)
        by_record = {r["record_id"]: r for r in found}
        assert len(found) == 2
        done = by_record[fresh["id"]]
        assert done["status"] == "completed", done
        assert [(s["type"], s["outcome"]) for s in done["steps"]] == [
            ("add_tag", "done"), ("create_activity", "done"), ("notify", "done")
        ]  # fmt: skip
        assert done["trigger"]["event"] == "lead.created"
        assert by_record[contacted["id"]]["status"] == "skipped"
        assert by_record[contacted["id"]]["steps"] == []

        assert (await lead(http, headers, fresh["id"]))["tags"] == ["tu-dong"]
        assert (await lead(http, headers, contacted["id"]))["tags"] == []
        tasks = await http.get(
            f"{API}/activities", headers=headers, params={"related_id": fresh["id"]}
        )
        (task,) = tasks.json()["data"]
        assert (task["type"], task["subject"], task["owner_id"]) == (
            "task", "Gọi lead mới", owner["user_id"]
        )  # fmt: skip
        inbox = await http.get(f"{API}/notifications", headers=headers)
        assert [n["title"] for n in inbox.json()["data"]] == ["Có lead mới"]
        (tagged,) = tag_changes
        assert (tagged["depth"], tagged["automation_id"]) == (1, made["id"])
        assert tagged["changes"]["tags"] == {"old": [], "new": ["tu-dong"]}

    async def test_a_workflow_never_triggers_itself_and_a_chain_stops(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        """A answers the title changed to "B" with "A", B answers "A" with "B": each triggers
        the other, never itself, until the chain is MAX_DEPTH actions deep."""
        http = committing_client
        headers = (await sign_up(http, "committing-automations"))["headers"]

        def answering(heard: str, said: str) -> dict[str, Any]:
            return {
                "name": f"{heard} → {said}",
                "active": True,
                "resource": "lead",
                "trigger": {"type": "event", "event": "lead.updated"},
                "conditions": {"all": [{"field": "title", "op": "changed_to", "value": heard}]},
                "actions": [{"type": "update_field", "field": "title", "value": said}],
            }

        first = await automation(http, headers, answering("B", "A"))
        second = await automation(http, headers, answering("A", "B"))
        made = await make_lead(http, headers)
        response = await http.patch(
            f"{API}/leads/{made['id']}", json={"title": "A"}, headers=headers
        )
        assert response.status_code == 200, response.text
        ended: list[dict[str, Any]] = []

        async def chain_ended() -> bool:
            ended[:] = [
                *await runs_of(http, headers, first["id"]),
                *await runs_of(http, headers, second["id"]),
            ]
            return sum(r["status"] in ("completed", "skipped") for r in ended) >= MAX_DEPTH + 1

        updates = {"record_id": made["id"], "type": "lead.updated"}
        depths: list[int] = []

        async def last_change_announced() -> bool:
            found = await http.get(f"{API}/events", headers=headers, params=updates)
            depths[:] = [e["depth"] for e in found.json()["data"]]
            return MAX_DEPTH in depths

        async with running_worker(database_url, redis_url):
            assert await eventually(chain_ended, seconds=20), ended
            assert await eventually(last_change_announced), depths
        completed = sorted(r["depth"] for r in ended if r["status"] == "completed")
        assert completed == list(range(MAX_DEPTH))
        assert [r["depth"] for r in ended if r["status"] == "skipped"] == [0]  # A heard "A"
        assert max(depths) == MAX_DEPTH  # the last change made no run: the chain stopped


class TestOnDates:
    async def test_each_birthday_fires_once_on_its_day_and_never_on_another(
        self,
        committing_client: httpx.AsyncClient,
        maker: async_sessionmaker[AsyncSession],
        queue: ArqRedis,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        headers = (await sign_up(http, "committing-automations"))["headers"]
        born = {
            "march_8": await make_contact(http, headers, full_name="Ánh", birthday="1990-03-08"),
            "march_8b": await make_contact(http, headers, full_name="Bình", birthday="1985-03-08"),
            "march_9": await make_contact(http, headers, full_name="Chi", birthday="1992-03-09"),
            "leap": await make_contact(http, headers, full_name="Dũng", birthday="2000-02-29"),
            "missed": await make_contact(http, headers, full_name="Em", birthday="1999-03-05"),
        }
        wish = {
            "name": "Chúc mừng sinh nhật",
            "active": True,
            "resource": "contact",
            "trigger": {"type": "date", "field": "birthday", "yearly": True, "time": "08:00:00"},
            "actions": [{"type": "add_tag", "tag": "da-chuc-mung"}],
        }
        hcm = timedelta(hours=7)  # Asia/Ho_Chi_Minh, the workspace's zone
        with settings_changed(clock_at=datetime(2027, 2, 27, 12, tzinfo=UTC)):
            made = await automation(http, headers, wish)
        assert made["next_fire_at"] == "2027-02-28T01:00:00Z"  # 08:00 in Vietnam

        def at(month: int, day: int, hour: int, minute: int) -> datetime:
            return datetime(2027, month, day, hour, minute, 30, tzinfo=UTC) - hcm

        found: list[dict[str, Any]] = []
        # No worker ran from 1 to 7 March, nor on the 8th before noon: the days missed are not
        # made up, but the 8th's birthdays still come on the 8th. Runs are carried out at the
        # clock's time, as they would be on the day.
        looks = [
            ((2, 28, 7, 59), 0), ((2, 28, 8, 0), 1), ((2, 28, 8, 5), 1), ((3, 8, 12, 0), 3),
            ((3, 8, 12, 30), 3), ((3, 9, 8, 0), 4), ((3, 9, 8, 1), 4),
        ]  # fmt: skip
        async with running_worker(database_url, redis_url):
            for moment, runs_by_then in looks:
                with settings_changed(clock_at=at(*moment)):
                    await fire_automations({"sessionmaker": maker, "redis": queue})
                    found = await settled_runs(http, headers, made["id"], runs_by_then)
        by_record = {r["record_id"]: r for r in found}
        assert len(found) == 4
        dates = {
            n: by_record[c["id"]]["trigger"]["date"]
            for n, c in born.items()
            if c["id"] in by_record
        }
        assert dates == {
            "leap": "2027-02-28",  # 29 February, in a year without one
            "march_8": "2027-03-08",
            "march_8b": "2027-03-08",
            "march_9": "2027-03-09",
        }
        assert all(r["status"] == "completed" for r in found)

    async def test_a_custom_date_field_fires_yearly_on_its_day(
        self,
        committing_client: httpx.AsyncClient,
        maker: async_sessionmaker[AsyncSession],
        queue: ArqRedis,
        database_url: str,
        redis_url: str,
    ) -> None:
        """A company's founding date, kept in a custom field: its anniversary fires like a
        birthday (29 February on the 28th in other years); a text field is no date."""
        http = committing_client
        headers = (await sign_up(http, "committing-automations"))["headers"]
        founded = await make_custom_field(
            http, headers, resource="account", key="ngay_thanh_lap", label="Ngày thành lập",
            type="date",
        )  # fmt: skip
        note = await make_custom_field(http, headers, resource="account", key="ghi_chu")
        accounts = {
            name: await make_account(http, headers, name=name, custom_fields=fields)
            for name, fields in [
                ("Minh Phát", {"ngay_thanh_lap": "2010-03-08"}),
                ("Hoà Bình", {"ngay_thanh_lap": "2016-02-29"}),
                ("Sao Mai", {"ngay_thanh_lap": "2001-03-09"}),
                ("Chưa rõ", {}),
            ]
        }
        anniversary = {
            "name": "Kỷ niệm thành lập",
            "active": True,
            "resource": "account",
            "trigger": {"type": "date", "field": f"custom_fields.{founded['key']}",
                        "yearly": True, "time": "09:00:00"},
            "actions": [{"type": "add_tag", "tag": "ky-niem"}],
        }  # fmt: skip
        not_a_date = await http.post(
            f"{API}/automations",
            json={**anniversary, "trigger": {**anniversary["trigger"],
                                             "field": f"custom_fields.{note['key']}"}},
            headers=headers,
        )  # fmt: skip
        assert not_a_date.status_code == 422, not_a_date.text
        assert not_a_date.json()["errors"][0]["field"] == "trigger.field"
        assert "custom_fields.ngay_thanh_lap" in not_a_date.json()["errors"][0]["message"]
        with settings_changed(clock_at=datetime(2027, 2, 27, 12, tzinfo=UTC)):
            made = await automation(http, headers, anniversary)

        def at(month: int, day: int) -> datetime:
            return datetime(2027, month, day, 9, 0, 30, tzinfo=UTC) - timedelta(hours=7)

        found: list[dict[str, Any]] = []
        async with running_worker(database_url, redis_url):
            for moment, runs_by_then in [((2, 28), 1), ((3, 8), 2), ((3, 9), 3)]:
                with settings_changed(clock_at=at(*moment)):
                    await fire_automations({"sessionmaker": maker, "redis": queue})
                    found = await settled_runs(http, headers, made["id"], runs_by_then)
        dates = {r["record_id"]: r["trigger"]["date"] for r in found}
        assert dates == {
            accounts["Hoà Bình"]["id"]: "2027-02-28",
            accounts["Minh Phát"]["id"]: "2027-03-08",
            accounts["Sao Mai"]["id"]: "2027-03-09",
        }
        assert all(r["status"] == "completed" for r in found)
        listed = await http.get(f"{API}/accounts", headers=headers, params={"limit": 10})
        tags = {a["name"]: a["tags"] for a in listed.json()["data"]}
        assert tags == {"Minh Phát": ["ky-niem"], "Hoà Bình": ["ky-niem"],
                        "Sao Mai": ["ky-niem"], "Chưa rõ": []}  # fmt: skip


class TestWaiting:
    async def test_a_run_resumes_after_its_wait_and_checks_the_conditions_again(
        self,
        committing_client: httpx.AsyncClient,
        maker: async_sessionmaker[AsyncSession],
        queue: ArqRedis,
        database_url: str,
        redis_url: str,
    ) -> None:
        http = committing_client
        headers = (await sign_up(http, "committing-automations"))["headers"]
        later = {
            **NEW_LEAD_TASK,
            "actions": [
                {"type": "wait", "duration": "2h"},
                {"type": "add_tag", "tag": "chua-lien-he"},
            ],
        }
        made = await automation(http, headers, later)
        untouched = await make_lead(http, headers, full_name="Ánh")
        called = await make_lead(http, headers, full_name="Bình")

        async with running_worker(database_url, redis_url):

            async def waiting() -> bool:
                found = await runs_of(http, headers, made["id"])
                return [r["status"] for r in found] == ["waiting", "waiting"]

            assert await eventually(waiting)
            response = await http.patch(
                f"{API}/leads/{called['id']}", json={"status": "contacted"}, headers=headers
            )
            assert response.status_code == 200, response.text
            with settings_changed(clock_at=datetime.now(UTC) + timedelta(hours=2, minutes=1)):
                await sweep_automation_runs({"sessionmaker": maker, "redis": queue})
                found = await settled_runs(http, headers, made["id"], 2)
        by_record = {r["record_id"]: r for r in found}
        assert by_record[untouched["id"]]["status"] == "completed"
        assert by_record[called["id"]]["status"] == "skipped"
        assert (await lead(http, headers, untouched["id"]))["tags"] == ["chua-lien-he"]
        assert (await lead(http, headers, called["id"]))["tags"] == []


class TestFailing:
    async def test_a_failing_action_is_retried_then_fails_and_a_retry_by_hand_goes_on(
        self,
        committing_client: httpx.AsyncClient,
        database_url: str,
        redis_url: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(runner, "RETRY_DELAYS", (timedelta(0),) * 2)
        http = committing_client
        owner = await sign_up(http, "committing-automations")
        headers = owner["headers"]
        rule = await make_assignment_rule(http, headers)
        assign = {
            **NEW_LEAD_TASK,
            "actions": [
                {"type": "add_tag", "tag": "da-phan-cong"},
                {"type": "assign_owner", "assignment_rule_id": rule["id"]},
            ],
        }
        made = await automation(http, headers, assign)
        switched_off = await http.patch(
            f"{API}/assignment-rules/{rule['id']}", json={"active": False}, headers=headers
        )
        assert switched_off.status_code == 200, switched_off.text
        target = await make_lead(http, headers)

        async with running_worker(database_url, redis_url):
            (failed,) = await settled_runs(http, headers, made["id"], 1)
            assert failed["status"] == "failed", failed
            assert "no active candidate" in failed["error"]
            outcomes = [(s["type"], s["outcome"], s["attempts"]) for s in failed["steps"]]
            assert outcomes == [("add_tag", "done", 1), ("assign_owner", "failed", 3)]

            switched_on = await http.patch(
                f"{API}/assignment-rules/{rule['id']}", json={"active": True}, headers=headers
            )
            assert switched_on.status_code == 200, switched_on.text
            retried = await http.post(
                f"{API}/automations/{made['id']}/runs/{failed['id']}/retry", headers=headers
            )
            assert retried.status_code == 200, retried.text

            async def completed() -> bool:
                (run,) = await runs_of(http, headers, made["id"])
                return run["status"] == "completed"

            assert await eventually(completed)
        again = await http.post(
            f"{API}/automations/{made['id']}/runs/{failed['id']}/retry", headers=headers
        )
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "automation_run_not_failed"
        found = await lead(http, headers, target["id"])
        assert found["tags"] == ["da-phan-cong"]  # added once, not again on the retry
        assert found["owner_id"] == owner["user_id"]

    async def test_one_failing_action_in_a_batch_undoes_no_other_runs_action(
        self,
        committing_client: httpx.AsyncClient,
        database_url: str,
        redis_url: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Runs due together are carried in one transaction; when one action fails, the batch
        is carried again an action at a time: the others' actions are done, once each."""
        monkeypatch.setattr(runner, "RETRY_DELAYS", (timedelta(0),))
        http = committing_client
        headers = (await sign_up(http, "committing-automations"))["headers"]
        rule = await make_assignment_rule(http, headers)
        failing = await automation(http, headers, {
            **NEW_LEAD_TASK, "name": "Phân công",
            "actions": [
                {"type": "add_tag", "tag": "cho-phan-cong"},
                {"type": "assign_owner", "assignment_rule_id": rule["id"]},
            ],
        })  # fmt: skip
        working = await automation(http, headers, NEW_LEAD_TASK)
        off = await http.patch(
            f"{API}/assignment-rules/{rule['id']}", json={"active": False}, headers=headers
        )
        assert off.status_code == 200, off.text
        # Made before a worker runs: their six runs are due together, one batch.
        leads = [await make_lead(http, headers, full_name=f"Khách {i}") for i in range(3)]

        async with running_worker(database_url, redis_url):
            failed = await settled_runs(http, headers, failing["id"], 3)
            completed = await settled_runs(http, headers, working["id"], 3)

        assert {r["status"] for r in failed} == {"failed"}
        assert {r["status"] for r in completed} == {"completed"}
        for made in leads:
            found = await lead(http, headers, made["id"])
            assert sorted(found["tags"]) == ["cho-phan-cong", "tu-dong"]
            tasks = await http.get(
                f"{API}/activities", headers=headers, params={"related_id": made["id"]}
            )
            assert [t["subject"] for t in tasks.json()["data"]] == ["Gọi lead mới"]
        inbox = await http.get(f"{API}/notifications", headers=headers)
        assert [n["title"] for n in inbox.json()["data"]] == ["Có lead mới"] * 3


class TestDryRun:
    async def test_a_dry_run_says_what_would_happen_and_changes_nothing(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await automation(client, world.admin.headers, NEW_LEAD_TASK)
        target = await make_lead(client, world.admin.headers, status="contacted")

        response = await client.post(
            f"{API}/automations/{made['id']}/test",
            json={"record_id": target["id"]},
            headers=world.admin.headers,
        )

        assert response.status_code == 200, response.text
        result = response.json()
        assert result["matches"] is False
        assert result["conditions"] == [
            {"field": "status", "op": "eq", "value": "new", "actual": "contacted", "holds": False}
        ]
        assert [a["type"] for a in result["actions"]] == ["add_tag", "create_activity", "notify"]
        assert "tu-dong" in result["actions"][0]["would"]
        assert (await lead(client, world.admin.headers, target["id"]))["tags"] == []
