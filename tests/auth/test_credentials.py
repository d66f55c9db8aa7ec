"""No credential mints a stronger one; revocation sticks; every token claim is checked."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from app.core.settings import get_settings
from tests.conftest import PASSWORD, World, sign_up
from tests.factories import bearer, log_in, make_api_key, make_member

NEW_PASSWORD = "mật-khẩu-mới-dài-789"
# Operations a credential is made, changed or revoked through, whatever their body says.
CREDENTIAL_OPERATIONS = {
    ("post", "/api/v1/api-keys"),
    ("delete", "/api/v1/api-keys/{key_id}"),
    ("post", "/api/v1/me/calendar-token"),
    ("post", "/api/v1/users/{user_id}/invitation"),
    ("post", "/api/v1/auth/password"),
}
# A password anywhere is a credential; an email or a role is one on a user (a lead's email is not).
SECRET_FIELDS = {"password", "new_password"}
IDENTITY_FIELDS = {"email", "role"}


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                continue  # public: sign-up, login, invitations take no bearer
            found.append((method, path, operation))
    return found


def _body(app: FastAPI, operation: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    """The JSON body's fields, and its example cut down to the required ones."""
    media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = media.get("schema", {})
    if "$ref" in schema:
        schema = app.openapi()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    example = media.get("example", {})
    required = {name: example[name] for name in schema.get("required", []) if name in example}
    return set(schema.get("properties", {})), required


