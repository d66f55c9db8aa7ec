"""Activities and record timelines through the HTTP API."""

import httpx

from tests.conftest import World
from tests.factories import make_activity, make_lead

ACTIVITIES = "/api/v1/activities"


class TestActivities:
    async def test_logged_about_a_visible_record_owned_by_you(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)

        activity = await make_activity(
            client, world.sales.headers, related_id=lead["id"], type="meeting",
            due_at="2026-11-25T09:00:00+07:00", duration_minutes=60,
            participants=[str(world.teammate.user_id)],
        )  # fmt: skip

        assert activity["owner_id"] == str(world.sales.user_id)
        assert activity["due_at"] == "2026-11-25T02:00:00Z"
        assert (activity["completed"], activity["completed_at"]) == (False, None)
        assert activity["participants"] == [str(world.teammate.user_id)]

    async def test_a_record_you_cannot_see_or_that_does_not_exist_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        other_team = await make_lead(client, world.outsider.headers)
        other_workspace = await make_lead(client, world.other_owner.headers)

        for related in (
            ("lead", other_team["id"]),
            ("lead", other_workspace["id"]),
            ("deal", other_team["id"]),  # a lead's id is no deal
        ):
            response = await client.post(
                ACTIVITIES,
                json={"type": "note", "subject": "Lạc", "related_type": related[0],
                      "related_id": related[1]},
                headers=world.sales.headers,
            )  # fmt: skip
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "related_id"

    async def test_participants_must_be_active_users_of_the_workspace(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)

        response = await client.post(
            ACTIVITIES,
            json={"type": "meeting", "subject": "Họp", "related_type": "lead",
                  "related_id": lead["id"], "participants": [str(world.other_owner.user_id)]},
            headers=world.sales.headers,
        )  # fmt: skip

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "participants"

    async def test_completing_stamps_completed_at_and_reopening_clears_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)
        task = await make_activity(client, world.sales.headers, related_id=lead["id"], type="task")
        url = f"{ACTIVITIES}/{task['id']}"

        done = await client.patch(
            url, json={"completed": True, "outcome": "Đã gửi báo giá"}, headers=world.sales.headers
        )
        reopened = await client.patch(url, json={"completed": False}, headers=world.sales.headers)

        assert done.json()["completed_at"] is not None
        assert done.json()["outcome"] == "Đã gửi báo giá"
        assert (reopened.json()["completed"], reopened.json()["completed_at"]) == (False, None)

    async def test_filters_by_record_type_completion_and_due_range(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)
        sales, on_lead = world.sales.headers, {"related_id": lead["id"]}
        match = await make_activity(client, sales, **on_lead, due_at="2026-12-01T03:00:00Z")
        await make_activity(client, sales, **on_lead, due_at="2026-12-09T03:00:00Z")
        await make_activity(client, sales, **on_lead, type="email", due_at="2026-12-01T04:00:00Z")
        await make_activity(client, sales, **on_lead, due_at="2026-12-01T05:00:00Z", completed=True)

        page = await client.get(
            ACTIVITIES,
            params={"related_type": "lead", "related_id": lead["id"], "type": "call",
                    "completed": "false", "due_after": "2026-12-01T00:00:00Z",
                    "due_before": "2026-12-02T00:00:00Z"},
            headers=world.sales.headers,
        )  # fmt: skip

        assert [a["id"] for a in page.json()["data"]] == [match["id"]]


class TestTimeline:
    async def test_activities_and_changes_newest_first_paged_without_gaps(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers)
        first = await make_activity(client, world.sales.headers, related_id=lead["id"])
        await client.patch(
            f"/api/v1/leads/{lead['id']}", json={"status": "contacted"}, headers=world.sales.headers
        )
        second = await make_activity(
            client, world.sales.headers, related_id=lead["id"], type="email"
        )
        deleted = await make_activity(
            client, world.sales.headers, related_id=lead["id"], subject="Nhầm"
        )
        await client.delete(f"{ACTIVITIES}/{deleted['id']}", headers=world.sales.headers)

        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await client.get(
                f"/api/v1/leads/{lead['id']}/timeline", params=params, headers=world.sales.headers
            )
            seen += page.json()["data"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break

        kinds = [(e["kind"], e["action"] or e["activity"]["id"]) for e in seen]
        assert kinds == [
            ("activity", second["id"]),
            ("change", "updated"),
            ("activity", first["id"]),
            ("change", "created"),
        ]
        assert seen[1]["changes"]["status"] == {"old": "new", "new": "contacted"}
        assert seen[1]["actor_id"] == str(world.sales.user_id)

    async def test_a_converted_leads_activities_follow_it_to_what_it_became(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        lead = await make_lead(client, world.sales.headers, company_name="Châu Á Logistics")
        call = await make_activity(client, world.sales.headers, related_id=lead["id"])
        done = await client.post(
            f"/api/v1/leads/{lead['id']}/convert", json={"deal": {}}, headers=world.sales.headers
        )

        for kind in ("contact", "account", "deal"):
            record_id = done.json()[kind]["id"]
            page = await client.get(
                f"/api/v1/{kind}s/{record_id}/timeline", headers=world.sales.headers
            )
            activity_ids = [e["activity"]["id"] for e in page.json()["data"] if e["activity"]]
            assert activity_ids == [call["id"]], kind
        lead_page = await client.get(
            f"/api/v1/leads/{lead['id']}/timeline", headers=world.sales.headers
        )
        assert lead_page.json()["data"][0]["action"] == "converted"

    async def test_a_record_you_cannot_see_has_no_timeline_for_you(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = await make_lead(client, world.outsider.headers)

        response = await client.get(
            f"/api/v1/leads/{theirs['id']}/timeline", headers=world.sales.headers
        )

        assert response.status_code == 404
