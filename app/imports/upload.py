"""An import's multipart upload, read from the request stream to a temporary file with
SEN_IMPORT_MAX_BYTES enforced as the bytes arrive: a file too large is a 413 `file_too_large`
as soon as it passes the limit, never a body held in memory or a full disk."""

import asyncio
import shutil
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import BaseModel, ValidationError
from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from app.core.errors import BadRequest, Unprocessable
from app.core.settings import Settings
from app.imports.reading import FileTooLarge
from app.imports.schemas import DedupePolicy, ImportResource

# The form's other fields and the multipart framing, on top of the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
MAPPING_MAX_BYTES = 16 * 1024


class ImportOptions(BaseModel):
    """The form fields beside the file."""

    resource: ImportResource
    mapping: dict[str, str | None] | None = None
    dedupe_policy: DedupePolicy = DedupePolicy.skip
    dry_run: bool = False


class Upload(BaseModel):
    path: Path
    filename: str
    options: ImportOptions


def _too_large(max_bytes: int) -> FileTooLarge:
    return FileTooLarge(f"The file has more than {max_bytes} bytes; at most {max_bytes} are taken.")


async def _limited(chunks: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise _too_large(limit - FORM_OVERHEAD_BYTES)
        yield chunk


def _options(fields: dict[str, Any]) -> ImportOptions:
    raw = dict(fields)
    mapping = raw.get("mapping")
    if isinstance(mapping, str):
        if not mapping.strip():
            raw.pop("mapping")
        elif len(mapping) > MAPPING_MAX_BYTES:
            raise Unprocessable([{"field": "mapping", "message": "at most 16 KiB of JSON"}])
        else:
            try:
                raw["mapping"] = orjson.loads(mapping)
            except orjson.JSONDecodeError:
                raise Unprocessable(
                    [{"field": "mapping", "message": 'a JSON object {"header": "field"}'}]
                ) from None
    try:
        return ImportOptions.model_validate(raw)
    except ValidationError as error:
        raise Unprocessable(
            [
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                for e in error.errors()
            ]
        ) from None


def _copy(source: IO[bytes], path: Path) -> None:
    source.seek(0)
    with path.open("wb") as target:
        shutil.copyfileobj(source, target)


async def receive_upload(request: Request, directory: Path, *, max_bytes: int) -> Upload:
    """The uploaded `file` saved under `directory`, with the form's options checked (422)."""
    kind, _ = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data":
        raise BadRequest("Send a multipart/form-data body with the spreadsheet as `file`")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + FORM_OVERHEAD_BYTES:
        raise _too_large(max_bytes)
    stream = _limited(request.stream(), max_bytes + FORM_OVERHEAD_BYTES)
    parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=10)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise BadRequest(f"The multipart body is malformed: {error.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Unprocessable([{"field": "file", "message": "attach the .xlsx or .csv file"}])
        if upload.size is not None and upload.size > max_bytes:
            raise _too_large(max_bytes)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        options = _options(fields)
        path = directory / f"upload-{uuid.uuid4().hex}"
        await asyncio.to_thread(_copy, upload.file, path)  # up to the limit: off the loop
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        filename = "".join(c for c in name if c.isprintable())[:255] or "upload"
        return Upload(path=path, filename=filename, options=options)
    finally:
        await form.close()


REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "resource"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            # The default: SEN_IMPORT_MAX_BYTES may set another.
                            "maxLength": Settings.model_fields["import_max_bytes"].default,
                            "description": "The .xlsx workbook (its first sheet) or .csv file "
                            "(UTF-8, UTF-16, cp1258 or cp1252; `,` `;` or tab), at most "
                            "SEN_IMPORT_MAX_BYTES. The first non-blank row is the header row.",
                        },
                        "resource": {"type": "string", "enum": [r.value for r in ImportResource]},
                        "mapping": {
                            "type": "string",
                            "maxLength": MAPPING_MAX_BYTES,
                            "description": 'Optional JSON object {"header": "field"}; a field '
                            'of null or "" leaves that column out. Headers it doesn\'t name '
                            "are matched by their name, in Vietnamese or English.",
                        },
                        "dedupe_policy": {
                            "type": "string",
                            "enum": [p.value for p in DedupePolicy],
                            "default": "skip",
                            "description": "A row the duplicate rules match: `skip` it, "
                            "`update` the record it matches with its non-blank values, or "
                            "`create` it anyway (a `block` rule still refuses it).",
                        },
                        "dry_run": {
                            "type": "boolean",
                            "default": False,
                            "description": "Validate and count only; nothing is written.",
                        },
                    },
                },
                "example": {
                    "file": "khach-hang.xlsx",
                    "resource": "lead",
                    "mapping": '{"SĐT": "phone", "Ghi chú khác": null}',
                    "dedupe_policy": "skip",
                    "dry_run": False,
                },
            }
        },
    }
}
