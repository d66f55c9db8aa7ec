"""The public form endpoint: a website's post is stored before it is answered 202 (or a 303 to
the form's redirect), bad input is a 4xx naming the field, CORS answers only the form's own
origins, the honeypot catches bots, and one client can't flood a form."""

import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.ratelimit import RateLimiter
from tests.conftest import World, settings_changed
from tests.factories import API, make_form, submit_form

SITE = "https://minhphat.vn"


async def submissions(http: httpx.AsyncClient, headers: dict[str, str], **query: str) -> list:
    response = await http.get(f"{API}/intake/submissions", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


def post(http: httpx.AsyncClient, key: str, **kwargs: object) -> object:
    return http.post(f"{API}/intake/forms/{key}", **kwargs)  # type: ignore[arg-type]


class TestAcceptedPosts:
    async def test_a_json_post_is_stored_with_its_tracking_before_the_202(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        response = await client.post(
            f"{API}/intake/forms/{form['key']}?utm_source=facebook&utm_campaign=tet-2027",
            json={"full_name": "Nguyễn Văn Ánh", "phone": "0912 345 678", "gclid": "G-123"},
            headers={"User-Agent": "Mozilla/5.0 (iPhone)"},
        )

        assert response.status_code == 202
        stored = await submissions(client, world.sales.headers, form_id=form["id"])
        assert [s["id"] for s in stored] == [response.json()["submission_id"]]
        assert stored[0]["status"] == "received"
        assert stored[0]["payload"] == {"full_name": "Nguyễn Văn Ánh", "phone": "0912 345 678"}
        assert stored[0]["context"]["tracking"] == {
            "utm_source": "facebook",
            "utm_campaign": "tet-2027",
            "gclid": "G-123",
        }
        assert stored[0]["context"]["user_agent"] == "Mozilla/5.0 (iPhone)"

    async def test_a_browser_form_post_goes_on_to_the_redirect(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers, redirect_url=f"{SITE}/cam-on")

        response = await client.post(
            f"{API}/intake/forms/{form['key']}",
            data={"full_name": "Lê Văn Tám", "phone": "0987654321", "model": "Vios"},
        )

        assert response.status_code == 303
        assert response.headers["location"] == f"{SITE}/cam-on"
        stored = await submissions(client, world.admin.headers, form_id=form["id"])
        assert stored[0]["payload"]["model"] == "Vios"

    async def test_a_multipart_post_is_taken_too(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        response = await client.post(
            f"{API}/intake/forms/{form['key']}",
            files={"full_name": (None, "Phạm Thu"), "phone": (None, "0901 234 567")},
        )

        assert response.status_code == 202, response.text

    async def test_script_in_a_field_is_stored_as_the_text_it_is(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        await submit_form(client, form["key"], full_name="<script>alert(1)</script>")

        stored = await submissions(client, world.admin.headers, form_id=form["id"])
        assert stored[0]["payload"]["full_name"] == "<script>alert(1)</script>"

    async def test_a_filled_honeypot_is_stored_as_spam_and_answered_like_any_post(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        accepted = await submit_form(client, form["key"], _gotcha="http://spam.example")

        stored = await submissions(client, world.admin.headers, status="spam")
        assert accepted["submission_id"] in [s["id"] for s in stored]

    async def test_a_post_lands_in_the_forms_workspace_only(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        theirs = await make_form(client, world.other_owner.headers)

        accepted = await submit_form(client, theirs["key"])

        mine = await submissions(client, world.owner.headers)
        their_log = await submissions(client, world.other_owner.headers)
        assert accepted["submission_id"] not in [s["id"] for s in mine]
        assert accepted["submission_id"] in [s["id"] for s in their_log]


class TestRefusedPosts:
    async def test_a_required_field_missing_is_a_422_naming_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        response = await client.post(f"{API}/intake/forms/{form['key']}", json={"full_name": "Ánh"})

        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == ["phone"]

    async def test_a_malformed_email_is_a_422_naming_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        response = await client.post(
            f"{API}/intake/forms/{form['key']}",
            json={"full_name": "Ánh", "phone": "0912345678", "email": "anh@"},
        )

        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["email"]

    async def test_a_choice_the_form_does_not_offer(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        response = await client.post(
            f"{API}/intake/forms/{form['key']}",
            json={"full_name": "Ánh", "phone": "0912345678", "model": "Lamborghini"},
        )

        assert [e["field"] for e in response.json()["errors"]] == ["model"]

    async def test_a_nul_in_the_query_string_is_dropped_not_a_500(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)

        response = await client.post(
            f"{API}/intake/forms/{form['key']}?utm_source=zalo%00x&utm_medium=%00",
            json={"full_name": "Ánh", "phone": "0912345678"},
        )

        assert response.status_code == 202
        stored = await submissions(client, world.admin.headers, form_id=form["id"])
        assert stored[0]["context"]["tracking"] == {"utm_source": "zalox"}

    @pytest.mark.parametrize("key", ["%00", "a%00" * 10, "x" * 100])
    async def test_a_key_no_form_could_have_is_a_404_everywhere(
        self, client: httpx.AsyncClient, key: str
    ) -> None:
        posted = await client.post(f"{API}/intake/forms/{key}", json={"full_name": "Ánh"})
        page = await client.get(f"/f/{key}")
        preflight = await client.options(
            f"{API}/intake/forms/{key}",
            headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
        )

        assert (posted.status_code, page.status_code) == (404, 404)
        assert preflight.status_code == 204
        assert "access-control-allow-origin" not in preflight.headers

    async def test_an_unknown_key_is_a_404(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            f"{API}/intake/forms/khong-co-form-nay", json={"full_name": "Ánh"}
        )

        assert response.status_code == 404
        assert response.json()["code"] == "form_not_found"

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            (b'{"full_name": "\xff\xfe"}', "application/json"),  # not UTF-8
            (b"[1, 2]", "application/json"),  # not an object
            (b"[" * 5000 + b"]" * 5000, "application/json"),  # nested past any sane depth
            (b"<lead/>", "application/xml"),
        ],
    )
    async def test_a_body_that_is_not_a_form_is_a_400(
        self, client: httpx.AsyncClient, world: World, body: bytes, content_type: str
    ) -> None:
        form = await make_form(client, world.admin.headers)

        response = await client.post(
            f"{API}/intake/forms/{form['key']}",
            content=body,
            headers={"Content-Type": content_type},
        )

        assert response.status_code == 400
        assert response.json()["code"] == "bad_request"

    async def test_nested_values_and_nul_are_422s(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)
        path = f"{API}/intake/forms/{form['key']}"

        nested = await client.post(path, json={"full_name": {"a": {"b": 1}}, "phone": "1"})
        nul = await client.post(path, json={"full_name": "A\u0000", "phone": "0912345678"})

        assert nested.status_code == 422
        assert nul.status_code == 422

    async def test_a_100_kb_field_is_a_422_and_a_10_mb_body_a_413(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)
        path = f"{API}/intake/forms/{form['key']}"

        long_field = await client.post(
            path, json={"full_name": "A" * 100_000, "phone": "0912345678"}
        )
        huge = await client.post(
            path,
            content=json.dumps({"full_name": "A" * 10_000_000}),
            headers={"Content-Type": "application/json"},
        )

        assert long_field.status_code == 422
        assert [e["field"] for e in long_field.json()["errors"]] == ["full_name"]
        assert huge.status_code == 413
        assert await submissions(client, world.admin.headers, form_id=form["id"]) == []


class TestCors:
    async def test_a_preflight_from_an_allowed_origin_is_answered_for_that_origin_only(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers, allowed_origins=[SITE])
        preflight = {"Access-Control-Request-Method": "POST"}

        allowed = await client.options(
            f"{API}/intake/forms/{form['key']}", headers={"Origin": SITE, **preflight}
        )
        other = await client.options(
            f"{API}/intake/forms/{form['key']}",
            headers={"Origin": "https://doi-thu.vn", **preflight},
        )

        assert allowed.headers["access-control-allow-origin"] == SITE
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "access-control-allow-origin" not in other.headers

    async def test_a_post_answers_cors_for_its_forms_origins_and_never_star(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers, allowed_origins=[SITE])
        body = {"full_name": "Ánh", "phone": "0912345678"}
        path = f"{API}/intake/forms/{form['key']}"

        allowed = await client.post(path, json=body, headers={"Origin": SITE})
        refused = await client.post(path, json={"full_name": "Ánh"}, headers={"Origin": SITE})
        other = await client.post(path, json=body, headers={"Origin": "https://doi-thu.vn"})

        assert allowed.headers["access-control-allow-origin"] == SITE
        assert refused.status_code == 422  # readable by the page's script, to show the field
        assert refused.headers["access-control-allow-origin"] == SITE
        assert "access-control-allow-origin" not in other.headers


@pytest.fixture
def posts_per_minute() -> Iterator[None]:
    with settings_changed(intake_posts_per_minute=3):
        yield


class TestRateLimit:
    @pytest.mark.usefixtures("posts_per_minute")
    async def test_a_client_posting_too_often_to_a_form_gets_a_429_with_retry_after(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)
        other_form = await make_form(client, world.admin.headers)
        for _ in range(3):
            await submit_form(client, form["key"])

        refused = await client.post(
            f"{API}/intake/forms/{form['key']}", json={"full_name": "A", "phone": "0912345678"}
        )
        elsewhere = await submit_form(client, other_form["key"])

        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert elsewhere["submission_id"]  # the limit is per form

    async def test_an_address_guessing_keys_is_refused_before_the_database(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        form = await make_form(client, world.admin.headers)
        with settings_changed(intake_unknown_keys_per_minute=3):
            guesses = [
                await client.post(f"{API}/intake/forms/{'k' * 31}{i}", json={"a": "b"})
                for i in range(4)
            ]
            page = await client.get(f"/f/{'k' * 32}")
            real = await client.post(
                f"{API}/intake/forms/{form['key']}", json={"full_name": "A", "phone": "0912345678"}
            )

        assert [g.status_code for g in guesses] == [404, 404, 404, 429]
        assert int(guesses[-1].headers["retry-after"]) >= 1
        assert page.status_code == 429
        assert real.status_code == 429  # the address is held back, whatever key it tries

    @pytest.mark.usefixtures("posts_per_minute")
    async def test_with_redis_unreachable_the_limit_lets_posts_through(
        self, client: httpx.AsyncClient, world: World, app: FastAPI
    ) -> None:
        form = await make_form(client, world.admin.headers)
        working = app.state.rate_limiter
        app.state.rate_limiter = RateLimiter("redis://127.0.0.1:9/0")  # nothing listens there
        try:
            accepted = [await submit_form(client, form["key"]) for _ in range(5)]
        finally:
            await app.state.rate_limiter.aclose()
            app.state.rate_limiter = working

        assert len({a["submission_id"] for a in accepted}) == 5
