"""Imports: an uploaded .xlsx or .csv checked in the request (readable, a header row, columns
matched), kept in the database (app/core/files.py), and saved row by row by the worker as the
member who asked, a batch per transaction with its progress (app/imports/job.py)."""

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel
from sqlalchemy import insert, or_, select, update

from app.auth.dependencies import acting_user
from app.core import files, spreadsheets, sql
from app.core.context import Actor, Ctx
from app.core.errors import Conflict, NotFound
from app.core.events import emit
from app.core.jobs import enqueue_after_commit, requeue_stuck
from app.core.models import table_of, utcnow
from app.core.settings import get_settings
from app.core.workspace_settings import with_settings_version
from app.duplicates import service as duplicates_service
from app.imports.columns import ColumnMapping, MappingInvalid, match_columns
from app.imports.models import Import, ImportFailure
from app.imports.reading import CellValue, NotASpreadsheet, Row, Sheet, open_sheet
from app.imports.rows import RowFailed, import_new_rows, import_row, in_batches, validated
from app.imports.schemas import DedupePolicy, ImportStatus

ERROR_HEADER = "Lỗi / Error"
_IMPORTS = table_of(Import)
_FAILURES = table_of(ImportFailure)


class ImportNotFound(NotFound):
    code, title = "import_not_found", "Import not found"


class ImportNotFinished(Conflict):
    code, title = "import_not_finished", "The import is not finished yet"


class ImportCannotRun(Exception):
    """An import that can no longer run as asked (its requester is gone): it fails."""


def open_upload(path: Path, filename: str) -> Sheet:
    """The upload as a sheet, refused (UnreadableFile) past the SEN_IMPORT_* limits. Blocking:
    call it in a thread."""
    settings = get_settings()
    return open_sheet(
        path,
        filename,
        max_rows=settings.import_max_rows,
        max_unzipped_bytes=settings.import_max_unzipped_bytes,
        max_bytes=settings.import_max_bytes,
    )


def _checked_mapping(
    resource: str, headers: list[str], mapping: dict[str, str | None] | None
) -> ColumnMapping:
    chosen = match_columns(resource, headers, mapping)
    if chosen.missing:
        # Every row would fail: say so now, with the columns there are to choose from.
        raise MappingInvalid(
            [
                {
                    "field": "mapping",
                    "message": f"no column fills `{field}` (columns: {', '.join(headers)})",
                }
                for field in chosen.missing
            ]
        )
    return chosen


async def request_import(
    ctx: Ctx,
    path: Path,
    *,
    filename: str,
    resource: str,
    mapping: dict[str, str | None] | None,
    dedupe_policy: DedupePolicy,
    dry_run: bool,
) -> Import:
    """Queue an import of the file at `path`: refused now (413/422) if it is not a readable
    spreadsheet with a header row, or if no column fills the resource's required field; the
    worker saves its rows after this commits."""
    sheet = await asyncio.to_thread(open_upload, path, filename)
    try:
        if any("\x00" in header for header in sheet.headers):
            raise NotASpreadsheet("A header holds a NUL character: this is not a text file.")
        chosen = _checked_mapping(resource, sheet.headers, mapping)
        estimate = _estimated_rows(sheet)
    finally:
        sheet.close()
    with path.open("rb") as source:
        stored = await files.store_file(
            ctx, source, filename=filename[:255], content_type="application/octet-stream"
        )
    row = Import(
        workspace_id=ctx.workspace_id,
        requested_by=ctx.actor.user_id,
        resource=resource,
        filename=filename[:255],
        file_id=stored.id,
        headers=sheet.headers,
        mapping=chosen.model_dump(mode="json"),
        dedupe_policy=dedupe_policy.value,
        dry_run=dry_run,
        status=ImportStatus.queued,
        total_rows=estimate,
        processed_rows=0,
        created=0,
        updated=0,
        skipped=0,
        failed=0,
    )
    ctx.session.add(row)
    await ctx.session.flush()
    asked = {"resource": resource, "filename": row.filename, "dry_run": dry_run}
    emit(ctx, "import.requested", "import", row.id, asked)
    _nudge_worker(ctx, row.id, reason="asked")
    return row


def _estimated_rows(sheet: Sheet) -> int | None:
    """Data rows as the workbook's dimension tells them (blank rows included): the progress
    bar's length until the job has counted."""
    if sheet.declared_rows is None or sheet.declared_rows <= sheet.header_row:
        return None
    return sheet.declared_rows - sheet.header_row


def _nudge_worker(ctx: Ctx, import_id: uuid.UUID, *, reason: str) -> None:
    enqueue_after_commit(
        ctx,
        "run_import",
        str(ctx.workspace_id),
        str(import_id),
        job_id=f"import:{import_id}:{reason}",
    )