class TestApiKeysMintNothing:
    async def test_every_route_that_takes_a_credential_field_refuses_an_api_key(
        self, app: FastAPI, client: httpx.AsyncClient, world: World
    ) -> None:
        """Walks the whole spec: wherever a body can carry a password, email or role, or an
        operation makes or revokes a credential, the owner's own API key gets a 403."""
        key = bearer((await make_api_key(client, world.owner.headers))["key"])
        target = str(world.sales.user_id)
        values = {
            "password": NEW_PASSWORD,
            "new_password": NEW_PASSWORD,
            "email": f"{uuid.uuid4().hex[:8]}@cua-sau.vn",
            "role": "admin",
        }
        checked = []
        for method, path, operation in _operations(app):
            fields, required = _body(app, operation)
            on_users = "users" in operation.get("tags", [])
            fields &= SECRET_FIELDS | (IDENTITY_FIELDS if on_users else set())
            if (method, path) == ("post", "/api/v1/users"):
                fields -= {"email"}  # an invitation names an email: allowed (tested below)
            if not fields and (method, path) not in CREDENTIAL_OPERATIONS:
                continue
            url = path.replace("{user_id}", target).replace("{key_id}", str(uuid.uuid4()))
            bodies = [{**required, f: values[f]} for f in sorted(fields)] or [required]
            for body in bodies:
                response = await client.request(method, url, json=body, headers=key)
                assert response.status_code == 403, (method, path, body, response.text)
                assert response.json()["code"] == "api_key_not_allowed"
                checked.append((method, path, *body))

        # The walk found the routes it is about (and would find new ones).
        assert {
            ("patch", "/api/v1/users/{user_id}", "password"),
            ("patch", "/api/v1/users/{user_id}", "email"),
            ("patch", "/api/v1/users/{user_id}", "role"),
            ("post", "/api/v1/users", "email", "full_name", "role"),
            ("post", "/api/v1/users", "email", "full_name", "password"),
        } <= set(checked)
        assert {(m, p) for m, p, *_ in checked} >= CREDENTIAL_OPERATIONS

    async def test_an_api_key_may_invite_a_sales_user_who_has_no_password(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        key = bearer((await make_api_key(client, world.admin.headers))["key"])
        email = f"{uuid.uuid4().hex[:8]}@moi.vn"

        invited = await client.post(
            "/api/v1/users", json={"email": email, "full_name": "Người Mới"}, headers=key
        )
        login = await client.post(
            "/api/v1/auth/token", data={"username": email, "password": "bất-kỳ-mật-khẩu"}
        )

        assert invited.status_code == 201
        assert invited.json()["role"] == "sales"
        assert invited.json()["has_password"] is False
        assert login.status_code == 401

    async def test_an_api_key_cannot_mint_another(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await make_api_key(client, world.sales.headers, name="k")
        key_headers = bearer(made["key"])

        response = await client.post("/api/v1/api-keys", json={"name": "k2"}, headers=key_headers)

        assert response.status_code == 403
        assert response.json()["code"] == "api_key_not_allowed"

    async def test_a_signed_in_owner_can_still_do_all_of_it(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        made = await client.post(
            "/api/v1/users",
            json={"email": f"{uuid.uuid4().hex[:8]}@a.vn", "full_name": "Quản Trị",
                  "password": PASSWORD, "role": "admin"},
            headers=world.owner.headers,
        )  # fmt: skip
        changed = await client.patch(
            f"/api/v1/users/{made.json()['id']}",
            json={"password": NEW_PASSWORD, "role": "manager"},
            headers=world.owner.headers,
        )

        assert made.status_code == 201
        assert changed.status_code == 200
        assert changed.json()["role"] == "manager"


class TestInvitations:
    async def test_an_invited_user_chooses_a_password_once_and_is_signed_in(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        email = f"{uuid.uuid4().hex[:8]}@moi.vn"
        user = await client.post(
            "/api/v1/users", json={"email": email, "full_name": "Ngô Thị Mới"},
            headers=world.admin.headers,
        )  # fmt: skip
        invitation = await client.post(
            f"/api/v1/users/{user.json()['id']}/invitation", headers=world.admin.headers
        )
        token = invitation.json()["token"]

        accepted = await client.post(
            "/api/v1/auth/accept-invitation", json={"token": token, "password": NEW_PASSWORD}
        )
        again = await client.post(
            "/api/v1/auth/accept-invitation", json={"token": token, "password": "khác-hẳn-999"}
        )
        me = await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {accepted.json()['access_token']}"}
        )
        login = await client.post(
            "/api/v1/auth/token", data={"username": email, "password": NEW_PASSWORD}
        )

        assert invitation.status_code == 200
        assert accepted.status_code == 200
        assert accepted.json()["workspace"]["id"] == str(world.owner.workspace_id)
        assert again.status_code == 401
        assert again.json()["code"] == "invitation_invalid"
        assert me.json()["user"]["has_password"] is True
        assert login.status_code == 200

    async def test_only_an_owner_invites_an_owner(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        response = await client.post(
            f"/api/v1/users/{world.owner.user_id}/invitation", headers=world.admin.headers
        )

        assert response.status_code == 403

    async def test_an_expired_invitation_is_refused(
        self, client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "invitation_days", -1)
        user = await client.post(
            "/api/v1/users",
            json={"email": f"{uuid.uuid4().hex[:8]}@moi.vn", "full_name": "Trễ Hạn"},
            headers=world.admin.headers,
        )
        token = (
            await client.post(
                f"/api/v1/users/{user.json()['id']}/invitation", headers=world.admin.headers
            )
        ).json()["token"]

        response = await client.post(
            "/api/v1/auth/accept-invitation", json={"token": token, "password": NEW_PASSWORD}
        )

        assert response.status_code == 401


async def _every_credential(client: httpx.AsyncClient, member_headers: dict[str, str]) -> dict:
    key = bearer((await make_api_key(client, member_headers))["key"])
    calendar = await client.post("/api/v1/me/calendar-token", headers=member_headers)
    return {"jwt": member_headers, "api_key": key, "calendar": calendar.json()["token"]}


async def _still_working(client: httpx.AsyncClient, credentials: dict) -> dict[str, int]:
    feed = await client.get("/api/v1/calendar.ics", params={"token": credentials["calendar"]})
    return {
        "jwt": (await client.get("/api/v1/me", headers=credentials["jwt"])).status_code,
        "api_key": (await client.get("/api/v1/me", headers=credentials["api_key"])).status_code,
        "calendar": feed.status_code,
    }


class TestRevocation:
    async def test_deactivation_revokes_every_credential_for_good(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        seller = await make_member(client, world.admin.headers)
        credentials = await _every_credential(client, seller["headers"])
        url = f"/api/v1/users/{seller['id']}"
        before = await _still_working(client, credentials)

        await client.patch(url, json={"is_active": False}, headers=world.admin.headers)
        await client.patch(url, json={"is_active": True}, headers=world.admin.headers)
        after = await _still_working(client, credentials)
        login = await client.post(
            "/api/v1/auth/token", data={"username": seller["email"], "password": PASSWORD}
        )

        assert before == {"jwt": 200, "api_key": 200, "calendar": 200}
        assert after == {"jwt": 401, "api_key": 401, "calendar": 401}
        assert login.status_code == 200  # re-activated, they sign in afresh

    async def test_a_password_set_by_an_admin_revokes_keys_and_feeds_too(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        seller = await make_member(client, world.admin.headers)
        credentials = await _every_credential(client, seller["headers"])

        changed = await client.patch(
            f"/api/v1/users/{seller['id']}", json={"password": NEW_PASSWORD},
            headers=world.admin.headers,
        )  # fmt: skip

        assert changed.status_code == 200
        assert await _still_working(client, credentials) == {
            "jwt": 401, "api_key": 401, "calendar": 401,
        }  # fmt: skip

    async def test_changing_your_own_password_keeps_only_the_token_you_used(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        seller = await make_member(client, world.admin.headers)
        credentials = await _every_credential(client, seller["headers"])
        on_phone = await log_in(client, seller["email"])

        wrong = await client.post(
            "/api/v1/auth/password",
            json={"current_password": "không-phải-nó", "new_password": NEW_PASSWORD},
            headers=seller["headers"],
        )
        changed = await client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=seller["headers"],
        )

        assert wrong.status_code == 422
        assert changed.status_code == 204
        assert await _still_working(client, credentials) == {
            "jwt": 200, "api_key": 401, "calendar": 401,
        }  # fmt: skip
        assert (await client.get("/api/v1/me", headers=on_phone)).status_code == 401

    async def test_a_new_password_set_on_your_own_user_keeps_only_the_token_you_used(
        self, client: httpx.AsyncClient
    ) -> None:
        account = await sign_up(client, "Mat Khau")
        on_laptop = await log_in(client, account["email"])
        changed = await client.patch(
            f"/api/v1/users/{account['user_id']}",
            json={"password": "mat-khau-moi-456"},
            headers=account["headers"],
        )
        other_token = await client.get("/api/v1/me", headers=on_laptop)
        own_token = await client.get("/api/v1/me", headers=account["headers"])
        login = await client.post(
            "/api/v1/auth/token",
            data={"username": account["email"], "password": "mat-khau-moi-456"},
        )

        assert changed.status_code == 200
        assert other_token.status_code == 401
        assert own_token.status_code == 200  # the one that made the change
        assert login.status_code == 200


def _signed(claims: dict[str, Any]) -> dict[str, str]:
    return bearer(jwt.encode(claims, get_settings().jwt_secret(), algorithm="HS256"))


class TestTokenClaims:
    @pytest.mark.parametrize(
        "broken",
        [
            {"wid": None},
            {"wid": "not-a-uuid"},
            {"sub": 12345},
            {"sub": None},
            {"iat": None},
            {"iat": "yesterday"},
            {"jti": None},
            {"typ": "refresh"},
        ],
    )
    async def test_a_validly_signed_token_with_a_bad_claim_is_401(
        self, client: httpx.AsyncClient, world: World, broken: dict[str, Any]
    ) -> None:
        now = datetime.now(UTC)
        claims = {
            "sub": str(world.sales.user_id), "wid": str(world.sales.workspace_id),
            "iat": now.timestamp(), "exp": now + timedelta(minutes=5), "typ": "access",
            "jti": "abc123",
        }  # fmt: skip
        good = await client.get("/api/v1/me", headers=_signed(claims))
        claims.update(broken)
        claims = {k: v for k, v in claims.items() if v is not None}  # a null claim: left out

        response = await client.get("/api/v1/me", headers=_signed(claims))

        assert good.status_code == 200
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"

    async def test_a_null_workspace_claim_is_401_not_500(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        now = datetime.now(UTC)
        claims = {
            "sub": str(world.sales.user_id), "wid": None, "iat": now.timestamp(),
            "exp": now + timedelta(minutes=5), "typ": "access", "jti": "abc",
        }  # fmt: skip

        response = await client.get("/api/v1/me", headers=_signed(claims))

        assert response.status_code == 401
