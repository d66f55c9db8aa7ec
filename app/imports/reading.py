"""Reading an import file (.xlsx or .csv) as a header row and data rows, in bounded memory.

A file Sen cannot read is refused with an `UnreadableFile` whose `code` says why; the API
answers it as a 413/422 problem and a job stores it as the reason it `failed`. Nothing here
touches the database."""

import codecs
import csv
import re
import unicodedata
import zipfile
from collections.abc import Generator, Iterable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, ClassVar, Self
from xml.etree.ElementTree import ParseError

import openpyxl

from app.core.errors import SenError

CellValue = str | int | float | bool | date | datetime | time | timedelta | None
Row = tuple[int, dict[str, CellValue]]

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # .xls, and any password-protected .xlsx
# Sheet XML compresses 5-30x, very repetitive sheets ~100x; zeros or one repeated cell, 1000x.
MAX_COMPRESSION_RATIO = 200
_RATIO_CHECKED_FROM = 1024 * 1024  # tiny entries (styles, rels) may compress oddly; harmless
# Excel's error values, cached in a formula cell: no data, read as blank.
_EXCEL_ERRORS = frozenset({"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!"})
_DELIMITERS = (",", ";", "\t")
_SPACES = re.compile(r"\s+")
_VOWELS = frozenset("aăâeêioôơuưyAĂÂEÊIOÔƠUƯY")


class UnreadableFile(SenError):
    status, code, title = 422, "unreadable_file", "The file cannot be imported"


class NotASpreadsheet(UnreadableFile):
    code, title = "not_a_spreadsheet", "The file is not an .xlsx workbook or a CSV file"


class NoHeaderRow(UnreadableFile):
    code, title = "no_header_row", "The file has no header row"


class NoDataRows(UnreadableFile):
    code, title = "no_data_rows", "The file has a header row but no rows under it"


class EncodingUnknown(UnreadableFile):
    code, title = "encoding_unknown", "The CSV file's text encoding is not recognised"


class FileTooLarge(UnreadableFile):
    status, code, title = 413, "file_too_large", "The file is too large"


class TooManyRows(UnreadableFile):
    status, code, title = 413, "too_many_rows", "The file has too many rows"


class ExpandsTooFar(UnreadableFile):
    status, code, title = 413, "expands_too_far", "The workbook expands too far when unzipped"