async def get_import(ctx: Ctx, import_id: uuid.UUID) -> Import:
    """The import if the caller asked for it or is an owner or admin; else 404."""
    found = await ctx.session.get(Import, (ctx.workspace_id, import_id))
    if found is None or not (ctx.actor.is_admin or found.requested_by == ctx.actor.user_id):
        raise ImportNotFound()
    return found


@dataclass(frozen=True)
class Plan:
    """What the job needs to run an import outside any transaction."""

    file: files.FileInfo
    filename: str
    actor: Actor
    processed_rows: int
    total_rows: int | None
    resource: str


async def start_import(ctx: Ctx, import_id: uuid.UUID) -> Plan | None:
    """Mark a queued import running, in a short transaction of its own so its status shows;
    None when it is not queued (finished, or running elsewhere): the job does nothing."""
    found = await ctx.session.get(Import, (ctx.workspace_id, import_id), with_for_update=True)
    if found is None or found.status != ImportStatus.queued:
        return None
    actor = await acting_user(ctx.session, ctx.workspace_id, found.requested_by)
    if actor is None:
        raise ImportCannotRun("Its requester is no longer an active member of the workspace")
    info = None if found.file_id is None else await files.file_info(ctx, found.file_id)
    if info is None:
        raise ImportCannotRun("Its file is gone")
    found.status, found.started_at = ImportStatus.running, found.started_at or utcnow()
    await ctx.session.flush()
    return Plan(info, found.filename, actor, found.processed_rows, found.total_rows, found.resource)


async def set_total_rows(ctx: Ctx, import_id: uuid.UUID, total: int) -> None:
    """The rows the job counted: the progress bar's length."""
    await ctx.session.execute(
        update(_IMPORTS)
        .where(_IMPORTS.c.workspace_id == ctx.workspace_id, _IMPORTS.c.id == import_id)
        .values(total_rows=total)
    )


def _json_cell(value: CellValue) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")  # PostgreSQL's JSON can't hold one
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return value


async def import_batch(
    ctx: Ctx, import_id: uuid.UUID, offset: int, rows: list[Row], *, careful: bool = False
) -> bool:
    """Save `rows` (the file's data rows from `offset` on) and record what became of them,
    counters and failed rows, in this one transaction. False, saving nothing, when the import
    is not running from exactly `offset` (another run got there first: this one stops). A dry
    run does the same work and rolls the records back, keeping only the counts.

    New records (`skip`, `create`) are checked against the duplicate rules and created a
    batch at once (`import_new_rows`: a few statements for the whole batch, each row's outcome
    as one at a time would give it); an `update`, which writes over records later rows may
    match, goes row by row. A new row's rules refuse it before it writes anything, so the
    batch runs without a savepoint per row (each costs two round trips; an update, which
    writes first, has its own). A statement that fails anyway aborts the whole transaction:
    the caller runs the batch again `careful`, row by row with a savepoint each, so only that
    row fails."""
    state = (
        await ctx.session.execute(
            select(
                _IMPORTS.c.status,
                _IMPORTS.c.processed_rows,
                _IMPORTS.c.mapping,
                _IMPORTS.c.dedupe_policy,
                _IMPORTS.c.dry_run,
            )
            .where(_IMPORTS.c.workspace_id == ctx.workspace_id, _IMPORTS.c.id == import_id)
            .with_for_update()
        )
    ).one_or_none()
    if state is None or state.status != ImportStatus.running or state.processed_rows != offset:
        return False
    ctx = await with_settings_version(ctx)  # the rules and statuses once a batch, not a row
    mapping = ColumnMapping.model_validate(state.mapping)
    policy = DedupePolicy(state.dedupe_policy)
    counts: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    jobs_before = len(ctx.state.jobs)
    trial = await ctx.session.begin_nested() if state.dry_run else None
    if not careful:  # once for the batch (a savepoint rolled back would undo it)
        await duplicates_service.use_trigram_threshold(ctx)

    def failed(number: int, cells: dict[str, CellValue], error: RowFailed) -> None:
        counts["failed"] += 1
        failures.append(
            {
                "workspace_id": ctx.workspace_id,
                "import_id": import_id,
                "row_number": number,
                "cells": {h: _json_cell(v) for h, v in cells.items() if v is not None},
                "reason": str(error)[:2000],
            }
        )

    if not careful and in_batches(mapping, policy):
        valid: list[tuple[Row, BaseModel]] = []
        for row in rows:
            try:
                valid.append((row, validated(mapping, row[1])[0]))
            except RowFailed as error:
                failed(*row, error)
        outcomes = await import_new_rows(ctx, mapping, [data for _, data in valid], policy)
        for ((number, cells), _), outcome in zip(valid, outcomes, strict=True):
            if isinstance(outcome, RowFailed):
                failed(number, cells, outcome)
            else:
                counts[outcome] += 1
        failures.sort(key=lambda f: f["row_number"])
    else:
        for number, cells in rows:
            try:
                data, given = validated(mapping, cells)
                if careful:
                    async with ctx.session.begin_nested():
                        counts[await import_row(ctx, mapping, data, given, policy)] += 1
                else:
                    outcome = await import_row(
                        ctx, mapping, data, given, policy, threshold_set=True
                    )
                    counts[outcome] += 1
            except RowFailed as error:
                failed(number, cells, error)
    if trial is not None:
        await trial.rollback()
        del ctx.state.jobs[jobs_before:]  # what the unsaved records would have set off
    if failures:
        await ctx.session.execute(insert(_FAILURES), failures)
    await ctx.session.execute(
        update(_IMPORTS)
        .where(_IMPORTS.c.workspace_id == ctx.workspace_id, _IMPORTS.c.id == import_id)
        .values(
            processed_rows=_IMPORTS.c.processed_rows + len(rows),
            created=_IMPORTS.c.created + counts["created"],
            updated=_IMPORTS.c.updated + counts["updated"],
            skipped=_IMPORTS.c.skipped + counts["skipped"],
            failed=_IMPORTS.c.failed + counts["failed"],
            updated_at=utcnow(),
        )
    )
    return True


