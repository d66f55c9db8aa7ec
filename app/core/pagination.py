"""Cursor pagination, sorting and filters for every list endpoint (STYLE §5).

Keyset on (sort key, id): never OFFSET, never a count per page, so page 1,000 costs what page 1
does. The cursor is opaque to clients: base64 of [sort, value, id].
"""

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Generic, NamedTuple, TypeVar, cast

import orjson
from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, model_validator
from pydantic_core import core_schema
from sqlalchemy import ColumnElement, Table, and_, or_, tuple_

from app.core import sql
from app.core.context import Ctx
from app.core.errors import Unprocessable
from app.core.heavy import heavy_query
from app.core.money import decimal_string
from app.core.schemas import Timestamp, reject_nul
from app.core.search import matches
from app.core.sql import AnySelect

_ORJSON = orjson.OPT_UTC_Z
Sorts = Mapping[str, Any]  # "created_at" -> Lead.created_at (a nullable column: see Keyset)


class FilterOn(NamedTuple):
    """What a filter builds its condition on: the listed table's columns, and the workspace
    (a subquery names it explicitly, like every statement on a tenant table)."""

    columns: Any  # the table's ColumnCollection: `on.columns.status`
    workspace_id: uuid.UUID


Filter = Callable[[FilterOn, Any], ColumnElement[bool]]
Filters = Mapping[str, Filter]


class Sortable:
    """The sortable fields of a list, as the type of its query's `sort` parameter:
    `sort: Annotated[str, Sortable("created_at", "full_name")] = "-created_at"`. OpenAPI shows
    each name and its `-` (descending) form as an enum, anything else is a 422, and the
    resource layer sorts by the columns of these names: the names are written once."""

    def __init__(self, *fields: str) -> None:
        self.fields = fields

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.literal_schema([v for f in self.fields for v in (f, f"-{f}")])


def sortable_fields(query: type[BaseModel]) -> tuple[str, ...]:
    """The names a query model's `sort` accepts (its `Sortable`)."""
    for meta in query.model_fields["sort"].metadata:
        if isinstance(meta, Sortable):
            return meta.fields
    raise TypeError(f"{query.__name__}.sort is not Annotated[str, Sortable(...)]")


@cache
def sorts_of(table: Table, query: type[BaseModel]) -> dict[str, Any]:
    """The columns of `table` that `query`'s `Sortable` names (a TypeError naming any that
    is not a column: a mistake in the code, never a client's)."""
    names = sortable_fields(query)
    missing = [name for name in names if name not in table.c]
    if missing:
        raise TypeError(f"{query.__name__}: {table.name} has no column for sorts {missing}")
    return {name: table.c[name] for name in names}


class PageQuery(BaseModel):
    """A page of any list: its size and where it starts."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(50, ge=1, le=200, description="Page size, 1–200.")
    cursor: str | None = Field(
        None, max_length=512, description="`next_cursor` of the previous page."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)


class SortedQuery(PageQuery):
    """A page of a sorted list; a subclass names its sortable fields:
    `sort: Annotated[str, Sortable("name", "created_at")] = "name"`."""

    sort: str = Field("-created_at", description="A sortable field; `-` for descending.")


class ListQuery(SortedQuery):
    """What every list endpoint accepts; a domain subclass adds its filters and `sort` choices."""

    q: str | None = Field(
        None, max_length=200, description="Text search ignoring case and Vietnamese diacritics."
    )
    include_deleted: bool = Field(False, description="Include soft-deleted records.")


class RecordListQuery(ListQuery):
    """A list of CRM records: every one of them can be filtered by when it was created."""

    created_after: Timestamp | None = Field(None, description="Created at or after this time.")
    created_before: Timestamp | None = Field(None, description="Created before this time.")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


@dataclass
class Rows(Generic[T]):
    """A page of database rows as a service returns it; the router shapes it into a `Page`."""

    data: list[T]
    next_cursor: str | None

    def page(self, read_model: type[BaseModel]) -> Page[Any]:
        return Page[read_model](  # type: ignore[valid-type]
            data=[read_model.model_validate(dict(cast(Any, row))) for row in self.data],
            next_cursor=self.next_cursor,
        )

    def response(self, read_model: type[BaseModel]) -> Response:
        """The page as JSON, written straight from the rows' columns.

        Rows come from typed columns, so re-validating 50 of them through pydantic (and then
        serialising the models) is a third of a list's CPU. When the rows carry exactly the
        fields of `read_model` (select `columns_of(table, read_model)`), each is copied as it
        is, with the same JSON pydantic would write (RFC 3339 `Z` times, UUID strings);
        tests/core/test_pagination.py holds the two equal. Otherwise it falls back to pydantic.
        """
        fields = list(read_model.model_fields)
        if self.data and list(self.data[0].keys()) != fields:  # type: ignore[attr-defined]
            return Response(self.page(read_model).model_dump_json(), media_type="application/json")
        data = [dict(row.items()) for row in self.data]  # type: ignore[attr-defined]
        page = {"data": data, "next_cursor": self.next_cursor}
        body = orjson.dumps(page, default=_as_json, option=_ORJSON)
        return Response(body, media_type="application/json")


def _as_json(value: Any) -> str:
    """What orjson leaves to us: asyncpg's own UUID type, and money (as pydantic writes it)."""
    if isinstance(value, Decimal):
        return decimal_string(value)
    return str(value)


