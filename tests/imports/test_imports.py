"""Imports through the API and a real arq worker on the real Redis and PostgreSQL: a
Vietnamese spreadsheet becomes leads the member can read back, duplicates are skipped,
updated or created as asked, failed rows come back in an errors workbook, and a file that
cannot be imported is refused with a clear 4xx."""

import io
import zipfile
from typing import Any

import httpx
import pytest

from tests.conftest import settings_changed, sign_up
from tests.factories import API, make_lead, make_member
from tests.imports.helpers import imported, leads, sheet_rows, upload, workbook
from tests.imports.test_reading import cp1258
from tests.worker_harness import eventually, running_worker

pytestmark = pytest.mark.usefixtures("empty_queue")

HEADERS = ["STT", "Họ và tên", "SĐT", "Email", "Công ty", "Nguồn", "Tỉnh/Thành phố"]


async def _rule_to_block(http: httpx.AsyncClient, headers: dict[str, str], name: str) -> None:
    rules = await http.get(f"{API}/duplicate-rules", params={"resource": "lead"}, headers=headers)
    rule = next(r for r in rules.json()["data"] if r["name"] == name)
    changed = await http.patch(
        f"{API}/duplicate-rules/{rule['id']}", json={"action": "block"}, headers=headers
    )
    assert changed.status_code == 200, changed.text


