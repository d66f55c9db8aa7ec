import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Annotated

from fastapi import APIRouter, Request, status
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse

from app.auth.dependencies import Member
from app.core.errors import READ_ERRORS, WRITE_ERRORS, BadRequest, problems
from app.core.routing import CommittingRoute
from app.core.settings import get_settings
from app.core.spreadsheets import XLSX_TYPE
from app.imports import reading, service
from app.imports.columns import ColumnMapping, MappingInvalid
from app.imports.models import Import
from app.imports.schemas import ImportRead
from app.imports.upload import REQUEST_BODY, receive_upload

router = APIRouter(prefix="/imports", tags=["imports"], route_class=CommittingRoute)

ImportID = Annotated[uuid.UUID, PathParam(description="The import's id.")]
UNREADABLE = (
    reading.UnreadableFile,
    reading.NotASpreadsheet,
    reading.NoHeaderRow,
    reading.NoDataRows,
    reading.EncodingUnknown,
    reading.FileTooLarge,
    reading.TooManyRows,
    reading.ExpandsTooFar,
)


_BINARY = {"type": "string", "format": "binary"}


def _read(found: Import) -> ImportRead:
    own = {name: getattr(found, name) for name in ImportRead.model_fields if name != "mapping"}
    return ImportRead.model_validate(
        {**own, "mapping": ColumnMapping.model_validate(found.mapping)}
    )


@router.post(
    "",
    summary="Import leads, contacts or accounts from a spreadsheet",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=REQUEST_BODY,
    responses=problems(*WRITE_ERRORS, BadRequest, MappingInvalid, *UNREADABLE),
)
async def create_import(ctx: Member, request: Request) -> ImportRead:
    """Upload an .xlsx or .csv file (multipart: `file`, `resource`, optional `mapping`,
    `dedupe_policy`, `dry_run`). It is checked at once: not a spreadsheet, no header row or a
    bad mapping is a 422, too large or a zip bomb a 413. Then a worker saves its rows as you,
    in batches: poll `GET /imports/{id}` for the progress, and download the rows that failed
    from `GET /imports/{id}/errors` once it has finished. Blank rows are ignored."""
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="sen-upload-") as directory:
        upload = await receive_upload(request, Path(directory), max_bytes=settings.import_max_bytes)
        found = await service.request_import(
            ctx,
            upload.path,
            filename=upload.filename,
            resource=upload.options.resource.value,
            mapping=upload.options.mapping,
            dedupe_policy=upload.options.dedupe_policy,
            dry_run=upload.options.dry_run,
        )
    return _read(found)


@router.get(
    "/{import_id}",
    summary="Get an import's progress",
    responses=problems(*READ_ERRORS, service.ImportNotFound),
)
async def get_import(import_id: ImportID, ctx: Member) -> ImportRead:
    """Its status (`queued`, `running`, `completed`, `failed`) and counts so far, updated with
    every batch: `processed_rows` out of `total_rows` is the progress bar. Visible to whoever
    started it, and to owners and admins."""
    return _read(await service.get_import(ctx, import_id))


@router.get(
    "/{import_id}/errors",
    summary="Download the rows an import could not save",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An .xlsx of the failed rows as the file had them, with the file's "
            "headers and the reason in a last column, `Lỗi / Error`",
            "content": {
                XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}, "example": ""}
            },
        },
        **problems(*READ_ERRORS, service.ImportNotFound, service.ImportNotFinished),
    },
)
async def download_import_errors(import_id: ImportID, ctx: Member) -> StreamingResponse:
    """409 `import_not_finished` while it is queued or running. Fix the rows and import this
    file again."""
    target = tempfile.TemporaryFile()  # noqa: SIM115  # closed once the response has sent it
    try:
        await service.write_errors(ctx, import_id, target)
    except BaseException:
        target.close()
        raise
    size = target.tell()
    target.seek(0)
    return StreamingResponse(
        _chunks(target),
        media_type=XLSX_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="import-errors-{import_id}.xlsx"',
            "Content-Length": str(size),
        },
    )


async def _chunks(source: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(source.read, 1 << 16):
            yield chunk
    finally:
        source.close()
