"""Which column of an import file fills which field of a lead, contact or account.

Headers are compared folded (app.core.search.fold: any case, with or without diacritics) and
with punctuation read as spaces, so "Tỉnh/Thành phố", "TINH THANH PHO" and "tinh - thanh pho"
are one header. A header no field claims stays unmapped and is listed, so the user sees which
columns were left out and can send a mapping for them."""

import re
from typing import Literal

from pydantic import BaseModel, Field

from app.accounts.schemas import AccountCreate
from app.contacts.schemas import ContactCreate
from app.core.errors import Unprocessable
from app.core.search import fold
from app.leads.schemas import LeadCreate

Resource = Literal["lead", "contact", "account"]

# What a record of each resource can be given: its create schema's fields. custom_fields is a
# JSON object, not one column.
_CREATE_SCHEMAS: dict[str, type[BaseModel]] = {
    "lead": LeadCreate,
    "contact": ContactCreate,
    "account": AccountCreate,
}
IMPORTABLE: dict[str, frozenset[str]] = {
    resource: frozenset(schema.model_fields) - {"custom_fields"}
    for resource, schema in _CREATE_SCHEMAS.items()
}

_PERSON_NAME = (
    "họ và tên", "họ tên", "tên", "tên khách hàng", "khách hàng", "tên liên hệ", "người liên hệ",
    "họ và tên khách hàng", "name", "full name", "contact name", "customer name", "contact",
)  # fmt: skip
_COMPANY = (
    "công ty", "tên công ty", "doanh nghiệp", "tên doanh nghiệp", "đơn vị", "tổ chức",
    "company", "company name", "organization", "organisation",
)  # fmt: skip
_SHARED: dict[str, tuple[str, ...]] = {
    "phone": (
        "số điện thoại", "điện thoại", "sđt", "số đt", "đt", "di động", "số di động",
        "điện thoại di động", "phone", "phone number", "mobile", "mobile phone", "tel",
        "telephone", "zalo", "số zalo",
    ),
    "email": ("email", "e-mail", "thư điện tử", "địa chỉ email", "mail", "email address"),
    "title": ("chức vụ", "chức danh", "vị trí", "title", "job title", "position"),
    "province": (
        "tỉnh/thành phố", "tỉnh/thành", "tỉnh thành", "tỉnh", "thành phố", "khu vực",
        "province", "city", "region",
    ),
    "industry": ("ngành", "ngành nghề", "lĩnh vực", "industry"),
    "notes": ("ghi chú", "note", "notes", "mô tả", "description", "comment", "comments"),
    "tags": ("nhãn", "thẻ", "tag", "tags"),
    "source": ("nguồn", "nguồn khách", "kênh", "source", "lead source", "channel"),
    "birthday": ("ngày sinh", "sinh nhật", "birthday", "date of birth", "dob"),
    "gender": ("giới tính", "gender", "sex"),
    "last_name": ("họ", "last name", "family name", "surname"),
    "first_name": ("first name", "given name"),
    "address": ("địa chỉ", "address", "địa chỉ công ty", "trụ sở"),
    "tax_code": ("mã số thuế", "mst", "mã số doanh nghiệp", "tax code", "tax id"),
    "website": ("website", "trang web", "web", "url"),
    "size": ("quy mô", "số nhân viên", "size", "employees", "company size"),
    "type": ("loại", "loại khách hàng", "phân loại", "type", "account type"),
    "score": ("điểm", "score", "lead score"),
    "do_not_contact": ("không liên hệ", "do not contact"),
}  # fmt: skip

# Per resource: the synonyms for its fields. A lead is a person at a company; an account is
# the company itself, so there "Tên khách hàng" and "Công ty" both name the account.
_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "lead": {**_SHARED, "full_name": _PERSON_NAME, "company_name": _COMPANY},
    "contact": {**_SHARED, "full_name": _PERSON_NAME},
    "account": {
        **_SHARED,
        "name": (*_COMPANY, "tên", "tên khách hàng", "khách hàng", "name", "account name"),
    },
}

