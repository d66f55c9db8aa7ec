"""Each API process keeps the callers it has looked up, checked against the workspace's settings
version in the BEGIN message of every request. A change to a user or a team must take effect on
the very next request, as if nothing were cached (real commits: the check rides on BEGIN)."""

import httpx

from tests.conftest import sign_up
from tests.factories import log_in, make_lead, make_member, make_team


async def test_a_deactivated_user_is_refused_at_the_next_request(
    committing_client: httpx.AsyncClient,
) -> None:
    http = committing_client
    owner = await sign_up(http, "committing-cache-active")
    sales = await make_member(http, owner["headers"], email="ban@cache-active.vn")
    assert (await http.get("/api/v1/me", headers=sales["headers"])).status_code == 200

    await http.patch(
        f"/api/v1/users/{sales['id']}", json={"is_active": False}, headers=owner["headers"]
    )

    assert (await http.get("/api/v1/me", headers=sales["headers"])).status_code == 401


async def test_a_new_role_applies_at_the_next_request(
    committing_client: httpx.AsyncClient,
) -> None:
    http = committing_client
    owner = await sign_up(http, "committing-cache-role")
    sales = await make_member(http, owner["headers"], email="ban@cache-role.vn")
    field = {"resource": "lead", "key": "hang", "label": "Hạng", "type": "text"}
    before = await http.post("/api/v1/custom-fields", json=field, headers=sales["headers"])

    await http.patch(
        f"/api/v1/users/{sales['id']}", json={"role": "admin"}, headers=owner["headers"]
    )
    after = await http.post("/api/v1/custom-fields", json=field, headers=sales["headers"])

    assert before.status_code == 403
    assert after.status_code == 201


async def test_a_new_password_revokes_other_tokens_at_once(
    committing_client: httpx.AsyncClient,
) -> None:
    http = committing_client
    owner = await sign_up(http, "committing-cache-password")
    on_phone = await log_in(http, owner["email"])
    assert (await http.get("/api/v1/me", headers=on_phone)).status_code == 200  # cached now
    me = (await http.get("/api/v1/me", headers=owner["headers"])).json()["user"]

    changed = await http.patch(
        f"/api/v1/users/{me['id']}", json={"password": "mật-khẩu-mới-dài-456"},
        headers=owner["headers"],
    )  # fmt: skip

    assert changed.status_code == 200
    assert (await http.get("/api/v1/me", headers=on_phone)).status_code == 401
    # The token that made the change is the one kept.
    assert (await http.get("/api/v1/me", headers=owner["headers"])).status_code == 200


async def test_moving_to_another_team_changes_what_you_see_at_once(
    committing_client: httpx.AsyncClient,
) -> None:
    http = committing_client
    owner = await sign_up(http, "committing-cache-team")
    north = await make_team(http, owner["headers"], name="Bắc")
    south = await make_team(http, owner["headers"], name="Nam")
    mover = await make_member(
        http, owner["headers"], email="di@cache-team.vn", role="sales", team_id=north["id"]
    )
    southerner = await make_member(
        http, owner["headers"], email="nam@cache-team.vn", role="sales", team_id=south["id"]
    )
    lead = await make_lead(http, southerner["headers"], full_name="Khách Miền Nam")
    url = f"/api/v1/leads/{lead['id']}"
    hidden = await http.get(url, headers=mover["headers"])

    await http.patch(
        f"/api/v1/users/{mover['id']}", json={"team_id": south["id"]}, headers=owner["headers"]
    )
    shown = await http.get(url, headers=mover["headers"])

    assert hidden.status_code == 404
    assert shown.status_code == 200
