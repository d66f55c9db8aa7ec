"""Which account a login reaches, which emails are one person's, which passwords are refused."""

import uuid

import httpx
import pytest

from tests.conftest import PASSWORD, World, sign_up

TOKEN = "/api/v1/auth/token"


async def _workspace_of(http: httpx.AsyncClient, login: httpx.Response) -> str:
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    me = await http.get("/api/v1/me", headers=headers)
    return str(me.json()["workspace"]["id"])


class TestOneEmailInSeveralWorkspaces:
    async def test_every_workspace_can_be_reached_and_the_answer_names_it(
        self, client: httpx.AsyncClient
    ) -> None:
        email = f"{uuid.uuid4().hex[:8]}@hai-noi.vn"
        first = (await sign_up(client, "Chi nhánh Hà Nội", email=email))["workspace_id"]
        second = (await sign_up(client, "Chi nhánh Sài Gòn", email=email))["workspace_id"]

        to_first = await client.post(
            TOKEN, data={"username": email, "password": PASSWORD, "workspace": first}
        )
        to_second = await client.post(
            TOKEN, data={"username": email, "password": PASSWORD, "workspace": second}
        )

        assert await _workspace_of(client, to_first) == first
        assert await _workspace_of(client, to_second) == second
        assert to_first.json()["workspace"] == {"id": first, "name": "Chi nhánh Hà Nội"}
        assert to_first.json()["other_workspaces"] == [{"id": second, "name": "Chi nhánh Sài Gòn"}]

    async def test_without_a_workspace_the_one_used_last_is_chosen(
        self, client: httpx.AsyncClient
    ) -> None:
        email = f"{uuid.uuid4().hex[:8]}@hai-noi.vn"
        first = (await sign_up(client, "Kho Bắc", email=email))["workspace_id"]
        second = (await sign_up(client, "Kho Nam", email=email))["workspace_id"]

        await client.post(TOKEN, data={"username": email, "password": PASSWORD, "workspace": first})
        after_first = await client.post(TOKEN, data={"username": email, "password": PASSWORD})
        await client.post(
            TOKEN, data={"username": email, "password": PASSWORD, "workspace": second}
        )
        after_second = await client.post(TOKEN, data={"username": email, "password": PASSWORD})

        assert await _workspace_of(client, after_first) == first
        assert await _workspace_of(client, after_second) == second

    async def test_a_workspace_where_the_email_has_no_account_is_a_wrong_login(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"username": "sales@a.vn", "password": PASSWORD,
                  "workspace": str(world.other_owner.workspace_id)},
        )  # fmt: skip

        assert response.status_code == 401
        assert response.json()["code"] == "wrong_credentials"


class TestEmailsHaveOneForm:
    async def test_an_email_with_a_dotted_capital_i_can_log_in(
        self, client: httpx.AsyncClient
    ) -> None:
        email = f"İstanbul-{uuid.uuid4().hex[:6]}@example.com"
        signup = await client.post(
            "/api/v1/auth/signup",
            json={"workspace_name": "Istanbul", "email": email, "password": PASSWORD,
                  "full_name": "Phạm Hai Nơi"},
        )  # fmt: skip

        login = await client.post(TOKEN, data={"username": email, "password": PASSWORD})

        assert signup.status_code == 201
        assert login.status_code == 200

    async def test_a_full_width_look_alike_is_the_same_user(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        look_alike = "ｏｗｎｅｒ@a.vn"  # full-width letters, NFKC "owner@a.vn"

        added = await client.post(
            "/api/v1/users",
            json={"email": look_alike, "full_name": "Kẻ Giả", "password": PASSWORD},
            headers=world.owner.headers,
        )
        login = await client.post(TOKEN, data={"username": "ＯＷＮＥＲ@A.VN", "password": PASSWORD})

        assert added.status_code == 409
        assert added.json()["code"] == "email_taken"
        assert await _workspace_of(client, login) == str(world.owner.workspace_id)


class TestPasswordPolicy:
    @pytest.mark.parametrize(
        "password",
        [
            "12345678",
            "password",
            "PassWord",
            "matkhau123",
            " " * 8,
            "\u200b" * 8,
            "\u3164" * 8,
            "\t \u00a0\u2060\ufeff   ",
        ],
    )
    async def test_weak_or_blank_passwords_are_refused_naming_the_field(
        self, client: httpx.AsyncClient, password: str
    ) -> None:
        response = await client.post(
            "/api/v1/auth/signup",
            json={"workspace_name": "Yếu", "email": f"{uuid.uuid4().hex[:8]}@yeu.vn",
                  "password": password, "full_name": "A"},
        )  # fmt: skip

        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["password"]

    async def test_the_email_itself_is_not_a_password(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        email = f"{uuid.uuid4().hex[:8]}@mat-khau.vn"

        signup = await client.post(
            "/api/v1/auth/signup",
            json={"workspace_name": "Email", "email": email, "password": email.upper(),
                  "full_name": "A"},
        )  # fmt: skip
        patched = await client.patch(
            f"/api/v1/users/{world.teammate.user_id}",
            json={"password": "teammate@a.vn"},
            headers=world.admin.headers,
        )

        assert signup.status_code == 422
        assert signup.json()["errors"][0]["field"] == "password"
        assert patched.status_code == 422

    async def test_a_long_vietnamese_passphrase_is_fine(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auth/signup",
            json={"workspace_name": "Tốt", "email": f"{uuid.uuid4().hex[:8]}@tot.vn",
                  "password": "mùa thu Hà Nội 2026", "full_name": "A"},
        )  # fmt: skip

        assert response.status_code == 201


class TestResponseHeaders:
    async def test_every_response_says_nosniff(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        for response in (
            await client.get("/healthz"),
            await client.get("/api/v1/leads", headers=world.sales.headers),
            await client.get("/api/v1/nothing-here"),
        ):
            assert response.headers["x-content-type-options"] == "nosniff"

    async def test_tokens_and_signed_in_answers_are_never_cached(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        token = await client.post(TOKEN, data={"username": "sales@a.vn", "password": PASSWORD})
        wrong = await client.post(TOKEN, data={"username": "sales@a.vn", "password": "x" * 9})
        leads = await client.get("/api/v1/leads", headers=world.sales.headers)
        health = await client.get("/healthz")

        assert token.headers["cache-control"] == "no-store"
        assert wrong.headers["cache-control"] == "no-store"
        assert leads.headers["cache-control"] == "no-store"
        assert "cache-control" not in health.headers


async def test_a_refused_password_says_why_in_plain_words(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        json={"workspace_name": "Lý do", "email": f"{uuid.uuid4().hex[:8]}@ly-do.vn",
              "password": "password123", "full_name": "A"},
    )  # fmt: skip

    assert response.json()["errors"] == [
        {
            "field": "password",
            "message": "this password is among the most common ones; choose another",
        }
    ]