# The field a record cannot be made without.
REQUIRED = {"lead": "full_name", "contact": "full_name", "account": "name"}

_PUNCTUATION = re.compile(r"[^\w\s]|_")


def header_key(header: str) -> str:
    """A header as it is compared: folded, punctuation read as spaces ("E-mail:" -> "e mail")."""
    return " ".join(_PUNCTUATION.sub(" ", fold(header)).split())


def _lookup(resource: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for field, phrases in _SYNONYMS[resource].items():
        if field not in IMPORTABLE[resource]:
            continue  # e.g. birthday for a lead: that header stays unmapped
        for phrase in phrases:
            table.setdefault(header_key(phrase), field)
    # A field's own name ("company_name", "utm_campaign"), as Sen's export writes headers.
    for field in IMPORTABLE[resource]:
        table.setdefault(header_key(field), field)
    return table


LOOKUP: dict[str, dict[str, str]] = {resource: _lookup(resource) for resource in _SYNONYMS}


class ColumnMapping(BaseModel):
    """The columns an import reads, as stored on its job and shown to the user."""

    resource: Resource
    fields: dict[str, str] = Field(description="Header -> field, in the file's column order.")
    automatic: list[str] = Field(description="Headers whose field was matched from their name.")
    unmapped: list[str] = Field(description="Headers no field takes: their cells are not read.")
    missing: list[str] = Field(description="Required fields no column fills.")


class MappingInvalid(Unprocessable):
    """A mapping sent with an import names a field or a header that isn't there."""

    code, title = "import_mapping_invalid", "The column mapping does not fit the file"


def match_columns(
    resource: str, headers: list[str], mapping: dict[str, str | None] | None = None
) -> ColumnMapping:
    """Header -> field for `resource`. Entries of `mapping` win (a field, or null/"" to skip
    that column); the other headers are matched by name, each field at most once (the first
    column claiming it). A mapping naming a header not in the file, a field the resource lacks
    or one field twice is a 422 `import_mapping_invalid` naming each."""
    if resource not in IMPORTABLE:
        raise MappingInvalid(
            [{"field": "resource", "message": "must be one of lead, contact, account"}]
        )
    mapping = mapping or {}
    _check(resource, headers, mapping)

    fields: dict[str, str] = {}
    automatic: list[str] = []
    taken = {field for field in mapping.values() if field}
    # "Họ" + "Tên" side by side: "Tên" is the given name (the full name is put together later).
    lookup = dict(LOOKUP[resource])
    keys = {header_key(h) for h in headers}
    if "first_name" in IMPORTABLE[resource] and keys & {"ho", "last name", "family name"}:
        lookup["ten"] = "first_name"
    for header in headers:
        if header in mapping:
            if mapping[header]:
                fields[header] = str(mapping[header])
            continue
        field = lookup.get(header_key(header))
        if field is not None and field not in taken:
            fields[header] = field
            automatic.append(header)
            taken.add(field)

    required = REQUIRED[resource]
    has_name_parts = bool(taken & {"first_name", "last_name"}) and resource == "contact"
    return ColumnMapping(
        resource=resource,
        fields=fields,
        automatic=automatic,
        unmapped=[h for h in headers if h not in fields],
        missing=[] if required in taken or has_name_parts else [required],
    )


def _check(resource: str, headers: list[str], mapping: dict[str, str | None]) -> None:
    errors: list[dict[str, str]] = []
    present = set(headers)
    seen: dict[str, str] = {}
    for header, field in mapping.items():
        if header not in present:
            errors.append({"field": f"mapping.{header}", "message": "no such column in the file"})
        if not field:
            continue
        if field not in IMPORTABLE[resource]:
            errors.append(
                {"field": f"mapping.{header}", "message": f"a {resource} has no field {field!r}"}
            )
        elif field in seen:
            errors.append(
                {
                    "field": f"mapping.{header}",
                    "message": f"{field!r} is already filled by column {seen[field]!r}",
                }
            )
        seen.setdefault(field, header)
    if errors:
        raise MappingInvalid(errors)
