"""An import as the worker runs it: the stored file fetched to a temporary file, its rows read
off the event loop (openpyxl and csv are blocking), and saved a batch per transaction as the
member who asked. Each batch commits its rows with the progress that counts them, so a run
cut off anywhere starts again after the last committed batch, repeating no row."""

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import asyncpg
from arq.connections import ArqRedis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import files
from app.core.jobs import job_context
from app.core.settings import get_settings
from app.imports import service
from app.imports.reading import Row, Sheet, UnreadableFile
from app.imports.rows import TABLES


def _take(rows: Iterator[Row], count: int) -> list[Row]:
    return list(islice(rows, count))


def _skip(rows: Iterator[Row], count: int) -> None:
    for _ in islice(rows, count):
        pass


def _count(sheet: Sheet) -> int:
    return sum(1 for _ in sheet.rows())


async def _fetch(
    maker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    info: files.FileInfo,
    target: Path,
) -> None:
    async def open_session() -> AsyncSession:
        return maker()

    with target.open("wb") as out:
        async for chunk in files.file_content(open_session, workspace_id, info):
            out.write(chunk)


async def _refresh_statistics(maker: async_sessionmaker[AsyncSession], resource: str) -> None:
    """ANALYZE the table the import fills, after its first batch and each time its rows have
    doubled since: the duplicate look-ups are planned by the table's statistics, and a
    workspace's rows that PostgreSQL has not counted yet look like a few, so the planner scans
    the workspace's rows instead of the trigram index, once per row checked (on a fresh table,
    10,000 rows took 120 s instead of ~10). Autovacuum would get there later, and is off on
    some servers. It runs as the connecting role, outside any workspace's transaction (it
    reads no tenant's data into the app; a role that may not analyze the table gets a warning
    and nothing happens)."""
    table = TABLES[resource]
    async with maker.kw["bind"].connect() as connection:
        await connection.execute(text(f"ANALYZE {table}"))
        await connection.commit()


async def _save_batch(
    maker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    import_id: uuid.UUID,
    plan: service.Plan,
    queue: ArqRedis | None,
    offset: int,
    batch: list[Row],
) -> bool:
    try:
        async with job_context(maker, workspace_id, plan.actor, queue=queue) as ctx:
            return await service.import_batch(ctx, import_id, offset, batch)
    except (DBAPIError, asyncpg.PostgresError):  # a row's statement failed: a savepoint per row
        async with job_context(maker, workspace_id, plan.actor, queue=queue) as ctx:
            return await service.import_batch(ctx, import_id, offset, batch, careful=True)


async def run_import(
    maker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    import_id: uuid.UUID,
    *,
    queue: ArqRedis | None = None,
) -> str:
    """Run one queued import to its end (or resume one whose worker died); what it came to.
    A file that turns out unreadable, or any other failure, ends it `failed` with the reason,
    in a transaction of its own."""
    async with job_context(maker, workspace_id, queue=queue) as ctx:
        plan = await service.start_import(ctx, import_id)
    if plan is None:
        return "not queued"
    try:
        done = await _run(maker, workspace_id, import_id, plan, queue)
    except (UnreadableFile, service.ImportCannotRun) as error:
        async with job_context(maker, workspace_id, queue=queue) as ctx:
            await service.record_failure(ctx, import_id, str(error))
        return "failed"
    except Exception as error:
        async with job_context(maker, workspace_id, queue=queue) as ctx:
            reason = f"Could not be imported ({type(error).__name__})"
            await service.record_failure(ctx, import_id, reason)
        raise
    return "completed" if done else "superseded"


async def _run(
    maker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    import_id: uuid.UUID,
    plan: service.Plan,
    queue: ArqRedis | None,
) -> bool:
    batch_rows = get_settings().import_batch_rows
    with tempfile.TemporaryDirectory(prefix="sen-import-") as directory:
        path = Path(directory) / "upload"
        await _fetch(maker, workspace_id, plan.file, path)
        sheet = await asyncio.to_thread(service.open_upload, path, plan.filename)
        try:
            if plan.total_rows is None:  # a CSV, or a workbook that doesn't say
                total = await asyncio.to_thread(_count, sheet)
                async with job_context(maker, workspace_id, queue=queue) as ctx:
                    await service.set_total_rows(ctx, import_id, total)
            rows = sheet.rows()
            offset = plan.processed_rows
            await asyncio.to_thread(_skip, rows, offset)  # saved by an earlier run
            analyzed_at = 0
            batch = await asyncio.to_thread(_take, rows, batch_rows)
            while batch:
                # The next batch is read while this one is saved (mostly waiting on the
                # database); a run cut off here reads it again from the file.
                reading = asyncio.ensure_future(asyncio.to_thread(_take, rows, batch_rows))
                try:
                    saved = await _save_batch(
                        maker, workspace_id, import_id, plan, queue, offset, batch
                    )
                except BaseException:
                    await asyncio.gather(reading, return_exceptions=True)  # the file's reader
                    raise
                if not saved:
                    await asyncio.gather(reading, return_exceptions=True)
                    return False  # another run holds it now
                offset += len(batch)
                batch = await reading
                if offset >= 2 * analyzed_at:
                    await _refresh_statistics(maker, plan.resource)
                    analyzed_at = offset
        finally:
            sheet.close()
    async with job_context(maker, workspace_id, queue=queue) as ctx:
        await service.finish_import(ctx, import_id)
    return True
