"""A duplicate scan through a real worker: records that came in while the rules could not catch
them (saved anyway, or before a rule existed) are found in the workspace, joined into groups
(a record duplicating two others makes one group of three), strongest first, a page at a time."""

from typing import Any

import httpx
import pytest

from tests.conftest import sign_up
from tests.factories import API, make_contact, make_lead, make_member
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")


async def scanned(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    resource: str,
    database_url: str,
    redis_url: str,
) -> dict[str, Any]:
    asked = await http.post(f"{API}/duplicates/scans", json={"resource": resource}, headers=headers)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "queued"
    state: dict[str, Any] = {}

    async def finished() -> bool:
        answer = await http.get(f"{API}/duplicates/scans/{asked.json()['id']}", headers=headers)
        state.update(answer.json())
        return state["status"] in ("completed", "failed")

    async with running_worker(database_url, redis_url):
        assert await eventually(finished, seconds=30), state
    assert state["status"] == "completed", state
    return state


def _members(group: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m["resource"], m["id"]) for m in group["records"]}


class TestScan:
    async def test_old_duplicates_are_found_and_grouped_strongest_first(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-dup-scan")
        h, http = owner["headers"], committing_client
        # Saved past the warning: what the scan is for.
        a = await make_lead(http, h, full_name="Nguyễn Văn Ánh", phone="0912 345 678")
        b = await make_lead(http, h, full_name="NGUYEN VAN ANH", phone="+84912345678",
                            email="anh@minhphat.vn")  # fmt: skip
        c = await make_contact(http, h, full_name="Ánh", email="Anh@MinhPhat.vn")
        d = await make_lead(http, h, full_name="Trần Thị Lan", company_name="Công ty TNHH Đông Á")
        e = await make_lead(http, h, full_name="Tran Thi Lan", company_name="Dong A Co., Ltd")
        await make_lead(http, h, full_name="Lê Văn Tám", phone="0988 000 111")

        scan = await scanned(http, h, "lead", database_url, redis_url)
        groups = await http.get(f"{API}/duplicates/scans/{scan['id']}/groups", headers=h)

        assert (scan["total"], scan["scanned"], scan["groups"]) == (5, 5, 2)  # five leads
        found = groups.json()["data"]
        assert [g["rank"] for g in found] == [1, 2]
        assert [_members(g) for g in found] == [
            {("lead", a["id"]), ("lead", b["id"]), ("contact", c["id"])},
            {("lead", d["id"]), ("lead", e["id"])},
        ]
        assert found[0]["score"] == 1.0
        assert set(found[0]["rules"]) == {"Cùng số điện thoại", "Cùng email"}

    async def test_groups_come_a_page_at_a_time(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-dup-scan-pages")
        h, http = owner["headers"], committing_client
        for n in range(3):
            for _ in range(2):
                await make_contact(http, h, full_name=f"Khách {n}", phone=f"0912 000 00{n}")

        scan = await scanned(http, h, "contact", database_url, redis_url)
        first = await http.get(
            f"{API}/duplicates/scans/{scan['id']}/groups", params={"limit": 2}, headers=h
        )
        rest = await http.get(
            f"{API}/duplicates/scans/{scan['id']}/groups",
            params={"limit": 2, "cursor": first.json()["next_cursor"]},
            headers=h,
        )

        assert scan["groups"] == 3
        assert [g["rank"] for g in first.json()["data"]] == [1, 2]
        assert [g["rank"] for g in rest.json()["data"]] == [3]
        assert rest.json()["next_cursor"] is None

    async def test_only_owners_and_admins_scan(self, committing_client: httpx.AsyncClient) -> None:
        owner = await sign_up(committing_client, "committing-dup-scan-staff")
        sales = await make_member(committing_client, owner["headers"], role="sales")

        refused = await committing_client.post(
            f"{API}/duplicates/scans", json={"resource": "lead"}, headers=sales["headers"]
        )

        assert refused.status_code == 403


class TestOneAtATime:
    async def test_a_second_scan_of_a_kind_while_one_is_under_way_is_409(
        self, client: httpx.AsyncClient, world: Any
    ) -> None:
        h = world.owner.headers
        first = await client.post(f"{API}/duplicates/scans", json={"resource": "lead"}, headers=h)
        again = await client.post(f"{API}/duplicates/scans", json={"resource": "lead"}, headers=h)
        other = await client.post(
            f"{API}/duplicates/scans", json={"resource": "contact"}, headers=h
        )

        assert first.status_code == 202, first.text
        assert again.status_code == 409
        assert again.json()["code"] == "duplicate_scan_under_way"
        assert other.status_code == 202
