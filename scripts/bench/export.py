"""An export of N leads as the worker writes it (csv and xlsx), against PostgreSQL writing the
same rows as csv itself (`COPY (SELECT …) TO STDOUT`), in the same run; and how much the
process's memory grew while each was written, which must not grow with N.

It loads N leads as `leads.py` does (database `sen_bench_export` on DATABASE_URL's server,
recreated), then runs `app.exports.service.write_export` in-process for one export of every
lead, the owner's default columns, and prints rows/s of each, the Sen/COPY ratio and the peak
resident memory above the process's before each export (sampled every 50 ms).

Run from the repository root:

    .venv/bin/python scripts/bench/export.py --leads 1000000
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

import psutil

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from leads import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    create_owner,
    load_leads,
    recreate_database,
)

from app.core import files  # noqa: E402
from app.core.db import make_engine, make_sessionmaker  # noqa: E402
from app.core.jobs import job_context  # noqa: E402
from app.core.migrate import upgrade  # noqa: E402
from app.exports import service  # noqa: E402
from app.exports.columns import record_columns  # noqa: E402
from app.exports.models import Export  # noqa: E402
from app.leads.service import LEADS  # noqa: E402

DATABASE = "sen_bench_export"


class PeakMemory:
    """The highest resident set size of this process while the block runs, above its start."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> PeakMemory:
        self.task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        self.task.cancel()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def grown_mib(self) -> float:
        return (self.peak - self.start) / 2**20


async def copy_ceiling(url: str, workspace_id: uuid.UUID, out: Path) -> float:
    """PostgreSQL writing the export's rows as csv: the floor under any export's time."""
    import asyncpg

    columns = ", ".join(record_columns(LEADS))
    query = (
        f"SELECT {columns} FROM leads WHERE workspace_id = '{workspace_id}'"
        " AND deleted_at IS NULL ORDER BY created_at DESC, id DESC"
    )
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        await conn.copy_from_query(query, output=str(out), format="csv", header=True)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def sen_export(
    url: str, workspace_id: uuid.UUID, owner_id: uuid.UUID, fmt: str
) -> tuple[float, float, int, int]:
    """(seconds, MiB grown, rows, bytes) of one export written as the worker writes it."""
    engine = make_engine(url, pool_size=2)
    maker = make_sessionmaker(engine)
    try:
        export_id = uuid.uuid4()
        async with job_context(maker, workspace_id, queue=None) as job:
            job.session.add(
                Export(
                    workspace_id=workspace_id, id=export_id, requested_by=owner_id,
                    resource="lead", format=fmt, lang="vi", filters={},
                    columns=record_columns(LEADS), status="running", rows=0,
                )
            )  # fmt: skip
        async with PeakMemory() as memory:
            started = time.perf_counter()
            async with job_context(maker, workspace_id, queue=None) as job:
                written = await service.write_export(job, export_id)
            seconds = time.perf_counter() - started
        assert written is not None
        assert written.file_id is not None
        async with job_context(maker, workspace_id, queue=None) as job:
            info = await files.file_info(job, written.file_id)
        assert info is not None
        return seconds, memory.grown_mib, written.rows, info.size
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    url = await recreate_database(args.database_url, DATABASE)
    await upgrade(url)
    workspace_id, owner_id = await create_owner(url)
    await load_leads(url, args.leads, workspace_id, owner_id)
    args.out.mkdir(parents=True, exist_ok=True)
    ceiling = await copy_ceiling(url, workspace_id, args.out / "copy.csv")
    report: dict[str, Any] = {"leads": args.leads, "copy_csv_seconds": round(ceiling, 2)}
    for fmt in ("csv", "xlsx"):
        seconds, grown, rows, size = await sen_export(url, workspace_id, owner_id, fmt)
        assert rows == args.leads
        report[fmt] = {
            "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds),
            "ratio_to_copy_csv": round(seconds / ceiling, 1),
            "file_mib": round(size / 2**20, 1),
            "memory_grown_mib": round(grown, 1),
        }
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--out", type=Path, default=Path(".sen/bench-export"))
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
