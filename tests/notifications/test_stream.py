"""`GET /notifications/stream` over real sockets (uvicorn; httpx's ASGI transport would buffer
the endless response): notifications made by a real worker arrive live on their user's streams
only, from any API process; a reconnect with Last-Event-ID gets exactly what it missed."""

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.db import libpq_url
from app.main import create_app
from app.notifications import service as notifications_service
from tests.conftest import PASSWORD, LiveServer, serving, sign_up, without_worker
from tests.factories import API, log_in, make_form, make_member, submit_form
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")

STREAM = f"{API}/notifications/stream"
WAIT = 20  # seconds before a test that waits for an event fails instead of hanging


@dataclass
class Event:
    event: str | None = None
    id: str | None = None
    data: str | None = None
    comment: str | None = None


class Stream:
    """An open event stream, read one event (or comment) at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next_event(self) -> Event:
        event = Event()
        async with asyncio.timeout(WAIT):
            async for line in self._lines:
                if line == "":
                    if event != Event():
                        return event
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    event.comment = value
                elif name in ("event", "id"):
                    setattr(event, name, value)
                elif name == "data":
                    event.data = value if event.data is None else f"{event.data}\n{value}"
        raise AssertionError("the stream ended")

    async def lines_until_it_ends(self) -> list[str]:
        """Every line but heartbeats and blanks, until the server ends the stream."""
        async with asyncio.timeout(WAIT):
            return [line async for line in self._lines if line and not line.startswith(":")]

    async def next_notification(self) -> dict[str, Any]:
        """The next notification, heartbeats skipped."""
        async with asyncio.timeout(WAIT):
            event = await self.next_event()
            while event.comment is not None:
                event = await self.next_event()
        assert event.event == "notification"
        assert event.data is not None
        notification: dict[str, Any] = json.loads(event.data)
        assert event.id == notification["id"]
        return notification


@asynccontextmanager
async def stream(url: str, headers: dict[str, str], **params: str) -> AsyncIterator[Stream]:
    """A stream open on the server at `url` (its 200 answered: it is listening)."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=WAIT) as http,
        http.stream("GET", STREAM, headers=headers, params=params) as response,
    ):
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