async def finish_import(ctx: Ctx, import_id: uuid.UUID) -> None:
    """Every row is done: completed, its total now exact."""
    found = await ctx.session.get(Import, (ctx.workspace_id, import_id), with_for_update=True)
    if found is None or found.status != ImportStatus.running:
        return
    found.status, found.total_rows = ImportStatus.completed, found.processed_rows
    found.finished_at = utcnow()
    emit(ctx, "import.completed", "import", found.id, _counts(found))
    await _let_go_of_file(ctx, found)


def _counts(found: Import) -> dict[str, Any]:
    counted = ("total_rows", "processed_rows", "created", "updated", "skipped", "failed")
    return {"resource": found.resource, **{name: getattr(found, name) for name in counted}}


async def record_failure(ctx: Ctx, import_id: uuid.UUID, reason: str) -> None:
    """The import failed as a whole: say why (the rows saved before stay saved)."""
    found = await ctx.session.get(Import, (ctx.workspace_id, import_id), with_for_update=True)
    if found is None or found.status == ImportStatus.completed:
        return
    found.status, found.error, found.finished_at = ImportStatus.failed, reason[:1000], utcnow()
    emit(ctx, "import.failed", "import", found.id, {**_counts(found), "error": found.error})
    await _let_go_of_file(ctx, found)


async def _let_go_of_file(ctx: Ctx, found: Import) -> None:
    """A finished import reads its upload no more (its failed rows are kept on their own)."""
    file_id, found.file_id = found.file_id, None
    await ctx.session.flush()  # the import lets go of its file before the file goes
    if file_id is not None:
        await files.delete_files(ctx, [file_id])


async def requeue_waiting(
    ctx: Ctx, *, queued_before: datetime, stalled_before: datetime, limit: int = 100
) -> int:
    """The sweep: nudge the worker again for imports still queued (their nudge was lost with
    Redis), and queue again those running whose progress stopped (their worker died): they
    resume after the last batch they committed."""
    stuck = or_(
        (Import.status == ImportStatus.queued) & (Import.updated_at < queued_before),
        (Import.status == ImportStatus.running) & (Import.updated_at < stalled_before),
    )
    return await requeue_stuck(
        ctx, Import, stuck, function="run_import", kind="import", limit=limit
    )


async def write_errors(ctx: Ctx, import_id: uuid.UUID, target: IO[bytes]) -> None:
    """The rows that failed, as the file had them, with why in a last column, as an .xlsx;
    409 until the import has finished."""
    found = await get_import(ctx, import_id)
    if found.status not in (ImportStatus.completed, ImportStatus.failed):
        raise ImportNotFinished(f"It is {found.status}: wait until it has finished")
    writer = spreadsheets.writer_for("xlsx", target, title="errors")
    headers = list(found.headers)
    await asyncio.to_thread(writer.write_rows, [[*headers, ERROR_HEADER]])
    stmt = (
        select(_FAILURES.c.cells, _FAILURES.c.reason)
        .where(_FAILURES.c.workspace_id == ctx.workspace_id, _FAILURES.c.import_id == import_id)
        .order_by(_FAILURES.c.row_number)
    )
    async for batch in sql.stream(ctx, stmt):
        rows = [[row["cells"].get(h) for h in headers] + [row["reason"]] for row in batch]
        await asyncio.to_thread(writer.write_rows, rows)
    await asyncio.to_thread(writer.finish)
