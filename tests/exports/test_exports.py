"""Exports through a real arq worker on the real Redis and PostgreSQL: the file holds what the
member who asked can see, filtered and in the columns asked for, readable in a spreadsheet
(Vietnamese intact, nothing run as a formula), and it is gone after its time."""

import csv
import io
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import openpyxl
import pytest

from app.core import files, jobs
from app.core.db import libpq_url, make_engine, make_sessionmaker
from app.core.models import utcnow
from app.core.queue import queue_client
from tests.conftest import sign_up
from tests.factories import (
    API,
    make_account,
    make_contact,
    make_custom_field,
    make_deal,
    make_lead,
    make_member,
    make_team,
)
from tests.worker_harness import eventually, running_worker
from workers.settings import delete_expired_exports, run_export

pytestmark = pytest.mark.usefixtures("empty_queue")

FORMULAS = ['=HYPERLINK("http://evil.test/","x")', "+84 912", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]


async def exported(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    body: dict[str, Any],
    database_url: str,
    redis_url: str,
    *,
    lang: str | None = None,
) -> tuple[dict[str, Any], httpx.Response]:
    """Ask for an export, let a real worker write it, and download it."""
    params = {"lang": lang} if lang else {}
    asked = await http.post(f"{API}/exports", json=body, headers=headers, params=params)
    assert asked.status_code == 202, asked.text
    export_id = asked.json()["id"]
    state: dict[str, Any] = {}

    async def finished() -> bool:
        state.update((await http.get(f"{API}/exports/{export_id}", headers=headers)).json())
        return state["status"] in ("completed", "failed")

    async with running_worker(database_url, redis_url):
        assert await eventually(finished, seconds=30), state
    assert state["status"] == "completed", state
    download = await http.get(f"{API}/exports/{export_id}/file", headers=headers)
    assert download.status_code == 200, download.text
    return state, download


