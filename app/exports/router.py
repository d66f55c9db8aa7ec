import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import Member
from app.core import files
from app.core.errors import READ_ERRORS, WRITE_ERRORS, problems
from app.core.idempotency import Idempotent
from app.core.routing import CommittingRoute
from app.core.spreadsheets import CSV_TYPE, XLSX_TYPE
from app.exports import service
from app.exports.models import Export
from app.exports.schemas import ExportCreate, ExportRead, HeaderLanguage

router = APIRouter(prefix="/exports", tags=["exports"], route_class=CommittingRoute)

ExportID = Annotated[uuid.UUID, Path(description="The export's id.")]


async def _read(ctx: Member, export: Export) -> ExportRead:
    info = None
    if export.file_id is not None:
        info = await files.file_info(ctx, export.file_id)
    own = {name: getattr(export, name) for name in ExportRead.model_fields if hasattr(export, name)}
    filename, size = (info.filename, info.size) if info else (None, None)
    return ExportRead.model_validate({**own, "filename": filename, "size": size})


@router.post(
    "",
    summary="Export records to a spreadsheet",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(*WRITE_ERRORS),
)
async def create_export(
    body: ExportCreate,
    ctx: Member,
    _: Idempotent,
    lang: Annotated[
        HeaderLanguage, Query(description="The headers' language: `vi` for Vietnamese.")
    ] = HeaderLanguage.en,
) -> ExportRead:
    """Queue an export of the leads, contacts, accounts or deals you can see that match
    `filters` (the list endpoint's), as xlsx or csv (UTF-8 with BOM). Poll
    `GET /exports/{id}` until `completed`, then download `GET /exports/{id}/file`. A value a
    spreadsheet would run as a formula is written as plain text."""
    export = await service.request_export(ctx, body, lang=lang.value)
    return await _read(ctx, export)


@router.get(
    "/{export_id}",
    summary="Get an export",
    responses=problems(*READ_ERRORS, service.ExportNotFound),
)
async def get_export(export_id: ExportID, ctx: Member) -> ExportRead:
    """Its status (`queued`, `running`, `completed`, `failed`), rows written and when its file
    expires. Visible to whoever asked for it, and to owners and admins."""
    return await _read(ctx, await service.get_export(ctx, export_id))


_EXAMPLE_CSV = "\ufeffFull name,Phone,Status\r\nNguyễn Văn Ánh,0912 345 678,new\r\n"


@router.get(
    "/{export_id}/file",
    summary="Download an export's file",
    response_class=Response,
    responses={
        200: {
            "description": "The spreadsheet, as an attachment named after the resource and date",
            "content": {
                XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}, "example": ""},
                CSV_TYPE: {"schema": {"type": "string"}, "example": _EXAMPLE_CSV},
            },
        },
        **problems(
            *READ_ERRORS,
            service.ExportNotFound,
            service.ExportNotReady,
            service.ExportFailed,
            service.ExportExpired,
        ),
    },
)
async def download_export(export_id: ExportID, ctx: Member, request: Request) -> Response:
    """409 `export_not_ready` while it is queued or running, 409 `export_failed` if it
    failed, 410 `export_expired` once its file was deleted (SEN_EXPORT_TTL_HOURS)."""
    info = await service.file_of(ctx, export_id)
    return _attachment(request, ctx.workspace_id, info)


def _attachment(request: Request, workspace_id: uuid.UUID, info: files.FileInfo) -> Response:
    async def open_session() -> AsyncSession:
        # The app's session maker (a test's own session in the suite), as for a request.
        session: AsyncSession = await request.app.state.open_session(request)
        return session

    return StreamingResponse(
        files.file_content(open_session, workspace_id, info),
        media_type=info.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{info.filename}"',
            "Content-Length": str(info.size),
        },
    )
