"""Exports: a spreadsheet of the records a member can see, written by the worker as that member
and kept in the database (app/core/files.py) until it expires."""

import asyncio
import tempfile
import typing
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select

from app.auth.dependencies import acting_user
from app.core import files, spreadsheets, sql
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, SenError, Unprocessable
from app.core.events import emit
from app.core.jobs import enqueue_after_commit, requeue_stuck
from app.core.models import utcnow
from app.core.pagination import FilterOn, ListQuery, apply_filters
from app.core.records import Resource, restrict_to_visible
from app.core.search import matches
from app.core.settings import get_settings
from app.core.sql import AnySelect
from app.custom_fields import service as custom_fields
from app.exports.columns import CUSTOM_PREFIX, RESOURCES, header, record_columns
from app.exports.models import Export
from app.exports.schemas import ExportCreate, ExportStatus

# The worker reads and writes this many rows at a time: memory holds one batch, never the file.
BATCH_ROWS = 1000
# Not filters: an export is every matching record, not a page of them.
_PAGING = {"limit", "cursor"}


class ExportNotFound(NotFound):
    code, title = "export_not_found", "Export not found"


class ExportNotReady(Conflict):
    code, title = "export_not_ready", "The export is not finished yet"


class ExportFailed(Conflict):
    code, title = "export_failed", "The export failed"


class ExportExpired(SenError):
    status, code, title = 410, "export_expired", "The export's file has expired"


class ExportCannotRun(Exception):
    """An export that can no longer be written as asked (its requester is gone): it fails."""


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation))


def _filter_errors(error: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(["filters", *(str(p) for p in e["loc"])]), "message": e["msg"]}
        for e in error.errors()
    ]


def list_query(resource: Resource[Any, Any], filters: dict[str, Any]) -> ListQuery:
    """`filters` as the resource's list endpoint reads its query parameters: the same names,
    the same rules (a 422 naming `filters.<name>`). A single value stands for a list of one
    where the list takes several (`"status": "new"`)."""
    model = resource.query
    unknown = [name for name in filters if name not in model.model_fields or name in _PAGING]
    if unknown:
        message = f"not a filter of {resource.name} lists"
        raise Unprocessable([{"field": f"filters.{name}", "message": message} for name in unknown])
    values = {
        name: [value] if _is_list(model.model_fields[name].annotation) and not isinstance(
            value, list
        ) else value
        for name, value in filters.items()
    }  # fmt: skip
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise Unprocessable(_filter_errors(error)) from None


async def _custom_labels(ctx: Ctx, resource: Resource[Any, Any]) -> dict[str, str]:
    return {d.key: d.label for d in await custom_fields.list_definitions(ctx, resource.name)}


async def _checked_columns(
    ctx: Ctx, resource: Resource[Any, Any], columns: list[str] | None
) -> list[str]:
    own = record_columns(resource)
    if columns is None:
        return own
    custom = await _custom_labels(ctx, resource)
    errors = [
        {"field": f"columns.{n}", "message": f"`{column}` is not a {resource.name} column"}
        for n, column in enumerate(columns)
        if column not in own
        and not (column.startswith(CUSTOM_PREFIX) and column.removeprefix(CUSTOM_PREFIX) in custom)
    ]
    if errors:
        raise Unprocessable(errors)
    return columns


async def request_export(ctx: Ctx, data: ExportCreate, *, lang: str) -> Export:
    """Queue an export of the records the caller can see that match `filters`: checked now
    (a bad filter or column is a 422 at once), written by the worker after this commits."""
    resource = RESOURCES[data.resource]
    query = list_query(resource, data.filters)
    columns = await _checked_columns(ctx, resource, data.columns)
    export = Export(
        workspace_id=ctx.workspace_id,
        requested_by=ctx.actor.user_id,
        resource=data.resource.value,
        format=data.format.value,
        lang=lang,
        filters=query.model_dump(mode="json", exclude_unset=True),
        columns=columns,
        status=ExportStatus.queued,
        rows=0,
    )
    ctx.session.add(export)
    await ctx.session.flush()
    asked = {"resource": export.resource, "format": export.format, "filters": export.filters}
    emit(ctx, "export.requested", "export", export.id, asked)
    _nudge_worker(ctx, export.id, reason="asked")
    return export


def _nudge_worker(ctx: Ctx, export_id: uuid.UUID, *, reason: str) -> None:
    enqueue_after_commit(
        ctx,
        "run_export",
        str(ctx.workspace_id),
        str(export_id),
        job_id=f"export:{export_id}:{reason}",
    )


async def get_export(ctx: Ctx, export_id: uuid.UUID, *, for_update: bool = False) -> Export:
    """The export if the caller asked for it or is an owner or admin; else 404."""
    export = await ctx.session.get(
        Export, (ctx.workspace_id, export_id), with_for_update=for_update or None
    )
    if export is None or not (ctx.actor.is_admin or export.requested_by == ctx.actor.user_id):
        raise ExportNotFound()
    return export


async def file_of(ctx: Ctx, export_id: uuid.UUID) -> files.FileInfo:
    """The export's file: 409 while it is being written or if it failed, 410 once expired."""
    export = await get_export(ctx, export_id)
    if export.status == ExportStatus.failed:
        raise ExportFailed(export.error or "The export failed")
    if export.status != ExportStatus.completed:
        raise ExportNotReady(f"It is {export.status}: wait until its status is `completed`")
    expired = export.expires_at is not None and export.expires_at <= utcnow()
    info = None if export.file_id is None or expired else await files.file_info(ctx, export.file_id)
    if info is None:
        raise ExportExpired(f"Files are kept {get_settings().export_ttl_hours} hours: export again")
    return info


