"""Agendas as JSON, and the iCalendar feed a calendar app subscribes to."""

import httpx

from tests.conftest import World
from tests.factories import bearer, make_activity, make_api_key

MEETING = {"type": "meeting", "subject": "Gặp anh Hùng"}


class TestAgenda:
    async def test_what_you_own_or_attend_in_the_range_by_due_time(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        mine, theirs = world.sales.headers, world.teammate.headers
        later = await make_activity(client, mine, **MEETING, due_at="2026-12-03T09:00:00+07:00")
        earlier = await make_activity(client, mine, **MEETING, due_at="2026-12-01T09:00:00+07:00")
        invited = await make_activity(
            client, theirs, **MEETING, due_at="2026-12-02T09:00:00+07:00",
            participants=[str(world.sales.user_id)],
        )  # fmt: skip
        # Not on the agenda: one of mine out of the range, one in it that is not mine.
        await make_activity(client, mine, **MEETING, due_at="2026-12-20T09:00:00+07:00")
        await make_activity(client, theirs, **MEETING, due_at="2026-12-02T10:00:00+07:00")

        agenda = await client.get(
            "/api/v1/calendar",
            params={"from": "2026-12-01T00:00:00+07:00", "to": "2026-12-08T00:00:00+07:00"},
            headers=world.sales.headers,
        )

        ids = [a["id"] for a in agenda.json()["data"]]
        assert ids == [earlier["id"], invited["id"], later["id"]]

    async def test_another_teams_agenda_shows_only_what_you_may_see(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        await make_activity(
            client, world.outsider.headers, **MEETING, due_at="2026-12-02T09:00:00+07:00"
        )

        agenda = await client.get(
            "/api/v1/calendar",
            params={"from": "2026-12-01T00:00:00Z", "to": "2026-12-08T00:00:00Z",
                    "owner_id": str(world.outsider.user_id)},
            headers=world.sales.headers,
        )  # fmt: skip

        assert agenda.json()["data"] == []

    async def test_an_empty_or_too_long_range_is_422(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for start, end in (("2026-12-08T00:00:00Z", "2026-12-01T00:00:00Z"),
                           ("2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z")):  # fmt: skip
            response = await client.get(
                "/api/v1/calendar", params={"from": start, "to": end}, headers=world.sales.headers
            )
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "to"


class TestFeed:
    async def test_a_calendar_app_reads_your_agenda_with_the_feed_token(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        from datetime import UTC, datetime, timedelta

        due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        meeting = await make_activity(
            client, world.sales.headers, type="meeting", due_at=due.isoformat(),
            subject="Ký hợp đồng, bàn giao xe", duration_minutes=90,
            body="Mang theo giấy tờ; hồ sơ xe",
        )  # fmt: skip
        issued = await client.post("/api/v1/me/calendar-token", headers=world.sales.headers)
        token = issued.json()["token"]

        feed = await client.get("/api/v1/calendar.ics", params={"token": token})

        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("text/calendar")
        assert issued.json()["feed_url"].endswith(f"/api/v1/calendar.ics?token={token}")
        text = feed.text.replace("\r\n ", "")  # unfold
        assert f"UID:{meeting['id']}@" in text
        assert f"DTSTART:{due.strftime('%Y%m%dT%H%M%SZ')}" in text
        assert f"DTEND:{(due + timedelta(minutes=90)).strftime('%Y%m%dT%H%M%SZ')}" in text
        assert "SUMMARY:Ký hợp đồng\\, bàn giao xe" in text
        assert "DESCRIPTION:Mang theo giấy tờ\\; hồ sơ xe" in text
        assert all(len(line.encode()) <= 75 for line in feed.text.split("\r\n"))

    async def test_a_bare_carriage_return_cannot_start_a_line_of_its_own(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        from datetime import UTC, datetime, timedelta

        due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        await make_activity(
            client, world.sales.headers, type="meeting", due_at=due,
            subject="Họp\rBEGIN:VEVENT\rSUMMARY:Giả",
        )  # fmt: skip
        token = await client.post("/api/v1/me/calendar-token", headers=world.sales.headers)

        feed = await client.get("/api/v1/calendar.ics", params={"token": token.json()["token"]})

        assert "\r" not in feed.text.replace("\r\n", "")
        lines = feed.text.split("\r\n")
        assert [line for line in lines if line.startswith("BEGIN:VEVENT")] == ["BEGIN:VEVENT"]

    async def test_a_replaced_or_made_up_token_is_401(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        old = (await client.post("/api/v1/me/calendar-token", headers=world.sales.headers)).json()
        await client.post("/api/v1/me/calendar-token", headers=world.sales.headers)

        replaced = await client.get("/api/v1/calendar.ics", params={"token": old["token"]})
        made_up = await client.get("/api/v1/calendar.ics", params={"token": "cal_000000000000_x"})

        assert replaced.status_code == 401
        assert made_up.status_code == 401
        assert made_up.headers["content-type"] == "application/problem+json"

    async def test_an_api_key_cannot_issue_a_feed_token(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        key = await make_api_key(client, world.sales.headers)

        response = await client.post("/api/v1/me/calendar-token", headers=bearer(key["key"]))

        assert response.status_code == 403
