"""An import of an N-row lead workbook as the worker runs it (dedupe_policy=skip: every row
checked against the workspace's duplicate rules), against openpyxl alone reading the same file
in the same run; and how much the process's memory grew meanwhile, which must not grow with N.

It writes a Vietnamese lead workbook (Họ và tên, SĐT as Excel numbers, Email, Công ty, Tỉnh;
one row in twenty repeats an earlier one, to be skipped), reads it through once with openpyxl
(read-only, values only: the floor under any import's time), then stores it and runs
`app.imports.job.run_import` in-process on a fresh database (`sen_bench_import` on
DATABASE_URL's server, recreated), and prints the seconds, rows/s, the ratio to openpyxl and
the peak resident memory above the process's before the import (sampled every 50 ms).

Run from the repository root:

    .venv/bin/python scripts/bench/import.py --rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import openpyxl

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from export import PeakMemory  # noqa: E402
from leads import DEFAULT_DATABASE_URL, create_owner, recreate_database  # noqa: E402

from app.core import files  # noqa: E402
from app.core.db import make_engine, make_sessionmaker  # noqa: E402
from app.core.jobs import job_context  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.imports import job  # noqa: E402
from app.imports.columns import match_columns  # noqa: E402
from app.imports.models import Import  # noqa: E402

DATABASE = "sen_bench_import"
HEADERS = ["STT", "Họ và tên", "SĐT", "Email", "Công ty", "Tỉnh/Thành phố"]
_FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
_MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Quang", "Thu", "Đức", "Hải"]
_GIVEN = ["Ánh", "Lan", "Tám", "Bình", "Hùng", "Mai", "Dũng", "Hương", "Tuấn", "Linh"]
_PROVINCES = ["Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng", "Cần Thơ", "Hải Phòng", "Huế"]


def write_workbook(path: Path, rows: int) -> None:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADERS)
    for i in range(rows):
        n = i - 7 if i % 20 == 19 else i  # one row in twenty repeats an earlier one
        name = f"{_FAMILY[n % 10]} {_MIDDLE[n // 10 % 8]} {_GIVEN[n // 80 % 10]} {n}"
        company = f"Công ty TNHH {n // 3}" if n % 2 else None
        sheet.append(
            [i + 1, name, 900_000_000 + n, f"khach.{n}@vidu.vn", company, _PROVINCES[n % 6]]
        )
    book.save(path)


def openpyxl_alone(path: Path) -> tuple[float, int]:
    """openpyxl reading every row's values, read-only: what any xlsx import does at least."""
    started = time.perf_counter()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
    book.close()
    return time.perf_counter() - started, count - 1


async def sen_import(url: str, path: Path, workspace_id: uuid.UUID, owner_id: uuid.UUID) -> Any:
    engine = make_engine(url, pool_size=2)
    maker = make_sessionmaker(engine)
    try:
        import_id = uuid.uuid4()
        async with job_context(maker, workspace_id, queue=None) as ctx:
            with path.open("rb") as source:
                stored = await files.store_file(
                    ctx, source, filename=path.name, content_type="application/octet-stream"
                )
            ctx.session.add(
                Import(
                    workspace_id=workspace_id, id=import_id, requested_by=owner_id,
                    resource="lead", filename=path.name, file_id=stored.id, headers=HEADERS,
                    mapping=match_columns("lead", HEADERS).model_dump(mode="json"),
                    dedupe_policy="skip", dry_run=False, status="queued", total_rows=None,
                    processed_rows=0, created=0, updated=0, skipped=0, failed=0,
                )
            )  # fmt: skip
        async with PeakMemory() as memory:
            started = time.perf_counter()
            outcome = await job.run_import(maker, workspace_id, import_id)
            seconds = time.perf_counter() - started
        async with job_context(maker, workspace_id, queue=None) as ctx:
            done = await ctx.session.get(Import, (workspace_id, import_id))
        assert done is not None
        assert outcome == "completed", (outcome, done.error)
        return seconds, memory.grown_mib, done
    finally:
        await engine.dispose()


async def _exact_rules_only(url: str, workspace_id: uuid.UUID) -> None:
    """Turn the fuzzy name rules off: what the exact ones (email, phone) cost alone."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "UPDATE duplicate_rules SET active = false"
            " WHERE workspace_id = $1 AND criteria::text LIKE '%fuzzy%'",
            workspace_id,
        )
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"leads-{args.rows}.xlsx"
    if not path.exists():
        await asyncio.to_thread(write_workbook, path, args.rows)
    url = await recreate_database(args.database_url, DATABASE)
    await upgrade(url)
    workspace_id, owner_id = await create_owner(url)
    if args.exact_rules_only:
        await _exact_rules_only(url, workspace_id)
    floor, rows = await asyncio.to_thread(openpyxl_alone, path)
    assert rows == args.rows
    seconds, grown, done = await sen_import(url, path, workspace_id, owner_id)
    return {
        "rows": args.rows,
        "rules": "exact only" if args.exact_rules_only else "the defaults (exact and fuzzy)",
        "file_mib": round(path.stat().st_size / 2**20, 1),
        "openpyxl_read_seconds": round(floor, 2),
        "import_seconds": round(seconds, 2),
        "rows_per_second": round(args.rows / seconds),
        "ratio_to_openpyxl": round(seconds / floor, 1),
        "memory_grown_mib": round(grown, 1),
        "created": done.created,
        "skipped": done.skipped,
        "failed": done.failed,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--out", type=Path, default=Path(".sen/bench-import"))
    parser.add_argument(
        "--exact-rules-only",
        action="store_true",
        help="turn the default fuzzy name rules off (to see what they cost)",
    )
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