class Sheet:
    """The first worksheet of a workbook, or a CSV file: `headers`, then `rows()` (iterating
    a Sheet is the same), each `(row number as Excel shows it, {header: value})`, blank rows
    skipped. Each `rows()` call reads the file again from the top, lazily. Use it in a `with`
    block (or call `close()`): a workbook holds its file open."""

    kind: ClassVar[str]

    def __init__(self, *, max_rows: int) -> None:
        self.max_rows = max_rows
        self.headers: list[str] = []  # the header row's non-blank cells, in column order
        self.header_row = 0
        self.declared_rows: int | None = None  # the workbook's own count, when it says one
        self._columns: list[str] = []  # one per column up to the last header; "" for blanks

    def _raw_rows(self) -> Generator[tuple[int, list[CellValue]], None, None]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Find the header row (the first non-blank one) and make sure a data row follows."""
        raw = self._raw_rows()
        try:
            for number, cells in raw:
                if _is_blank(cells):
                    continue
                self.header_row, self._columns = number, _headers(cells)
                self.headers = [h for h in self._columns if h]
                break
            else:
                raise NoHeaderRow("The file is empty: no row has a value.")
            width = len(self._columns)
            if all(_is_blank(cells[:width]) for _, cells in raw):
                raise NoDataRows(f"Only the header row (row {self.header_row}) has values.")
        finally:
            raw.close()

    def rows(self) -> Iterator[Row]:
        """The data rows, blank ones skipped; TooManyRows when they pass `max_rows`."""
        width = len(self._columns)
        count = 0
        for number, cells in self._raw_rows():
            if number <= self.header_row:
                continue
            cells = cells[:width]
            if _is_blank(cells):
                continue
            count += 1
            if count > self.max_rows:
                raise TooManyRows(f"More than {self.max_rows} rows; split the file.")
            padded = list(cells) + [None] * (width - len(cells))
            yield number, {h: v for h, v in zip(self._columns, padded, strict=True) if h}

    __iter__ = rows

    def close(self) -> None:
        """Release the file; a closed sheet reads no more rows."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class WorkbookSheet(Sheet):
    kind = "xlsx"

    def __init__(self, path: Path, *, max_rows: int) -> None:
        super().__init__(max_rows=max_rows)
        self._file: BinaryIO = path.open("rb")
        try:
            # A file object, not the path: openpyxl refuses names not ending in .xlsx.
            self._workbook = openpyxl.load_workbook(self._file, read_only=True, data_only=True)
            if not self._workbook.worksheets:
                raise NotASpreadsheet("The workbook has no worksheet.")
            self._sheet = self._workbook.worksheets[0]
            declared = self._sheet.max_row  # from <dimension>, when the writer set it
            if isinstance(declared, int):
                self.declared_rows = declared
            # Writers that leave <dimension> out or wrong would cut rows off: read them all.
            self._sheet.reset_dimensions()
        except UnreadableFile:
            self.close()
            raise
        except Exception as error:  # openpyxl raises KeyError, ValueError, TypeError ...
            self.close()
            raise NotASpreadsheet(f"The workbook is damaged or not an .xlsx file ({error}).")
        if isinstance(declared, int) and declared > max_rows + 1 + 1000:
            # Excel keeps <dimension> accurate: refuse a big file before reading it through
            # (a margin for blank and formatted rows, which are not counted).
            self.close()
            raise TooManyRows(f"About {declared - 1} rows; at most {max_rows} are taken.")

    def _raw_rows(self) -> Generator[tuple[int, list[CellValue]], None, None]:
        try:
            for number, values in enumerate(self._sheet.iter_rows(values_only=True), start=1):
                yield number, [_workbook_value(v) for v in values]
        except (ParseError, zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as error:
            raise NotASpreadsheet(f"The workbook is damaged ({error}).")

    def close(self) -> None:
        workbook = getattr(self, "_workbook", None)
        if workbook is not None:
            workbook.close()
        self._file.close()


class CsvSheet(Sheet):
    kind = "csv"

    def __init__(self, path: Path, *, max_rows: int) -> None:
        super().__init__(max_rows=max_rows)
        self._path = path
        self.encoding = _detect_encoding(path)
        self.delimiter, self._skip_sep_line = _sniff_delimiter(self._lines())

    def _lines(self) -> Iterator[str]:
        # NFC per line: cp1258 (and files from macOS) write tone marks as combining characters;
        # a combining mark never crosses a line.
        with self._path.open(encoding=self.encoding, newline="") as text:
            for line in text:
                yield unicodedata.normalize("NFC", line)

    def _raw_rows(self) -> Generator[tuple[int, list[CellValue]], None, None]:
        lines: Iterable[str] = self._lines()
        if self._skip_sep_line:  # Excel's "sep=;" hint: Excel shows no row for it
            lines = iter(lines)
            next(lines, None)
        reader = csv.reader(lines, delimiter=self.delimiter)
        try:
            for number, cells in enumerate(reader, start=1):
                yield number, [(c.strip() or None) for c in cells]
        except csv.Error as error:
            raise NotASpreadsheet(f"The CSV file is malformed near row {reader.line_num}: {error}")


def open_sheet(
    path: Path,
    filename: str,
    *,
    max_rows: int,
    max_unzipped_bytes: int,
    max_bytes: int | None = None,
) -> Sheet:
    """The sheet of an uploaded file: an .xlsx workbook (by content: a zip) or else CSV text.
    Refused with an UnreadableFile subclass: file_too_large (over `max_bytes`), expands_too_far
    (a zip bomb, judged from the zip's directory before anything is unzipped),
    not_a_spreadsheet (.xls, a damaged workbook, a binary file), encoding_unknown,
    no_header_row, no_data_rows, too_many_rows (when the workbook says so up front; otherwise
    while `rows()` reads)."""
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise FileTooLarge(f"The file has {size} bytes; at most {max_bytes} are taken.")
    with path.open("rb") as handle:
        head = handle.read(8)
    name = filename.lower()
    sheet: Sheet
    if head.startswith(ZIP_MAGIC):
        _check_zip(path, max_unzipped_bytes)
        sheet = WorkbookSheet(path, max_rows=max_rows)
    elif head.startswith(OLE2_MAGIC) or name.endswith(".xls"):
        raise NotASpreadsheet(
            "An old .xls or password-protected workbook: save it as .xlsx without a password."
        )
    elif name.endswith((".xlsx", ".xlsm", ".xltx")):
        raise NotASpreadsheet(f"{filename!r} is named like a workbook but is not one.")
    else:
        sheet = CsvSheet(path, max_rows=max_rows)
    try:
        sheet._prepare()
    except BaseException:
        sheet.close()
        raise
    return sheet


def _check_zip(path: Path, max_unzipped_bytes: int) -> None:
    """Refuse a zip bomb from the sizes the zip's directory declares. They are a sound bound:
    zipfile (which openpyxl reads through) stops each entry at its declared size."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            names = {entry.filename for entry in entries}
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise NotASpreadsheet(f"The file looks like a zip but is damaged ({error}).")
    if "xl/workbook.xml" not in names and not any(n.endswith("/workbook.xml") for n in names):
        raise NotASpreadsheet("A zip file, but not an .xlsx workbook (no xl/workbook.xml).")
    total = sum(entry.file_size for entry in entries)
    if total > max_unzipped_bytes:
        raise ExpandsTooFar(
            f"The workbook unzips to {total} bytes; at most {max_unzipped_bytes} are taken."
        )
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size >= _RATIO_CHECKED_FROM and ratio > MAX_COMPRESSION_RATIO:
            raise ExpandsTooFar(
                f"{entry.filename} is compressed {ratio:.0f}:1, like a zip bomb and not like "
                "a sheet."
            )


def _detect_encoding(path: Path) -> str:
    """UTF-8 (BOM or not), UTF-16 (BOM, or NULs between ASCII letters), then what Vietnamese
    Windows writes (cp1258), then Western Windows (cp1252)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head[1:40:2].count(0) > 10 and head[0:40:2].count(0) == 0:
        return "utf-16-le"
    if head[0:40:2].count(0) > 10 and head[1:40:2].count(0) == 0:
        return "utf-16-be"
    if b"\x00" in head:
        raise NotASpreadsheet("A binary file, not CSV text.")
    if _decodes(path, "utf-8"):
        return "utf-8"
    if _decodes(path, "cp1258") and _reads_as_vietnamese(path):
        return "cp1258"
    if _decodes(path, "cp1252"):
        return "cp1252"
    raise EncodingUnknown("Save the file as CSV UTF-8 (Excel: File > Save As > CSV UTF-8).")


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 16):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _reads_as_vietnamese(path: Path) -> bool:
    """cp1258 and cp1252 decode mostly the same bytes. In cp1258 text a tone mark (a combining
    character) always follows a vowel; where one would follow anything else, the bytes were
    cp1252's Ì Ò Þ ì ò ("Nicolò") instead. (Text both read alike, such as Portuguese "São",
    is taken as Vietnamese "Săo": this is a Vietnamese CRM.)"""
    with path.open(encoding="cp1258", newline="") as text:
        previous = " "
        while chunk := text.read(1 << 16):
            for char in chunk:
                if unicodedata.combining(char) and previous not in _VOWELS:
                    return False
                previous = char
    return True