async def refused(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    """An answer that must not be a stream (read in stream mode: were it one, the test fails
    instead of reading forever)."""
    async with http.stream("GET", STREAM, headers=headers) as response:
        assert response.status_code != 200
        await response.aread()
        return response


@pytest.fixture
async def live(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=WAIT) as http:
        yield http


@pytest.fixture(scope="module")
def other_server(database_url: str, redis_url: str) -> Iterator[str]:
    """A second API process on its own port, with its own listener and a short heartbeat."""
    settings = without_worker().model_copy(update={"notification_heartbeat_seconds": 0.2})
    with serving(create_app(settings, db_url=database_url, queue_url=redis_url)) as url:
        yield url


@dataclass
class Workspace:
    """A fresh workspace on the live server: its owner, a sales member, and a web form whose
    leads go to whoever `lead_for` names."""

    http: httpx.AsyncClient
    owner: dict[str, Any]
    member: dict[str, Any]

    async def lead_for(self, user: dict[str, Any]) -> None:
        """A visitor's form post that the worker turns into a lead for `user`, who is told."""
        form = await make_form(self.http, self.owner["headers"], default_owner_id=user["user_id"])
        phone = f"0912{random.randrange(10**6):06d}"
        await submit_form(self.http, form["key"], phone=phone, email=f"{phone}@khach.vn")

    async def inbox(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.http.get(f"{API}/notifications", headers=user["headers"])
        assert response.status_code == 200, response.text
        return response.json()["data"]  # type: ignore[no-any-return]


async def workspace(http: httpx.AsyncClient) -> Workspace:
    owner = await sign_up(http, "committing-stream")
    member = await make_member(http, owner["headers"])
    member["user_id"] = member["id"]
    return Workspace(http, owner, member)


class TestLiveDelivery:
    async def test_a_notification_made_after_the_stream_opened_arrives_on_it(
        self, live: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        ws = await workspace(live)

        async with (
            stream(str(live.base_url), ws.owner["headers"]) as owners,
            running_worker(database_url, redis_url),
        ):
            await ws.lead_for(ws.owner)
            notification = await owners.next_notification()

        assert notification["kind"] == "lead_assigned"
        assert notification["title"].startswith("Lead mới: Trần Thị Bích")
        assert [n["id"] for n in await ws.inbox(ws.owner)] == [notification["id"]]

    async def test_each_user_hears_only_of_their_own(
        self, live: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        ws = await workspace(live)
        stranger = await workspace(live)

        async with (
            stream(str(live.base_url), ws.owner["headers"]) as owners,
            stream(str(live.base_url), ws.member["headers"]) as members,
            stream(str(live.base_url), stranger.owner["headers"]) as strangers,
            running_worker(database_url, redis_url),
        ):
            await ws.lead_for(ws.owner)
            first_for_owner = await owners.next_notification()
            await ws.lead_for(ws.member)
            # Had the owner's reached the member (or the stranger), it would come first.
            first_for_member = await members.next_notification()
            await stranger.lead_for(stranger.owner)
            first_for_stranger = await strangers.next_notification()
            await ws.lead_for(ws.owner)
            second_for_owner = await owners.next_notification()

        assert first_for_member["id"] == (await ws.inbox(ws.member))[0]["id"]
        assert first_for_stranger["id"] == (await stranger.inbox(stranger.owner))[0]["id"]
        owners_inbox = {n["id"] for n in await ws.inbox(ws.owner)}
        assert {first_for_owner["id"], second_for_owner["id"]} == owners_inbox
        assert first_for_owner["id"] != second_for_owner["id"]

    async def test_a_notification_reaches_streams_served_by_every_api_process(
        self, live: httpx.AsyncClient, other_server: str, database_url: str, redis_url: str
    ) -> None:
        ws = await workspace(live)

        async with (
            stream(other_server, ws.owner["headers"]) as on_other,
            stream(str(live.base_url), ws.owner["headers"]) as on_live,
            running_worker(database_url, redis_url),
        ):
            await ws.lead_for(ws.owner)  # posted to the live server, written by the worker
            from_other = await on_other.next_notification()
            from_live = await on_live.next_notification()

        assert from_other == from_live
        assert from_other["id"] == (await ws.inbox(ws.owner))[0]["id"]


class TestResume:
    async def test_last_event_id_replays_exactly_what_was_missed_then_goes_live(
        self, live: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        ws = await workspace(live)
        url, headers = str(live.base_url), ws.owner["headers"]

        async with running_worker(database_url, redis_url):
            async with stream(url, headers) as first:
                await ws.lead_for(ws.owner)
                seen = await first.next_notification()
            await ws.lead_for(ws.owner)
            await ws.lead_for(ws.owner)

            async def both_missed_are_in() -> bool:
                return len(await ws.inbox(ws.owner)) == 3

            assert await eventually(both_missed_are_in, WAIT)
            missed = sorted(n["id"] for n in await ws.inbox(ws.owner) if n["id"] != seen["id"])

            async with stream(url, headers | {"Last-Event-ID": seen["id"]}) as resumed:
                replayed = [await resumed.next_notification() for _ in missed]
                await ws.lead_for(ws.owner)
                live_one = await resumed.next_notification()

        assert [n["id"] for n in replayed] == missed  # oldest first, the seen one not again
        assert live_one["id"] not in {seen["id"], *missed}

    async def test_the_query_parameter_resumes_as_the_header_does(
        self, live: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        ws = await workspace(live)
        async with running_worker(database_url, redis_url):
            await ws.lead_for(ws.owner)
            await ws.lead_for(ws.owner)

            async def both_in() -> bool:
                return len(await ws.inbox(ws.owner)) == 2

            assert await eventually(both_in, WAIT)
        older, newer = sorted(n["id"] for n in await ws.inbox(ws.owner))

        async with stream(str(live.base_url), ws.owner["headers"], last_event_id=older) as s:
            replayed = await s.next_notification()

        assert replayed["id"] == newer


class TestDatabaseDrops:
    async def test_a_notification_made_while_the_listener_was_cut_off_still_arrives(
        self, live: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        ws = await workspace(live)
        async with stream(str(live.base_url), ws.owner["headers"]) as owners:
            admin = await asyncpg.connect(libpq_url(database_url))
            try:  # what a database restart or a network cut does to every API process
                cut = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = $1 AND datname = current_database()",
                    f"sen-live:{notifications_service.CHANNEL}",
                )
            finally:
                await admin.close()
            async with running_worker(database_url, redis_url):
                await ws.lead_for(ws.owner)
                notification = await owners.next_notification()

        assert cut >= 1
        assert notification["id"] == (await ws.inbox(ws.owner))[0]["id"]


class TestSignedOut:
    async def test_a_stream_whose_credential_was_revoked_ends_without_sending(
        self, live: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        ws = await workspace(live)
        other_device = await log_in(live, ws.member["email"])
        async with stream(str(live.base_url), ws.member["headers"]) as members:
            changed = await live.post(
                f"{API}/auth/password",
                json={"current_password": PASSWORD, "new_password": "mật-khẩu-mới-789"},
                headers=other_device,
            )  # signs the member out everywhere but `other_device`
            assert changed.status_code == 204, changed.text
            async with running_worker(database_url, redis_url):
                await ws.lead_for(ws.member)
                sent = await members.lines_until_it_ends()

        assert sent == []
        inbox = await live.get(f"{API}/notifications", headers=other_device)
        assert [n["kind"] for n in inbox.json()["data"]] == ["lead_assigned"]


class TestConnection:
    async def test_a_heartbeat_comment_keeps_an_idle_stream_alive(
        self, live: httpx.AsyncClient, other_server: str
    ) -> None:
        ws = await workspace(live)

        async with stream(other_server, ws.owner["headers"]) as idle:
            event = await idle.next_event()

        assert event == Event(comment="ping")

    async def test_without_a_token_it_is_401(self, live: httpx.AsyncClient) -> None:
        response = await refused(live, {})

        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"

    async def test_a_malformed_last_event_id_is_422(self, live: httpx.AsyncClient) -> None:
        ws = await workspace(live)

        response = await refused(live, ws.owner["headers"] | {"Last-Event-ID": "x"})

        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"

    async def test_a_user_may_hold_five_streams_the_sixth_is_429_until_one_closes(
        self, live: httpx.AsyncClient
    ) -> None:
        ws = await workspace(live)
        url, headers = str(live.base_url), ws.owner["headers"]

        async with AsyncExitStack() as open_streams:
            for _ in range(5):
                await open_streams.enter_async_context(stream(url, headers))
            sixth = await refused(live, headers)
            assert sixth.status_code == 429
            assert sixth.json()["code"] == "too_many_streams"
            assert int(sixth.headers["Retry-After"]) >= 1
            async with stream(url, ws.member["headers"]):
                pass  # another user of the workspace is not counted against the owner

        async def reopens() -> bool:
            async with AsyncExitStack() as again:
                http = await again.enter_async_context(httpx.AsyncClient(base_url=url))
                for _ in range(5):
                    response = await again.enter_async_context(
                        http.stream("GET", STREAM, headers=headers)
                    )
                    if response.status_code != 200:
                        return False
                return True

        assert await eventually(reopens, WAIT)  # closed streams free their places
