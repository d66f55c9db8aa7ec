"""Logins under attack: password checks stay off the event loop, cost one argon2 verify
whatever the email matches, and are rate limited per email and per client address.

Speed is compared as ratios within one run (never against a wall clock): a /healthz answered
while wrong logins run, against how long one login takes."""

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from app.core.settings import get_settings
from app.main import create_app
from tests.conftest import PASSWORD, LiveServer, sign_up
from tests.problem_codes import recorded

TOKEN = "/api/v1/auth/token"
SIGNUP = "/api/v1/auth/signup"


async def _timed_login(http: httpx.AsyncClient, email: str, password: str) -> float:
    started = time.perf_counter()
    response = await http.post(TOKEN, data={"username": email, "password": password})
    assert response.status_code == 401, response.text
    return time.perf_counter() - started


class TestPasswordChecksStayOffTheEventLoop:
    async def test_healthz_answers_promptly_while_wrong_logins_run(
        self, live_server: LiveServer
    ) -> None:
        """Against a real server on a socket: its event loop is what a login could block."""
        async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
            email = f"{uuid.uuid4().hex[:8]}@committing-storm.vn"
            await sign_up(http, "committing-storm", email=email)
            one_login = statistics.median(
                [await _timed_login(http, email, "sai-mat-khau") for _ in range(3)]
            )

            storm = [
                asyncio.create_task(_timed_login(http, email, "sai-mat-khau")) for _ in range(6)
            ]
            await asyncio.sleep(0.05)  # the logins are in flight
            probes = []
            while not all(task.done() for task in storm) and len(probes) < 20:
                started = time.perf_counter()
                health = await http.get("/healthz")
                probes.append(time.perf_counter() - started)
                assert health.status_code == 200
            await asyncio.gather(*storm)

        # With argon2 on the server's loop, a probe waits for a whole password check (≈ 1).
        assert len(probes) >= 3, probes
        assert statistics.median(probes) < one_login / 2, (probes, one_login)