class TestImportLeads:
    async def test_a_vietnamese_workbook_becomes_leads_with_progress_and_an_errors_file(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-vi")
        headers = owner["headers"]
        content = workbook(
            [
                HEADERS,
                [1, "Nguyễn Văn Ánh", 912345678, "anh@dongá.vn", "Công ty TNHH Đông Á", "Hội chợ",
                 "Hà Nội"],
                [2, "Trần Thị Lan", "0987 654 321", None, None, None, "Đà Nẵng"],
                [None, None, None, None, None, None, None],  # blank: not a row
                [3, "Lê Văn Tám", "0903111222", "không-phải-email", None, "Facebook", None],
                [4, "Phạm Minh", None, "minh@pham.vn", None, None, None],
            ]
        )  # fmt: skip

        asked = await upload(committing_client, headers, content)
        assert asked.status_code == 202, asked.text
        assert asked.json()["status"] == "queued"
        mapping = asked.json()["mapping"]
        assert mapping["fields"] == {
            "Họ và tên": "full_name", "SĐT": "phone", "Email": "email",
            "Công ty": "company_name", "Nguồn": "source", "Tỉnh/Thành phố": "province",
        }  # fmt: skip
        assert mapping["unmapped"] == ["STT"]

        state: dict[str, Any] = {}

        async def finished() -> bool:
            got = await committing_client.get(
                f"{API}/imports/{asked.json()['id']}", headers=headers
            )
            state.update(got.json())
            return state["status"] in ("completed", "failed")

        events: dict[str, list[dict[str, Any]]] = {}

        async def announced() -> bool:
            for kind in ("lead.created", "import.completed"):
                got = await committing_client.get(
                    f"{API}/events", headers=headers, params={"type": kind}
                )
                events[kind] = got.json()["data"]
            return bool(events["import.completed"])

        async with running_worker(database_url, redis_url):
            assert await eventually(finished, seconds=60), state
            # The worker runs no sweep: the event comes through the finishing transaction's
            # own nudge to the dispatcher, or not at all.
            assert await eventually(announced, seconds=20), events

        assert state["status"] == "completed", state
        assert (state["total_rows"], state["processed_rows"]) == (4, 4)
        assert (state["created"], state["updated"], state["skipped"], state["failed"]) == (
            3, 0, 0, 1,
        )  # fmt: skip
        made = {lead["full_name"]: lead for lead in await leads(committing_client, headers)}
        assert set(made) == {"Nguyễn Văn Ánh", "Trần Thị Lan", "Phạm Minh"}
        anh = made["Nguyễn Văn Ánh"]
        assert (anh["phone"], anh["phone_e164"]) == ("0912345678", "+84912345678")
        assert (anh["source"], anh["province"], anh["owner_id"]) == (
            "event", "Hà Nội", owner["user_id"],
        )  # fmt: skip
        assert made["Trần Thị Lan"]["source"] == "import"
        # Integrators see each lead the import made, and its end, as events.
        created = sorted(e["record_id"] for e in events["lead.created"])
        assert created == sorted(lead["id"] for lead in made.values())
        assert events["import.completed"][0]["changes"]["created"] == 3

        errors = await committing_client.get(f"{API}/imports/{state['id']}/errors", headers=headers)
        assert errors.status_code == 200, errors.text
        rows = sheet_rows(errors.content)
        assert rows[0] == [*HEADERS, "Lỗi / Error"]
        assert rows[1][:7] == [3, "Lê Văn Tám", "0903111222", "không-phải-email", None,
                               "Facebook", None]  # fmt: skip
        assert "Email (email)" in rows[1][7]
        assert len(rows) == 2

    async def test_errors_are_409_until_the_import_has_finished(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-409")
        asked = await upload(committing_client, owner["headers"], workbook([["Họ và tên"], ["An"]]))
        errors = await committing_client.get(
            f"{API}/imports/{asked.json()['id']}/errors", headers=owner["headers"]
        )
        assert (errors.status_code, errors.json()["code"]) == (409, "import_not_finished")

    async def test_dry_run_counts_and_writes_nothing(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-dry")
        headers = owner["headers"]
        await make_lead(committing_client, headers, full_name="Có sẵn", email="co@san.vn")
        content = workbook(
            [["Họ và tên", "Email"], ["Mới", "moi@x.vn"], ["Trùng", "co@san.vn"], ["Hỏng", "x"]]
        )

        state = await imported(
            committing_client, headers, content, database_url, redis_url, dry_run="true"
        )

        assert state["status"] == "completed", state
        assert (state["created"], state["skipped"], state["failed"]) == (1, 1, 1)
        assert [lead["full_name"] for lead in await leads(committing_client, headers)] == ["Có sẵn"]

    async def test_csv_in_cp1258_is_read(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-csv")
        text = "Họ và tên;Số điện thoại\r\nNguyễn Thị Ánh;0912 000 111\r\n"
        content = cp1258(text)

        state = await imported(
            committing_client, owner["headers"], content, database_url, redis_url,
            filename="khach.csv",
        )  # fmt: skip

        assert (state["status"], state["total_rows"], state["created"]) == ("completed", 1, 1)
        made = await leads(committing_client, owner["headers"])
        assert [(m["full_name"], m["phone_e164"]) for m in made] == [
            ("Nguyễn Thị Ánh", "+84912000111")
        ]


class TestDedupePolicies:
    FILE = workbook(
        [
            ["Họ và tên", "Email", "Tỉnh"],
            ["Nguyễn Văn Ánh", "anh@x.vn", "Huế"],  # the existing lead, by email
            ["Trần Bình", "binh@x.vn", None],
            ["Trần Văn Bình", "binh@x.vn", "Cần Thơ"],  # the row above, within the file
        ]
    )

    async def _run(
        self, http: httpx.AsyncClient, name: str, policy: str, database_url: str, redis_url: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
        owner = await sign_up(http, f"committing-import-{policy}-{name}")
        headers = owner["headers"]
        await make_lead(http, headers, full_name="Nguyễn Văn Ánh", email="anh@x.vn")
        state = await imported(
            http, headers, self.FILE, database_url, redis_url, dedupe_policy=policy
        )
        assert state["status"] == "completed", state
        return state, await leads(http, headers), headers

    async def test_skip_leaves_matches_in_the_workspace_and_in_the_file(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        state, made, _ = await self._run(committing_client, "a", "skip", database_url, redis_url)

        assert (state["created"], state["skipped"], state["updated"]) == (1, 2, 0)
        assert sorted(m["full_name"] for m in made) == ["Nguyễn Văn Ánh", "Trần Bình"]

    async def test_update_writes_the_rows_values_over_the_match(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        state, made, _ = await self._run(committing_client, "b", "update", database_url, redis_url)

        assert (state["created"], state["updated"], state["skipped"]) == (1, 2, 0)
        by_email = {m["email"]: m for m in made}
        assert len(made) == 2
        assert by_email["anh@x.vn"]["province"] == "Huế"
        assert (by_email["binh@x.vn"]["full_name"], by_email["binh@x.vn"]["province"]) == (
            "Trần Văn Bình", "Cần Thơ",
        )  # fmt: skip

    async def test_create_saves_past_warnings_but_not_past_a_block_rule(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-create")
        headers = owner["headers"]
        await make_lead(committing_client, headers, full_name="Nguyễn Văn Ánh", email="anh@x.vn")
        state = await imported(
            committing_client, headers, self.FILE, database_url, redis_url, dedupe_policy="create"
        )
        assert (state["created"], state["failed"]) == (3, 0)

        await _rule_to_block(committing_client, headers, "Cùng email")
        again = await imported(
            committing_client, headers, self.FILE, database_url, redis_url, dedupe_policy="create"
        )
        assert (again["created"], again["failed"]) == (0, 3)
        errors = await committing_client.get(f"{API}/imports/{again['id']}/errors", headers=headers)
        assert "Cùng email" in sheet_rows(errors.content)[1][-1]


class TestRefused:
    async def test_a_file_that_is_not_a_spreadsheet_is_422(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-not")
        answer = await upload(
            committing_client, owner["headers"], b"\x89PNG\r\n\x1a\n\x00\x00binary",
            filename="anh.png",
        )  # fmt: skip
        assert (answer.status_code, answer.json()["code"]) == (422, "not_a_spreadsheet")
        named = await upload(committing_client, owner["headers"], b"just text", filename="a.xlsx")
        assert (named.status_code, named.json()["code"]) == (422, "not_a_spreadsheet")

    async def test_no_header_and_a_bad_mapping_are_422(
        self, committing_client: httpx.AsyncClient
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-map")
        empty = await upload(committing_client, owner["headers"], b"\r\n\r\n", filename="a.csv")
        assert (empty.status_code, empty.json()["code"]) == (422, "no_header_row")
        content = workbook([["Tên KH", "Ghi chú"], ["An", "x"]])
        unnamed = await upload(committing_client, owner["headers"], content)
        assert (unnamed.status_code, unnamed.json()["code"]) == (422, "import_mapping_invalid")
        wrong = await upload(
            committing_client, owner["headers"], content, mapping='{"Tên KH": "nope"}'
        )
        assert wrong.status_code == 422
        assert wrong.json()["errors"][0]["field"] == "mapping.Tên KH"
        mapped = await upload(
            committing_client, owner["headers"], content, mapping='{"Tên KH": "full_name"}'
        )
        assert mapped.status_code == 202, mapped.text

    async def test_a_file_over_the_limit_is_413(self, committing_client: httpx.AsyncClient) -> None:
        owner = await sign_up(committing_client, "committing-import-big")
        big = ("Họ và tên\r\n" + "Nguyễn Văn Ánh\r\n" * 20_000).encode()
        with settings_changed(import_max_bytes=100_000):
            answer = await upload(committing_client, owner["headers"], big, filename="a.csv")
        assert (answer.status_code, answer.json()["code"]) == (413, "file_too_large")

    async def test_a_zip_bomb_is_413(self, committing_client: httpx.AsyncClient) -> None:
        owner = await sign_up(committing_client, "committing-import-bomb")
        source = zipfile.ZipFile(io.BytesIO(workbook([["Họ và tên"], ["An"]])))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
            for item in source.infolist():
                data = source.read(item.filename)
                if item.filename == "xl/worksheets/sheet1.xml":
                    data = data.replace(
                        b"<sheetData>", b"<!--" + b"0" * 30_000_000 + b"--><sheetData>"
                    )
                bomb.writestr(item.filename, data)
        answer = await upload(committing_client, owner["headers"], out.getvalue())
        assert (answer.status_code, answer.json()["code"]) == (413, "expands_too_far")


class TestFailedJobs:
    async def test_a_file_found_too_long_while_read_ends_failed_with_the_reason(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-long")
        content = "Họ và tên\r\nAn\r\nBình\r\nChi\r\n".encode()

        # A CSV says nothing of its length up front: the worker finds out, and says so.
        with settings_changed(import_max_rows=2):
            state = await imported(
                committing_client, owner["headers"], content, database_url, redis_url,
                filename="dai.csv",
            )  # fmt: skip

        assert state["status"] == "failed", state
        assert "More than 2 rows" in state["error"]
        assert await leads(committing_client, owner["headers"]) == []
        errors = await committing_client.get(
            f"{API}/imports/{state['id']}/errors", headers=owner["headers"]
        )
        assert errors.status_code == 200


class TestMembers:
    async def test_a_sales_member_owns_what_they_import_and_others_dont_see_the_import(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-import-sales")
        sales = await make_member(committing_client, owner["headers"], role="sales")
        other = await make_member(committing_client, owner["headers"], role="sales")
        content = workbook([["Họ và tên"], ["Khách của Sales"]])

        state = await imported(
            committing_client, sales["headers"], content, database_url, redis_url
        )

        made = await leads(committing_client, sales["headers"])
        assert [(m["full_name"], m["owner_id"]) for m in made] == [("Khách của Sales", sales["id"])]
        hidden = await committing_client.get(
            f"{API}/imports/{state['id']}", headers=other["headers"]
        )
        assert (hidden.status_code, hidden.json()["code"]) == (404, "import_not_found")
        seen = await committing_client.get(f"{API}/imports/{state['id']}", headers=owner["headers"])
        assert seen.status_code == 200