def _sniff_delimiter(lines: Iterator[str]) -> tuple[str, bool]:
    """The delimiter the header line uses most (`,` when it has none), and whether the file
    starts with Excel's `sep=X` line."""
    try:
        for line in lines:
            if not line.strip():
                continue
            if line.lower().startswith("sep=") and len(line.strip()) == 5:
                return line.strip()[4], True
            outside_quotes = "".join(line.split('"')[::2])
            counts = {d: outside_quotes.count(d) for d in _DELIMITERS}
            best = max(_DELIMITERS, key=lambda d: counts[d])
            return (best if counts[best] else ","), False
    finally:
        if hasattr(lines, "close"):
            lines.close()
    return ",", False


def _workbook_value(value: Any) -> CellValue:
    if isinstance(value, str):
        text = unicodedata.normalize("NFC", value.strip())
        return None if not text or text in _EXCEL_ERRORS else text
    if isinstance(value, datetime) and value.time() == time(0):
        # openpyxl reads every date-formatted cell as a datetime; at midnight it is a date.
        return value.date()
    return value  # type: ignore[no-any-return]  # openpyxl's cell values are these types


def _is_blank(cells: Iterable[CellValue]) -> bool:
    return all(c is None or c == "" for c in cells)


def _headers(cells: list[CellValue]) -> list[str]:
    """Header texts with spaces collapsed; a repeated one gets " (2)", " (3)" so each names one
    column; a blank one stays "" (that column is not read)."""
    headers: list[str] = []
    seen: set[str] = set()
    for cell in cells:
        text = "" if cell is None else _SPACES.sub(" ", _as_text(cell)).strip()
        if text:
            candidate, n = text, 1
            while candidate in seen:
                n += 1
                candidate = f"{text} ({n})"
            text = candidate
            seen.add(text)
        headers.append(text)
    while headers and not headers[-1]:
        headers.pop()
    return headers


def _as_text(value: CellValue) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)