def xlsx_rows(content: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    cells = [list(row) for row in sheet.iter_rows()]
    assert not [c.coordinate for row in cells for c in row if c.data_type == "f"], "a formula"
    return [[c.value for c in row] for row in cells]


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM, for Excel"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


class TestExportLeads:
    async def test_xlsx_holds_the_filtered_leads_in_the_columns_asked_with_vietnamese_headers(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-export-xlsx")
        headers = owner["headers"]
        hot = {"status": "hot"}
        await make_lead(
            committing_client, headers, full_name="Nguyễn Văn Ánh", phone="0912 345 678",
            province="Hà Nội", tags=["vip", "hội chợ"], **hot,
        )  # fmt: skip
        await make_lead(
            committing_client, headers, full_name="Trần Thị Lan",
            company_name="Công ty TNHH Đông Á", **hot,
        )  # fmt: skip
        await make_lead(committing_client, headers, full_name="Lê Văn Tám", status="new")

        export, download = await exported(
            committing_client,
            headers,
            {
                "resource": "lead",
                "format": "xlsx",
                "filters": {"status": "hot", "sort": "full_name"},
                "columns": ["full_name", "company_name", "phone", "province", "tags"],
            },
            database_url,
            redis_url,
            lang="vi",
        )

        assert download.headers["content-type"].startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        disposition = download.headers["content-disposition"]
        assert disposition == f'attachment; filename="leads-{utcnow().date().isoformat()}.xlsx"'
        assert (export["rows"], export["filename"]) == (2, disposition.split('"')[1])
        assert export["size"] == len(download.content)
        assert xlsx_rows(download.content) == [
            ["Họ và tên", "Công ty", "Số điện thoại", "Tỉnh/Thành phố", "Thẻ"],
            ["Nguyễn Văn Ánh", None, "0912 345 678", "Hà Nội", "vip; hội chợ"],
            ["Trần Thị Lan", "Công ty TNHH Đông Á", None, None, None],
        ]

    async def test_csv_has_a_bom_english_headers_and_every_column_by_default(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-export-csv")
        lead = await make_lead(committing_client, owner["headers"], full_name="Đặng Thị Ngọc Ánh")

        export, download = await exported(
            committing_client, owner["headers"], {"resource": "lead", "format": "csv"},
            database_url, redis_url,
        )  # fmt: skip

        assert download.headers["content-type"] == "text/csv; charset=utf-8"
        rows = csv_rows(download.content)
        assert rows[0][:3] == ["ID", "Full name", "Company name"]
        assert "Created at" in rows[0]
        assert "Owner ID" in rows[0]
        assert len(rows) == 2
        assert export["rows"] == 1
        record = dict(zip(rows[0], rows[1], strict=True))
        assert (record["ID"], record["Full name"]) == (lead["id"], "Đặng Thị Ngọc Ánh")
        assert record["Created at"] == lead["created_at"]

    async def test_values_a_spreadsheet_would_run_come_back_as_plain_text(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-export-formulas")
        headers = owner["headers"]
        for n, value in enumerate(FORMULAS):
            await make_lead(committing_client, headers, full_name=f"Khách {n}", notes=value)
        body = {
            "resource": "lead",
            "columns": ["full_name", "notes"],
            "filters": {"sort": "full_name"},
        }

        _, as_xlsx = await exported(
            committing_client, headers, body | {"format": "xlsx"}, database_url, redis_url
        )
        _, as_csv = await exported(
            committing_client, headers, body | {"format": "csv"}, database_url, redis_url
        )

        # XML reads a bare carriage return as a line feed: text either way, never a formula.
        in_xlsx = [value.replace("\r", "\n") for value in FORMULAS]
        assert [row[1] for row in xlsx_rows(as_xlsx.content)[1:]] == in_xlsx
        assert [row[1] for row in csv_rows(as_csv.content)[1:]] == [f"'{v}" for v in FORMULAS]


class TestOtherRecords:
    async def test_contacts_accounts_and_deals_export_with_their_own_fields_and_custom_ones(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-export-records")
        headers = owner["headers"]
        field = await make_custom_field(
            committing_client, headers, resource="account", key="nganh_hang", label="Ngành hàng"
        )
        await make_account(
            committing_client,
            headers,
            name="Công ty CP Đông Á",
            custom_fields={"nganh_hang": "Ô tô"},
        )
        await make_contact(
            committing_client, headers, full_name="Phạm Thị Hoa", birthday="1990-02-03",
            do_not_contact=True,
        )  # fmt: skip
        await make_deal(committing_client, headers, name="Đông Á — 3 xe tải", amount="2850000000")

        _, accounts = await exported(
            committing_client, headers,
            {"resource": "account", "columns": ["name", f"custom_fields.{field['key']}"]},
            database_url, redis_url, lang="vi",
        )  # fmt: skip
        _, contacts = await exported(
            committing_client, headers,
            {"resource": "contact", "columns": ["full_name", "birthday", "do_not_contact"]},
            database_url, redis_url,
        )  # fmt: skip
        _, deals = await exported(
            committing_client, headers,
            {"resource": "deal", "format": "csv", "columns": ["name", "amount", "currency"]},
            database_url, redis_url, lang="vi",
        )  # fmt: skip

        assert xlsx_rows(accounts.content) == [["Tên", "Ngành hàng"], ["Công ty CP Đông Á", "Ô tô"]]
        assert xlsx_rows(contacts.content)[1] == [
            "Phạm Thị Hoa", datetime(1990, 2, 3), True,
        ]  # fmt: skip
        assert csv_rows(deals.content) == [
            ["Tên", "Giá trị", "Tiền tệ"], ["Đông Á — 3 xe tải", "2850000000", "VND"],
        ]  # fmt: skip


class TestVisibility:
    async def test_a_sales_member_exports_only_what_they_and_their_team_own(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-export-sales")
        headers = owner["headers"]
        north = await make_team(committing_client, headers)
        sales = await make_member(committing_client, headers, role="sales", team_id=north["id"])
        mate = await make_member(committing_client, headers, role="sales", team_id=north["id"])
        other = await make_member(committing_client, headers, role="sales")
        for who, name in ((sales, "Của tôi"), (mate, "Của đồng đội"), (other, "Của người khác")):
            await make_lead(committing_client, who["headers"], full_name=name)
        await make_lead(committing_client, headers, full_name="Của chủ")

        export, download = await exported(
            committing_client, sales["headers"],
            {"resource": "lead", "format": "csv", "columns": ["full_name"]},
            database_url, redis_url,
        )  # fmt: skip

        names = sorted(row[0] for row in csv_rows(download.content)[1:])
        assert names == ["Của tôi", "Của đồng đội"]
        assert export["requested_by"] == sales["id"]
        seen_by_other = await committing_client.get(
            f"{API}/exports/{export['id']}", headers=other["headers"]
        )
        assert seen_by_other.status_code == 404
        seen_by_owner = await committing_client.get(
            f"{API}/exports/{export['id']}", headers=headers
        )
        assert seen_by_owner.status_code == 200


class TestFileLifetime:
    async def test_an_unfinished_export_has_no_file_yet(
        self, client: httpx.AsyncClient, world: Any
    ) -> None:
        asked = await client.post(
            f"{API}/exports", json={"resource": "contact"}, headers=world.owner.headers
        )

        assert asked.status_code == 202, asked.text
        assert asked.json()["status"] == "queued"
        download = await client.get(
            f"{API}/exports/{asked.json()['id']}/file", headers=world.owner.headers
        )
        assert download.status_code == 409
        assert download.json()["code"] == "export_not_ready"

    async def test_an_expired_file_is_410_and_the_sweep_deletes_its_chunks(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        owner = await sign_up(committing_client, "committing-export-expiry")
        await make_lead(committing_client, owner["headers"])
        export, _ = await exported(
            committing_client, owner["headers"], {"resource": "lead"}, database_url, redis_url
        )
        conn = await asyncpg.connect(libpq_url(database_url))
        try:
            await conn.execute(
                "UPDATE exports SET expires_at = $1 WHERE id = $2",
                utcnow() - timedelta(minutes=1), uuid.UUID(export["id"]),
            )  # fmt: skip
            engine = make_engine(database_url, pool_size=1)
            try:
                deleted = await delete_expired_exports({"sessionmaker": make_sessionmaker(engine)})
            finally:
                await engine.dispose()
            chunks = await conn.fetchval(
                "SELECT count(*) FROM stored_file_chunks WHERE workspace_id = $1",
                uuid.UUID(owner["workspace_id"]),
            )
        finally:
            await conn.close()

        assert deleted >= 1
        assert chunks == 0
        download = await committing_client.get(
            f"{API}/exports/{export['id']}/file", headers=owner["headers"]
        )
        assert download.status_code == 410
        assert download.json()["code"] == "export_expired"


class TestAnnounced:
    async def test_the_job_that_writes_the_file_nudges_the_dispatcher_itself(
        self, committing_client: httpx.AsyncClient, database_url: str, redis_url: str
    ) -> None:
        """The job's own commit asks for the dispatcher: no earlier nudge of the workspace is
        left to pick its event up, and no sweep runs."""
        owner = await sign_up(committing_client, "committing-export-nudge")
        workspace = owner["workspace_id"]
        await make_lead(committing_client, owner["headers"])
        asked = await committing_client.post(
            f"{API}/exports", json={"resource": "lead"}, headers=owner["headers"]
        )
        assert asked.status_code == 202, asked.text
        queue = queue_client(redis_url)
        engine = make_engine(database_url, pool_size=1)
        try:
            await jobs.wait_for_sends()
            await queue.flushdb()  # the request's own nudges: as if already acted on
            ran = await run_export(
                {"sessionmaker": make_sessionmaker(engine), "redis": queue},
                workspace,
                asked.json()["id"],
            )
            await jobs.wait_for_sends()
            nudges = [key async for key in queue.scan_iter(f"arq:job:events:{workspace}*")]
        finally:
            await engine.dispose()
            await queue.aclose()

        assert ran == "completed"
        assert len(nudges) == 1, nudges
        async with running_worker(database_url, redis_url):

            async def listed() -> bool:
                params = {"type": "export.completed", "record_id": asked.json()["id"]}
                got = await committing_client.get(
                    f"{API}/events", headers=owner["headers"], params=params
                )
                return bool(got.json()["data"])

            assert await eventually(listed, seconds=20), "export.completed never dispatched"


class TestBadRequests:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"resource": "lead", "filters": {"colour": "red"}}, "filters.colour"),
            ({"resource": "lead", "filters": {"limit": 10}}, "filters.limit"),
            (
                {"resource": "lead", "filters": {"status_category": "hot"}},
                "filters.status_category",
            ),
            ({"resource": "deal", "filters": {"owner_id": "me"}}, "filters.owner_id"),
            ({"resource": "lead", "columns": ["full_name", "password"]}, "columns.1"),
            ({"resource": "account", "columns": ["custom_fields.nope"]}, "columns.0"),
            ({"resource": "lead", "filters": {"status": {"a": 1}}}, "filters.status.0"),
            ({"resource": "lead", "filters": {"q": 5}}, "filters.q"),
            (
                {"resource": "lead", "filters": {"created_after": "hôm qua"}},
                "filters.created_after",
            ),
            ({"resource": "lead", "filters": {"sort": "-phone"}}, "filters.sort"),
            ({"resource": "lead", "filters": {"q": "x" * 5000}}, "filters"),
            ({"resource": "lead", "filters": {"score": 2**64}}, "filters"),  # was a 500
            ({"resource": "lead", "columns": []}, "columns"),
            ({"resource": "invoice"}, "resource"),
        ],
    )
    async def test_a_filter_or_column_there_is_none_of_is_422_naming_it(
        self, client: httpx.AsyncClient, world: Any, body: dict[str, Any], field: str
    ) -> None:
        response = await client.post(f"{API}/exports", json=body, headers=world.owner.headers)

        assert response.status_code == 422, response.text
        assert field in [e["field"] for e in response.json()["errors"]]


class TestManyRows:
    async def test_thousands_of_rows_go_through_the_cursor_and_many_chunks(
        self,
        committing_client: httpx.AsyncClient,
        database_url: str,
        redis_url: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        owner = await sign_up(committing_client, "committing-export-many")
        conn = await asyncpg.connect(libpq_url(database_url))
        try:
            await conn.execute(
                """INSERT INTO leads (workspace_id, id, full_name, status, source, qualification,
                       score, tags, custom_fields, search_text, created_at, updated_at, version)
                   SELECT $1, gen_random_uuid(), 'Khách hàng số ' || n, 'new', 'import', 'none',
                       0, '{}', '{}', '', now(), now(), 1
                   FROM generate_series(1, 3500) AS n""",
                uuid.UUID(owner["workspace_id"]),
            )
        finally:
            await conn.close()
        monkeypatch.setattr(files, "CHUNK_BYTES", 16 * 1024)  # many chunks from a small file

        export, download = await exported(
            committing_client, owner["headers"],
            {"resource": "lead", "format": "csv", "columns": ["full_name"]},
            database_url, redis_url,
        )  # fmt: skip

        rows = csv_rows(download.content)
        assert export["rows"] == 3500
        assert len(rows) == 3501
        assert {row[0] for row in rows[1:]} == {f"Khách hàng số {n}" for n in range(1, 3501)}
        assert export["size"] > 4 * 16 * 1024
