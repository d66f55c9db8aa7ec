"""Google Ads lead form webhooks: the form's `google_key` in the body authenticates each post;
columns map by `column_id`; Google's ids are kept; a test lead is stored and makes no lead."""

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.ratelimit import RateLimiter
from tests.conftest import World, settings_changed
from tests.factories import API, make_integration
from tests.intake_harness import leads, statuses
from tests.integrations.platforms import GOOGLE_KEY, Workspace, google_lead

pytestmark = pytest.mark.usefixtures("empty_queue")
CONFIG = {"google_key": GOOGLE_KEY}


async def post_google(http: httpx.AsyncClient, integration_id: str, body: object) -> httpx.Response:
    return await http.post(f"{API}/intake/google/{integration_id}", json=body)


class TestGoogleKey:
    @pytest.mark.parametrize(
        ("key", "status", "code"),
        [(None, 401, "signature_missing"), ("", 401, "signature_missing"),
         ("khoa-sai", 403, "signature_invalid")],
    )  # fmt: skip
    async def test_a_missing_or_wrong_key_stores_nothing(
        self, client: httpx.AsyncClient, world: World, key: str | None, status: int, code: str
    ) -> None:
        made = await make_integration(client, world.admin.headers, provider="google", config=CONFIG)
        body = google_lead("G-1", FULL_NAME="Ánh")
        if key is None:
            del body["google_key"]
        else:
            body["google_key"] = key

        response = await post_google(client, made["id"], body)

        assert response.status_code == status
        assert response.json()["code"] == code
        assert await statuses(client, world.admin.headers, integration_id=made["id"]) == []

    async def test_the_right_key_is_a_200_once_stored_and_the_key_is_not_kept(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers, provider="google", config=CONFIG)

        response = await post_google(client, made["id"], google_lead("G-2", FULL_NAME="Ánh"))

        assert response.status_code == 200, response.text
        (stored,) = await statuses(client, world.admin.headers, integration_id=made["id"])
        assert stored["id"] == response.json()["submission_ids"][0]
        assert (stored["external_id"], stored["status"]) == ("G-2", "received")
        payload = stored["payload"]
        assert (payload["lead_id"], payload["campaign_id"], payload["form_id"]) == (
            "G-2",
            20000000001,
            40000000001,
        )
        assert payload["gcl_id"] == "EAIaIQobChMI-gclid"
        assert "google_key" not in payload
        assert GOOGLE_KEY not in response.text

    async def test_a_redelivered_lead_id_is_one_submission(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers, provider="google", config=CONFIG)

        answers = [await post_google(client, made["id"], google_lead("G-3")) for _ in range(3)]

        assert [a.status_code for a in answers] == [200, 200, 200]
        assert len({a.json()["submission_ids"][0] for a in answers}) == 1
        assert [a.json()["redelivered"] for a in answers] == [0, 1, 1]

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"google_key": GOOGLE_KEY, "user_column_data": "Ánh"}, 422),
            ({"google_key": GOOGLE_KEY, "user_column_data": [{"string_value": "A" * 100_000}]},
             422),
            (["google_key", GOOGLE_KEY], 401),
        ],
    )  # fmt: skip
    async def test_a_malformed_lead_is_refused_clearly(
        self, client: httpx.AsyncClient, world: World, body: object, status: int
    ) -> None:
        made = await make_integration(client, world.admin.headers, provider="google", config=CONFIG)

        response = await post_google(client, made["id"], body)

        assert response.status_code == status
        assert await statuses(client, world.admin.headers, integration_id=made["id"]) == []


class TestGoogleLeads:
    async def test_columns_map_by_id_and_the_click_id_is_kept(self, workspace: Workspace) -> None:
        made = await workspace.integration(provider="google", config=CONFIG)
        body = google_lead(
            "G-10",
            FIRST_NAME="Ánh",
            LAST_NAME="Nguyễn Văn",
            EMAIL="anh@minhphat.vn",
            PHONE_NUMBER="0912 345 678",
            CITY="Đà Nẵng",
            COMPANY_NAME="Minh Phát",
            JOB_TITLE="Trưởng phòng",
            what_is_your_budget="2 tỷ",
        )

        done = await workspace.settle(await post_google(workspace.http, made["id"], body))

        assert done["status"] == "processed", done["error"]
        lead = await workspace.lead(done["lead_id"])
        assert (lead["full_name"], lead["email"], lead["phone_e164"]) == (
            "Nguyễn Văn Ánh",
            "anh@minhphat.vn",
            "+84912345678",
        )
        assert (lead["province"], lead["company_name"], lead["title"]) == (
            "Đà Nẵng",
            "Minh Phát",
            "Trưởng phòng",
        )
        assert (lead["source"], lead["gclid"]) == ("google_ads", "EAIaIQobChMI-gclid")
        assert lead["notes"] == "What Is Your Budget: 2 tỷ"

    async def test_a_test_lead_is_stored_as_test_and_makes_no_lead(
        self, workspace: Workspace
    ) -> None:
        made = await workspace.integration(provider="google", config=CONFIG)
        body = {**google_lead("G-TEST", FULL_NAME="Khách thử"), "is_test": True}

        tested = await post_google(workspace.http, made["id"], body)
        await workspace.settle(
            await post_google(workspace.http, made["id"], google_lead("G-11", FULL_NAME="Thật"))
        )

        assert tested.status_code == 200
        found = {s["external_id"]: s for s in await statuses(workspace.http, workspace.headers)}
        assert (found["G-TEST"]["status"], found["G-TEST"]["lead_id"]) == ("test", None)
        made_leads = await leads(workspace.http, workspace.headers)
        assert [lead["full_name"] for lead in made_leads] == ["Thật"]
        replayed = await workspace.http.post(
            f"{API}/intake/submissions/{found['G-TEST']['id']}/replay", headers=workspace.headers
        )
        assert replayed.status_code == 409  # a test lead never becomes a real one
        assert replayed.json()["code"] == "submission_is_test"


@pytest.fixture
def webhooks_per_minute() -> Iterator[None]:
    with settings_changed(intake_webhooks_per_minute=2):
        yield


@pytest.mark.usefixtures("webhooks_per_minute")
class TestRateLimit:
    async def test_one_address_calling_one_integration_too_often_gets_a_429(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_integration(client, world.admin.headers, provider="google", config=CONFIG)
        other = await make_integration(
            client, world.admin.headers, provider="google", config=CONFIG
        )
        for n in range(2):
            await post_google(client, made["id"], google_lead(f"G-R{n}"))

        refused = await post_google(client, made["id"], google_lead("G-R2"))
        elsewhere = await post_google(client, other["id"], google_lead("G-R3"))

        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert elsewhere.status_code == 200  # the limit is per integration

    async def test_with_redis_unreachable_the_limit_lets_leads_through(
        self, client: httpx.AsyncClient, world: World, app: FastAPI
    ) -> None:
        made = await make_integration(client, world.admin.headers, provider="google", config=CONFIG)
        working = app.state.rate_limiter
        app.state.rate_limiter = RateLimiter("redis://127.0.0.1:9/0")  # nothing listens there
        try:
            answers = [
                await post_google(client, made["id"], google_lead(f"G-U{n}")) for n in range(4)
            ]
        finally:
            await app.state.rate_limiter.aclose()
            app.state.rate_limiter = working

        assert [a.status_code for a in answers] == [200] * 4