async def start_export(ctx: Ctx, export_id: uuid.UUID) -> bool:
    """Mark a queued export running (its own short transaction, so its status shows); False
    when it is not queued (already run, or running elsewhere): the job then does nothing."""
    export = await ctx.session.get(Export, (ctx.workspace_id, export_id), with_for_update=True)
    if export is None or export.status != ExportStatus.queued:
        return False
    export.status, export.started_at = ExportStatus.running, utcnow()
    await ctx.session.flush()
    return True


def _selected(ctx: Ctx, resource: Resource[Any, Any], query: ListQuery, names: list[str]) -> Any:
    """What a list page of `query` would select, every page at once, as the actor sees it."""
    table = resource.table
    stmt: AnySelect = select(*(table.c[name] for name in names))
    stmt = restrict_to_visible(stmt, table, ctx.actor)
    stmt = apply_filters(stmt, query, resource.all_filters, FilterOn(table.c, ctx.workspace_id))
    if query.q and resource.searched and (found := matches(table.c.search_text, query.q)):
        stmt = stmt.where(found)
    if not query.include_deleted:
        stmt = stmt.where(table.c.deleted_at.is_(None))
    column = resource.sorts[query.sort.removeprefix("-")]
    order = (
        (column.desc(), table.c.id.desc()) if query.sort.startswith("-") else (column, table.c.id)
    )
    return stmt.where(table.c.workspace_id == ctx.workspace_id).order_by(*order)


def _reader(column: str) -> Callable[[Any], Any]:
    if column.startswith(CUSTOM_PREFIX):
        key = column.removeprefix(CUSTOM_PREFIX)
        return lambda row: (row["custom_fields"] or {}).get(key)
    return lambda row: row[column]


async def write_export(ctx: Ctx, export_id: uuid.UUID) -> Export | None:
    """Write a running export's file as its requester sees the records now (a sales member
    gets only theirs and their team's), in batches through a server-side cursor, and keep it
    until SEN_EXPORT_TTL_HOURS from now. None if it is not running (nothing to do)."""
    export = await ctx.session.get(Export, (ctx.workspace_id, export_id), with_for_update=True)
    if export is None or export.status != ExportStatus.running:
        return None
    actor = await acting_user(ctx.session, ctx.workspace_id, export.requested_by)
    if actor is None:
        raise ExportCannotRun("Its requester is no longer an active member of the workspace")
    as_requester = replace(ctx, actor=actor)
    resource = RESOURCES[export.resource]
    query = list_query(resource, export.filters)
    custom = await _custom_labels(ctx, resource)
    names = [c for c in export.columns if not c.startswith(CUSTOM_PREFIX)]
    if len(names) < len(export.columns) and "custom_fields" not in names:
        names.append("custom_fields")
    readers = [_reader(column) for column in export.columns]
    rows = 0
    with tempfile.TemporaryFile() as target:
        writer = spreadsheets.writer_for(export.format, target, title=f"{export.resource}s")
        headers = [header(column, export.lang, custom) for column in export.columns]
        await asyncio.to_thread(writer.write_rows, [headers])
        async for batch in sql.stream(
            as_requester, _selected(as_requester, resource, query, names)
        ):
            values = [[read(row) for read in readers] for row in batch]
            # Off the event loop: the worker's other jobs keep running while a sheet is built.
            await asyncio.to_thread(writer.write_rows, values)
            rows += len(batch)
        await asyncio.to_thread(writer.finish)
        target.seek(0)
        now = utcnow()
        stored = await files.store_file(
            ctx,
            target,
            filename=f"{export.resource}s-{now.date().isoformat()}.{export.format}",
            content_type=spreadsheets.content_type(export.format),
        )
    export.status, export.rows, export.file_id = ExportStatus.completed, rows, stored.id
    export.finished_at = now
    export.expires_at = now + timedelta(hours=get_settings().export_ttl_hours)
    emit(ctx, "export.completed", "export", export.id, {"rows": rows})
    await ctx.session.flush()
    return export


async def record_failure(ctx: Ctx, export_id: uuid.UUID, reason: str) -> None:
    """The export failed: say why, so whoever asked sees it instead of waiting forever."""
    export = await ctx.session.get(Export, (ctx.workspace_id, export_id), with_for_update=True)
    if export is None or export.status == ExportStatus.completed:
        return
    export.status, export.error, export.finished_at = ExportStatus.failed, reason[:1000], utcnow()
    emit(ctx, "export.failed", "export", export.id, {"error": export.error})
    await ctx.session.flush()


async def delete_expired_files(ctx: Ctx, *, now: datetime) -> int:
    """Delete the files of exports past their `expires_at` (the export stays, its file gone:
    a download is then 410 `export_expired`). Running it twice deletes nothing more."""
    expired = list(
        await ctx.session.scalars(
            select(Export)
            .where(
                Export.workspace_id == ctx.workspace_id,
                Export.file_id.is_not(None),
                Export.expires_at <= now,
            )
            .with_for_update()
        )
    )
    file_ids = [export.file_id for export in expired if export.file_id is not None]
    for export in expired:
        export.file_id = None
    await ctx.session.flush()  # the exports let go of their files before the files go
    return await files.delete_files(ctx, file_ids)


async def requeue_waiting(
    ctx: Ctx, *, queued_before: datetime, running_before: datetime, limit: int = 100
) -> int:
    """The sweep: nudge the worker again for exports still queued (their nudge was lost with
    Redis), and queue again those running for longer than any job may (their worker died)."""
    stuck = or_(
        (Export.status == ExportStatus.queued) & (Export.created_at < queued_before),
        (Export.status == ExportStatus.running) & (Export.started_at < running_before),
    )
    return await requeue_stuck(
        ctx, Export, stuck, function="run_export", kind="export", limit=limit
    )
