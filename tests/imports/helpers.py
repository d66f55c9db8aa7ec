"""Import files made in the test, posted to the API and run by a real worker."""

import io
from typing import Any

import httpx
import openpyxl

from tests.factories import API
from tests.worker_harness import eventually, running_worker

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sheet_rows(content: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def upload(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    *,
    filename: str = "khach-hang.xlsx",
    **fields: str,
) -> httpx.Response:
    kind = XLSX if filename.endswith(".xlsx") else "text/csv"
    return await http.post(
        f"{API}/imports",
        headers=headers,
        files={"file": (filename, content, kind)},
        data={"resource": "lead", **fields},
    )


async def imported(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    database_url: str,
    redis_url: str,
    *,
    filename: str = "khach-hang.xlsx",
    **fields: str,
) -> dict[str, Any]:
    """Upload a file (202), let a real worker run the import, and return it finished."""
    asked = await upload(http, headers, content, filename=filename, **fields)
    assert asked.status_code == 202, asked.text
    state: dict[str, Any] = dict(asked.json())

    async def finished() -> bool:
        state.update((await http.get(f"{API}/imports/{state['id']}", headers=headers)).json())
        return state["status"] in ("completed", "failed")

    async with running_worker(database_url, redis_url):
        assert await eventually(finished, seconds=60), state
    return state


async def leads(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, "sort": "created_at"}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get(f"{API}/leads", headers=headers, params=params)).json()
        found += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return found