def columns_of(table: Any, read_model: type[BaseModel]) -> list[Any]:
    """The table's columns that `read_model` shows, in its field order: what a list selects,
    so a page's rows are written as JSON without pydantic (see `Rows.response`). A field that
    isn't a column (a contact's `accounts`) is the service's to add to each row, and comes
    last in the read model so the row's keys stay in its order."""
    return [table.c[name] for name in read_model.model_fields if name in table.c]


def _encode_cursor(sort: str, value: Any, record_id: uuid.UUID) -> str:
    if isinstance(value, date):  # a datetime is a date too
        value = value.isoformat()
    raw = json.dumps([sort, value, str(record_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> Unprocessable:
    return Unprocessable([{"field": "cursor", "message": "not a cursor from this list and sort"}])


_INT_LIMITS = {"SmallInteger": 2**15 - 1, "Integer": 2**31 - 1, "BigInteger": 2**63 - 1}


def _nullable(column: Any) -> bool:
    return getattr(column, "nullable", False) is True


def _cursor_value(column: Any, value: Any) -> Any:
    """The sort value a cursor carries, checked as strictly as a query parameter would be: a
    crafted cursor is a 422, never a 500 from the driver."""
    if value is None and _nullable(column):
        return None
    python_type = column.type.python_type
    if python_type is date:
        if not isinstance(value, str):
            raise ValueError("not a date")
        return date.fromisoformat(value)
    if python_type is datetime:
        if not isinstance(value, str):
            raise ValueError("not a timestamp")
        return datetime.fromisoformat(value).astimezone(UTC)
    if python_type is int:
        limit = _INT_LIMITS.get(type(column.type).__name__, 2**31 - 1)
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > limit:
            raise ValueError("not an integer in range")
        return value
    if python_type is str:
        if not isinstance(value, str):
            raise ValueError("not text")
        return reject_nul(value)
    return python_type(value)


def _decode_cursor(cursor: str, sort: str, column: Any) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, record_id = json.loads(raw)
        if cursor_sort != sort or not isinstance(record_id, str):
            raise ValueError("not this list's cursor")
        return _cursor_value(column, value), uuid.UUID(record_id)
    except (
        ValueError, TypeError, AttributeError, OverflowError, binascii.Error, UnicodeDecodeError
    ):  # fmt: skip
        raise _bad_cursor()


def apply_filters(stmt: AnySelect, query: BaseModel, filters: Filters, on: FilterOn) -> AnySelect:
    """Each declared filter whose query parameter was given becomes an AND-ed condition."""
    for name, condition in filters.items():
        value = getattr(query, name, None)
        if value is not None and value != []:
            stmt = stmt.where(condition(on, value))
    return stmt


@dataclass(frozen=True)
class Keyset:
    """Where a page starts in a sorted list: the sort, its direction, and the (sort value, id)
    of the previous page's last row. Applied to one statement (`paginate`), or to each branch
    of a union and to the union itself (a timeline), so every branch stays an index scan."""

    sort: str
    descending: bool
    after: tuple[Any, uuid.UUID] | None
    limit: int

    @classmethod
    def of(cls, query: Any, sorts: Sorts) -> "Keyset":
        """The query's sort (one of `sorts`, else a 422) and cursor (a 422 if it isn't one)."""
        name = query.sort.removeprefix("-")
        if name not in sorts:
            allowed = ", ".join(sorted(sorts))
            raise Unprocessable([{"field": "sort", "message": f"sortable fields: {allowed}"}])
        after = _decode_cursor(query.cursor, query.sort, sorts[name]) if query.cursor else None
        return cls(query.sort, query.sort.startswith("-"), after, query.limit)

    def page_of(self, stmt: AnySelect, column: Any, id_column: Any) -> AnySelect:
        """`stmt` after the cursor, in order, one row more than a page (to know there is more)."""
        if self.after is not None:
            stmt = stmt.where(self._after(column, id_column))
        order = (column.desc(), id_column.desc()) if self.descending else (column, id_column)
        return stmt.order_by(*order).limit(self.limit + 1)

    def _after(self, column: Any, id_column: Any) -> ColumnElement[bool]:
        """The rows past the cursor. A nullable sort column's NULLs come after every value
        (first when descending), as PostgreSQL and its indexes order them; a row comparison
        alone would drop them, being NULL itself."""
        assert self.after is not None
        value, last_id = self.after
        key = tuple_(column, id_column)
        if not _nullable(column):
            return key < self.after if self.descending else key > self.after
        if value is None:
            past_nulls = and_(
                column.is_(None), id_column < last_id if self.descending else id_column > last_id
            )
            return or_(past_nulls, column.is_not(None)) if self.descending else past_nulls
        return key < self.after if self.descending else or_(key > self.after, column.is_(None))

    def rows(self, rows: list[Any], key: str) -> "Rows[Any]":
        """The page, and the cursor of the next one (None at the end)."""
        if len(rows) <= self.limit:
            return Rows(data=rows, next_cursor=None)
        rows = rows[: self.limit]
        last = rows[-1]
        return Rows(data=rows, next_cursor=_encode_cursor(self.sort, last[key], last["id"]))


async def paginate(
    ctx: Ctx,
    stmt: AnySelect,
    query: SortedQuery,
    *,
    table: Table,
    sorts: Sorts | None = None,
    search_column: Any | None = None,
) -> Rows[Any]:
    """One page of `stmt`'s rows in the context's workspace (`workspace_id = :ws` is added
    here): search, soft-delete filter, keyset cursor, sort, limit.

    Give it `select(*columns_of(table, ReadModel))` (its columns must include `id` and the
    sort keys): a page is read-only, and it is read straight through the driver
    (app/core/sql.py), skipping the ORM and SQLAlchemy's result layer. Sorts default to the
    table's columns named by the query's `Sortable`."""
    columns = table.c
    if sorts is None:
        sorts = sorts_of(table, type(query))
    keyset = Keyset.of(query, sorts)
    column = sorts[keyset.sort.removeprefix("-")]
    listing = query if isinstance(query, ListQuery) else None
    searching = None
    if listing is not None and listing.q and search_column is not None:
        searching = matches(search_column, listing.q)
    if searching is not None:
        stmt = stmt.where(searching)
    if (listing is None or not listing.include_deleted) and "deleted_at" in columns:
        stmt = stmt.where(columns.deleted_at.is_(None))
    page = keyset.page_of(stmt.where(columns.workspace_id == ctx.workspace_id), column, columns.id)
    if searching is None:
        return keyset.rows(await sql.fetch(ctx, page), column.key)
    async with heavy_query(ctx):
        return keyset.rows(await sql.fetch(ctx, page), column.key)


def one_of(name: str) -> Filter:
    """`?status=a&status=b`: the column is one of the values."""

    def condition(on: FilterOn, values: Any) -> ColumnElement[bool]:
        column: ColumnElement[Any] = on.columns[name]
        return column.in_(values) if len(values) > 1 else column == values[0]

    return condition


def equals(name: str) -> Filter:
    return lambda on, value: on.columns[name] == value


def at_least(name: str) -> Filter:
    return lambda on, value: on.columns[name] >= value


def at_most(name: str) -> Filter:
    return lambda on, value: on.columns[name] <= value


def before(name: str) -> Filter:
    return lambda on, value: on.columns[name] < value


def has_all(name: str) -> Filter:
    """Array column contains every given value (`?tag=a&tag=b`)."""
    return lambda on, value: on.columns[name].contains(list(value))


CREATED_FILTERS: Filters = {
    "created_after": at_least("created_at"),
    "created_before": before("created_at"),
}
