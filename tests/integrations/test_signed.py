"""TikTok and the generic provider: JSON signed with HMAC-SHA256 over `<timestamp>.<body>`,
within 5 minutes of now; fields mapped by the integration's config; a lead's own id makes a
redelivery the same submission; poison refused with a clear 4xx and nothing stored."""

import json
import time
from typing import Any

import httpx
import pytest

from tests.conftest import World
from tests.factories import API, make_integration
from tests.intake_harness import statuses
from tests.integrations.platforms import SIGNING_SECRET, Workspace, hex_hmac, post_signed

pytestmark = pytest.mark.usefixtures("empty_queue")
PROVIDERS = ["tiktok", "generic"]


async def signed_integration(
    http: httpx.AsyncClient, headers: dict[str, str], provider: str, **config: Any
) -> dict[str, Any]:
    body = {"secret": SIGNING_SECRET, **config}
    return await make_integration(http, headers, provider=provider, config=body)


@pytest.mark.parametrize("provider", PROVIDERS)
class TestSignatures:
    async def test_a_signed_lead_is_stored_before_the_200(
        self, client: httpx.AsyncClient, world: World, provider: str
    ) -> None:
        made = await signed_integration(client, world.admin.headers, provider)

        response = await post_signed(client, provider, made["id"], {"lead_id": "T-1"})

        assert response.status_code == 200, response.text
        (stored,) = await statuses(client, world.admin.headers, integration_id=made["id"])
        assert (stored["id"], stored["external_id"]) == (
            response.json()["submission_ids"][0],
            "T-1",
        )

    @pytest.mark.parametrize(
        ("change", "status", "code"),
        [
            ({"signed": False}, 401, "signature_missing"),
            ({"secret": "another-secret-of-32-characters!"}, 403, "signature_invalid"),
            ({"skew": -6 * 60}, 403, "signature_invalid"),  # signed 6 minutes ago
            ({"skew": 6 * 60}, 403, "signature_invalid"),  # or 6 ahead
        ],
    )
    async def test_unsigned_forged_or_stale_posts_store_nothing(
        self,
        client: httpx.AsyncClient,
        world: World,
        provider: str,
        change: dict[str, Any],
        status: int,
        code: str,
    ) -> None:
        made = await signed_integration(client, world.admin.headers, provider)
        if "skew" in change:  # from now, not from when the tests were collected
            change = {"at": time.time() + change["skew"]}

        response = await post_signed(client, provider, made["id"], {"lead_id": "T-2"}, **change)

        assert response.status_code == status
        assert response.json()["code"] == code
        assert await statuses(client, world.admin.headers, integration_id=made["id"]) == []

    async def test_a_body_changed_after_signing_is_refused(
        self, client: httpx.AsyncClient, world: World, provider: str
    ) -> None:
        made = await signed_integration(client, world.admin.headers, provider)
        timestamp = str(int(time.time()))
        signature = hex_hmac(SIGNING_SECRET, f"{timestamp}.".encode() + b'{"lead_id": "T-3"}')
        headers = (
            {"TikTok-Signature": f"t={timestamp},s={signature}"}
            if provider == "tiktok"
            else {"X-Sen-Timestamp": timestamp, "X-Sen-Signature": f"sha256={signature}"}
        )

        response = await client.post(
            f"{API}/intake/{provider}/{made['id']}",
            content=b'{"lead_id": "T-3", "phone": "0999 999 999"}',
            headers={"Content-Type": "application/json", **headers},
        )

        assert response.status_code == 403
        assert await statuses(client, world.admin.headers, integration_id=made["id"]) == []

    async def test_a_skew_under_five_minutes_is_accepted(
        self, client: httpx.AsyncClient, world: World, provider: str
    ) -> None:
        made = await signed_integration(client, world.admin.headers, provider)

        response = await post_signed(
            client, provider, made["id"], {"lead_id": "T-4"}, at=time.time() - 4 * 60
        )

        assert response.status_code == 200


def _nested(depth: int) -> dict[str, Any]:
    found: dict[str, Any] = {"lead_id": "T-8"}
    for n in range(depth):
        found = {f"level_{n}": found}
    return found


