"""A file's row as the field values of a record's create schema.

Excel changes what people typed: "0912345678" becomes the number 912345678, a tax code loses
its leading 0, a date becomes a serial number shown as a date. The values here undo that
where the field says what was meant; what cannot be read as the field wants is passed on as
text, so the schema's validation names the row and the field."""

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from app.accounts.schemas import AccountType
from app.contacts.schemas import Gender
from app.imports.columns import ColumnMapping, header_key
from app.imports.reading import CellValue
from app.leads.schemas import LeadSource

PHONE_FIELDS = frozenset({"phone"})
DATE_FIELDS = frozenset({"birthday"})
INT_FIELDS = frozenset({"score"})
BOOL_FIELDS = frozenset({"do_not_contact"})
LIST_FIELDS = frozenset({"tags"})
TAX_CODE_DIGITS = 10

# Labels people write in a "Nguồn", "Giới tính" or "Loại" column -> the field's value. The
# values themselves ("facebook", "google_ads") are accepted in any case too.
_LABELS: dict[str, dict[str, str]] = {
    "source": {
        "trang web": "website", "web": "website", "fb": "facebook", "google": "google_ads",
        "tong dai": "hotline", "gioi thieu": "referral", "su kien": "event",
        "hoi cho": "event", "hoi thao": "event", "nhap file": "import", "khac": "other",
    },
    "gender": {"nam": "male", "nu": "female", "khac": "other", "m": "male", "f": "female"},
    "type": {
        "khach hang": "customer", "tiem nang": "prospect", "doi tac": "partner",
        "nha cung cap": "supplier", "doi thu": "competitor", "khac": "other",
    },
}  # fmt: skip
for _field, _enum in (("source", LeadSource), ("gender", Gender), ("type", AccountType)):
    _LABELS[_field].update({header_key(member.value): member.value for member in _enum})

_TRUE = frozenset({"x", "co", "yes", "true", "1", "y", "dung"})
_FALSE = frozenset({"khong", "no", "false", "0", "n", "sai"})
_DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%y")
_TAG_SEPARATORS = re.compile(r"[,;]")


def record_from_row(mapping: ColumnMapping, row: dict[str, CellValue]) -> dict[str, Any]:
    """The mapped fields of one row, ready for the resource's create schema: blank cells left
    out, phones and tax codes that Excel turned into numbers given back their digits, dates
    kept for date fields and written as ISO text elsewhere. A contact file with "Họ" and
    "Tên" columns but no full name gets `full_name` = family name + given name."""
    record: dict[str, Any] = {}
    for header, field in mapping.fields.items():
        value = row.get(header)
        if value is None or value == "":
            continue
        record[field] = field_value(field, value)
    if mapping.resource == "contact" and "full_name" not in record:
        parts = [record.get("last_name"), record.get("first_name")]
        if any(parts):
            record["full_name"] = " ".join(str(p) for p in parts if p)
    return record


def field_value(field: str, value: CellValue) -> Any:
    """One cell's value for `field` (see record_from_row)."""
    if field in PHONE_FIELDS:
        return phone_text(value)
    if field in DATE_FIELDS:
        return _date(value)
    if field == "tax_code" and isinstance(value, int | float) and _integral(value):
        return str(int(value)).zfill(TAX_CODE_DIGITS)  # "0312345678" read as 312345678
    if field in INT_FIELDS:
        return _int(value)
    if field in BOOL_FIELDS:
        return _bool(value)
    text = as_text(value)
    if field in LIST_FIELDS:
        tags = (t.strip() for t in _TAG_SEPARATORS.split(text))
        return list(dict.fromkeys(t for t in tags if t))
    if field in _LABELS:
        return _LABELS[field].get(header_key(text), text)
    return text


def phone_text(value: CellValue) -> str:
    """A phone as text, with the 0 or + Excel dropped when it read the phone as a number:
    912345678 -> "0912345678", 2838234567 -> "02838234567", 84912345678 -> "+84912345678".
    A CSV saved from such a sheet has the same digits as text, so they are restored too."""
    if isinstance(value, int | float) and not isinstance(value, bool) and _integral(value):
        digits = str(int(value))
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        digits = value
    else:
        return as_text(value)
    if digits.startswith("84") and len(digits) in (11, 12):
        return "+" + digits
    # Vietnamese numbers without their leading 0: mobiles 3/5/7/8/9 + 8 digits,
    # landlines 2 + 9 digits.
    if (len(digits) == 9 and digits[0] in "35789") or (len(digits) == 10 and digits[0] == "2"):
        return "0" + digits
    return digits


def as_text(value: CellValue) -> str:
    """A cell as the text a person sees: 12.0 -> "12", a date -> "2026-04-30"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as Excel shows them
    if isinstance(value, float):
        return str(int(value)) if _integral(value) else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def _integral(value: float) -> bool:
    return isinstance(value, int) or value.is_integer()


def _date(value: CellValue) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = as_text(value)
    for pattern in _DATE_FORMATS:  # day first, as Vietnamese write dates
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return text


def _int(value: CellValue) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and _integral(value):
        return int(value)
    text = as_text(value)
    return int(text) if text.isascii() and text.isdigit() else text


def _bool(value: CellValue) -> Any:
    if isinstance(value, bool):
        return value
    key = header_key(as_text(value))
    return True if key in _TRUE else False if key in _FALSE else as_text(value)