class TestOneCheckPerLogin:
    async def test_an_email_in_many_workspaces_costs_what_an_unknown_one_does(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        http = committing_client
        shared = f"{uuid.uuid4().hex[:8]}@committing-shared.vn"
        for n in range(6):  # the attack: one victim's email attached to many workspaces
            await sign_up(http, f"committing-shared-{n}", email=shared)
        unknown = f"{uuid.uuid4().hex[:8]}@nobody.vn"

        rounds = [
            (
                await _timed_login(http, shared, "sai-mat-khau"),
                await _timed_login(http, unknown, "x" * 12),
            )
            for _ in range(4)
        ]
        ratio = statistics.median(s / u for s, u in rounds)

        # Six verifications would make it ≈ 6; one is ≈ 1.
        assert 0.5 < ratio < 2, rounds

    async def test_a_wrong_login_costs_the_same_whether_or_not_the_email_has_an_account(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        http = committing_client
        known = f"{uuid.uuid4().hex[:8]}@committing-timing.vn"
        await sign_up(http, "committing-timing", email=known)

        rounds = [
            (
                await _timed_login(http, known, "sai-mat-khau"),
                await _timed_login(http, f"{uuid.uuid4().hex[:8]}@nobody.vn", "sai-mat-khau"),
            )
            for _ in range(5)
        ]
        ratio = statistics.median(k / u for k, u in rounds)

        assert 0.5 < ratio < 2, rounds


@pytest.fixture
def limits_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "login_attempts_per_email", 3)


class TestFailedLoginsPerEmail:
    @pytest.mark.usefixtures("limits_on")
    async def test_after_too_many_failures_the_email_is_refused_for_a_while(
        self, client: httpx.AsyncClient
    ) -> None:
        email = f"{uuid.uuid4().hex[:8]}@limit.vn"
        await sign_up(client, "Giới hạn", email=email)
        failures = [
            await client.post(TOKEN, data={"username": email, "password": "sai-mat-khau"})
            for _ in range(3)
        ]
        refused = await client.post(TOKEN, data={"username": email.upper(), "password": PASSWORD})
        other = await client.post(TOKEN, data={"username": "sales@a.vn", "password": PASSWORD})

        assert [f.status_code for f in failures] == [401, 401, 401]
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "rate_limited"
        assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
        assert other.status_code == 200  # one email's lockout is not another's

    @pytest.mark.usefixtures("limits_on")
    async def test_successful_logins_are_not_counted(self, client: httpx.AsyncClient) -> None:
        email = f"{uuid.uuid4().hex[:8]}@limit.vn"
        await sign_up(client, "Đăng nhập nhiều", email=email)

        logins = [
            await client.post(TOKEN, data={"username": email, "password": PASSWORD})
            for _ in range(5)
        ]

        assert {r.status_code for r in logins} == {200}

    async def test_zero_turns_the_limit_off(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "login_attempts_per_email", 0)
        email = f"{uuid.uuid4().hex[:8]}@nolimit.vn"

        answers = {
            (await client.post(TOKEN, data={"username": email, "password": "x" * 9})).status_code
            for _ in range(4)
        }

        assert answers == {401}


class TestAuthRequestsPerAddress:
    async def test_signups_and_logins_from_one_address_share_one_limit(
        self, app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "auth_requests_per_ip", 4)
        address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
        transport = httpx.ASGITransport(app=recorded(app), client=(address, 4567))
        elsewhere = httpx.ASGITransport(app=recorded(app), client=("10.255.255.1", 4567))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://sen.test") as office,
            httpx.AsyncClient(transport=elsewhere, base_url="http://sen.test") as other_office,
        ):
            await self._share_one_limit(office, other_office)

    async def _share_one_limit(
        self, client: httpx.AsyncClient, other_office: httpx.AsyncClient
    ) -> None:
        email = f"{uuid.uuid4().hex[:8]}@per-ip.vn"
        signup = await client.post(
            SIGNUP,
            json={"workspace_name": "IP", "email": email, "password": PASSWORD, "full_name": "A"},
        )
        logins = [
            await client.post(TOKEN, data={"username": email, "password": PASSWORD})
            for _ in range(3)
        ]
        refused = await client.post(TOKEN, data={"username": email, "password": PASSWORD})
        another_signup = await client.post(
            SIGNUP,
            json={"workspace_name": "IP2", "email": "b" + email, "password": PASSWORD,
                  "full_name": "B"},
        )  # fmt: skip

        from_elsewhere = await other_office.post(
            TOKEN, data={"username": email, "password": PASSWORD}
        )

        assert signup.status_code == 201
        assert [r.status_code for r in logins] == [200, 200, 200]
        assert refused.status_code == another_signup.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert from_elsewhere.status_code == 200


@pytest_asyncio.fixture
async def app_without_redis(
    database_url: str, committing_client: httpx.AsyncClient
) -> AsyncIterator[FastAPI]:
    """The app with its Redis address pointing where nothing listens (committing_client
    removes the workspaces it makes)."""
    application = create_app(db_url=database_url, queue_url="redis://127.0.0.1:1/0")
    async with application.router.lifespan_context(application):
        yield application


class TestLimitsFailOpen:
    async def test_logins_and_signups_go_on_when_redis_is_down(
        self, app_without_redis: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "auth_requests_per_ip", 1)
        monkeypatch.setattr(get_settings(), "login_attempts_per_email", 1)
        transport = httpx.ASGITransport(app=recorded(app_without_redis), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://sen.test") as http:
            email = f"{uuid.uuid4().hex[:8]}@committing-no-redis.vn"
            signup = await http.post(
                SIGNUP,
                json={"workspace_name": "committing-no-redis", "email": email,
                      "password": PASSWORD, "full_name": "A"},
            )  # fmt: skip
            wrong = [
                await http.post(TOKEN, data={"username": email, "password": "sai-mat-khau"})
                for _ in range(2)
            ]
            right = await http.post(TOKEN, data={"username": email, "password": PASSWORD})

        assert signup.status_code == 201
        assert [w.status_code for w in wrong] == [401, 401]
        assert right.status_code == 200