@pytest.mark.parametrize("provider", PROVIDERS)
class TestPoison:
    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (b'{"lead_id": "\xff\xfe"}', 400),  # not UTF-8
            (b"{" * 3000, 400),  # not JSON
            (json.dumps(_nested(12)).encode(), 422),  # deeper than a lead goes
            (json.dumps({"lead_id": "T-5", "notes": "A" * 100_000}).encode(), 422),
            (json.dumps({"lead_id": "T-6", "name": "A\u0000"}).encode(), 422),
            (json.dumps({"lead_id": "T" * 201}).encode(), 422),
            (json.dumps("just text").encode(), 422),
            (json.dumps([]).encode(), 422),
        ],
    )  # fmt: skip
    async def test_a_signed_poison_payload_is_a_clear_4xx_and_nothing_is_stored(
        self, client: httpx.AsyncClient, world: World, provider: str, body: bytes, status: int
    ) -> None:
        made = await signed_integration(client, world.admin.headers, provider)

        response = await post_signed(client, provider, made["id"], body)

        assert response.status_code == status, response.text
        assert await statuses(client, world.admin.headers, integration_id=made["id"]) == []

    async def test_a_10_mb_body_is_a_413(
        self, client: httpx.AsyncClient, world: World, provider: str
    ) -> None:
        made = await signed_integration(client, world.admin.headers, provider)

        response = await post_signed(
            client, provider, made["id"], {"lead_id": "T-7", "x": "A" * 10_000_000}
        )

        assert response.status_code == 413
        assert await statuses(client, world.admin.headers, integration_id=made["id"]) == []


class TestSignedLeads:
    async def test_a_batch_is_mapped_each_lead_once_and_script_stays_inert_text(
        self, workspace: Workspace
    ) -> None:
        made = await signed_integration(
            workspace.http,
            workspace.headers,
            "generic",
            id_field="data.id",
            source="zalo",
            mapping={"data.ho_ten": "full_name", "data.sdt": "phone", "data.ghi_chu": "notes"},
        )
        batch = [
            {"data": {"id": "Z-1", "ho_ten": "Võ Thị Sáu", "sdt": "0901 000 001",
                      "ghi_chu": "<script>alert(1)</script>"}, "utm_campaign": "tet"},
            {"data": {"id": "Z-2", "ho_ten": "Đặng Văn Lâm", "sdt": "0901 000 002"}},
            {"data": {"id": "Z-1", "ho_ten": "Võ Thị Sáu", "sdt": "0901 000 001"}},
        ]  # fmt: skip

        posted = await post_signed(workspace.http, "generic", made["id"], batch)
        again = await post_signed(workspace.http, "generic", made["id"], batch[1])
        first, second, repeated = await workspace.settle(posted)

        assert first == repeated
        assert (posted.json()["redelivered"], again.json()["submission_ids"]) == (
            1,
            [second["id"]],
        )
        assert [first["status"], second["status"]] == ["processed", "processed"]
        made_leads = [await workspace.lead(s["lead_id"]) for s in (first, second)]
        assert [lead["full_name"] for lead in made_leads] == ["Võ Thị Sáu", "Đặng Văn Lâm"]
        assert {lead["source"] for lead in made_leads} == {"zalo"}
        assert made_leads[0]["notes"] == "data.ghi_chu: <script>alert(1)</script>"
        assert made_leads[0]["utm_campaign"] == "tet"

    async def test_a_tiktok_lead_maps_common_names_and_keeps_the_rest_in_notes(
        self, workspace: Workspace
    ) -> None:
        made = await signed_integration(workspace.http, workspace.headers, "tiktok")
        body = {
            "lead_id": "TT-1",
            "name": "Hồ Xuân Hương",
            "phone_number": "0912 000 111",
            "email": "huong@example.vn",
            "answers": {"bạn_quan_tâm": "Vios"},
        }

        done = await workspace.settle(await post_signed(workspace.http, "tiktok", made["id"], body))

        lead = await workspace.lead(done["lead_id"])
        assert (lead["full_name"], lead["phone_e164"], lead["email"]) == (
            "Hồ Xuân Hương",
            "+84912000111",
            "huong@example.vn",
        )
        assert (lead["source"], lead["notes"]) == ("tiktok", "answers.bạn_quan_tâm: Vios")
