"""Sen's errors: each carries its HTTP status and a stable `code`; one handler renders them all
as RFC 9457 problem+json, FastAPI's own 404/405/422 and unexpected failures included."""

from collections.abc import Iterator
from typing import Any, ClassVar

import asyncpg
import redis.exceptions
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.paths import methods_for

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger("sen.errors")


class SenError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self, detail: str | None = None, *, retry_after: int | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        self.headers: dict[str, str] = {}
        if retry_after is not None:  # seconds; a client should wait at least one
            self.headers["Retry-After"] = str(max(1, retry_after))


class BadRequest(SenError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(SenError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(SenError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(SenError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(SenError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(SenError):
    status, code, title = 412, "version_mismatch", "The record changed since you read it"


class PayloadTooLarge(SenError):
    status, code, title = 413, "payload_too_large", "Request body too large"


class Unprocessable(SenError):
    """A well-formed body that breaks a rule: `errors` names the fields."""

    status, code, title = 422, "validation_error", "Invalid request"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None) -> None:
        super().__init__(detail or "; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.extra = {"errors": errors}


class RateLimited(SenError):
    """Answered with `Retry-After`: when the client may try again."""

    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(SenError):
    """A dependency can't serve this now; `Retry-After` says when to try again."""

    status, code, title = 503, "service_unavailable", "Service unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)


class ServiceBusy(ServiceUnavailable):
    code, title = "busy", "The server is busy"


class DatabaseUnavailable(ServiceUnavailable):
    code, title = "database_unavailable", "The database does not answer"


class DatabaseBusy(ServiceUnavailable):
    code, title = "database_busy", "Every database connection is in use"


class QueryTimeout(ServiceUnavailable):
    code, title = "query_timeout", "The request took too long"


class QueueUnavailable(ServiceUnavailable):
    code, title = "queue_unavailable", "Redis does not answer"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, what SQLAlchemy wrapped in it, and what raised it: a few links deep."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending and len(seen) < 8:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        yield current
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]


def infrastructure_error(error: BaseException) -> ServiceUnavailable | None:
    """The 503 a fault of the database or Redis deserves (connection lost or refused, the
    server shutting down or starting, pool exhausted, statement timeout), or None when
    `error` is something else. Never a 500: the client should come back shortly."""
    for cause in _causes(error):
        if isinstance(cause, sqlalchemy.exc.TimeoutError):
            return DatabaseBusy("No database connection came free in time", retry_after=1)
        if isinstance(cause, asyncpg.QueryCanceledError):
            return QueryTimeout(
                "The database took too long to answer; narrow the filters or the search",
                retry_after=1,
            )
        if isinstance(
            cause,
            asyncpg.PostgresConnectionError
            | asyncpg.exceptions.OperatorInterventionError
            | asyncpg.exceptions.TooManyConnectionsError
            | ConnectionError
            | TimeoutError,
        ) or (isinstance(cause, asyncpg.InterfaceError) and "closed" in str(cause)):
            return DatabaseUnavailable("The database does not answer; try again", retry_after=5)
        if isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.connection_invalidated:
            return DatabaseUnavailable("The database does not answer; try again", retry_after=5)
        if isinstance(cause, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return QueueUnavailable("Redis does not answer; try again", retry_after=5)
        if isinstance(cause, OSError):  # refused, reset, a unix socket gone with its server
            return DatabaseUnavailable("The database does not answer; try again", retry_after=5)
    return None


class FieldError(BaseModel):
    field: str = Field(examples=["email"])
    message: str = Field(examples=["value is not a valid email address"])


def _problem_schema(schema: dict[str, Any]) -> None:
    # `errors` is absent except on 422 (`duplicates` except on a duplicate's 409): optional,
    # and no default a generator could take as "always present".
    schema["properties"]["errors"].pop("default", None)
    schema["properties"]["duplicates"].pop("default", None)


class Problem(BaseModel):
    """An RFC 9457 problem: `code` is stable, switch on it; `errors` lists invalid fields."""

    model_config = ConfigDict(json_schema_extra=_problem_schema)

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = Field(
        None, description="Present on 422: one entry per invalid field."
    )
    duplicates: list[dict[str, Any]] | None = Field(
        None,
        description="Present on 409 `duplicate` and `possible_duplicate`: the records the "
        "duplicate rules matched, each `{resource, id, score, rule: {id, name, action}}`.",
    )


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    body = {
        "type": f"https://sen-crm.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def problem_response(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, title, detail, **extra),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
    )


_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing or invalid credentials",
    403: "The caller's role does not allow this",
    404: "Not found (or not visible to the caller)",
    409: "Conflicts with the record's current state",
    410: "Gone: it existed, but no longer does",
    412: "If-Match is stale: re-read the record",
    413: "Body over 1 MiB",
    422: "Invalid request: `errors` names the fields",
    429: "Rate limited: retry after `Retry-After` seconds",
    503: "A dependency does not answer or is saturated, or the request took too long: retry "
    "after `Retry-After` seconds",
}

# A detail for the spec's example of a code whose title alone says little.
_EXAMPLE_DETAILS = {
    "unauthorized": "Send `Authorization: Bearer <token>`",
    "forbidden": "Only workspace owners and admins can do this",
    "conflict": "The change conflicts with another one made at the same time; re-read and try "
    "again",
    "version_mismatch": "If-Match is stale",
    "payload_too_large": "Bodies are limited to 1048576 bytes",
}

# What a bare status in `problems()` stands for: the core's error of that status.
GENERIC: dict[int, type[SenError]] = {
    error.status: error
    for error in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        Unprocessable,
        RateLimited,
        ServiceUnavailable,
    )
}

# What a route answers whatever its domain, by kind; a route adds its own errors by class:
# `responses=problems(*READ_ERRORS, LeadNotFound)`. A caller is needed (401) and parameters
# can be invalid (422); a body can be too big (413) and a write can collide with a concurrent
# one (409 `conflict`); If-Match can be stale (412).
READ_ERRORS: tuple[type[SenError], ...] = (Unauthorized, Unprocessable)
WRITE_ERRORS: tuple[type[SenError], ...] = (*READ_ERRORS, Conflict, PayloadTooLarge)
UPDATE_ERRORS: tuple[type[SenError], ...] = (*WRITE_ERRORS, PreconditionFailed)
DELETE_ERRORS: tuple[type[SenError], ...] = (*READ_ERRORS, PreconditionFailed)
# What any API operation answers when the database or Redis fails it (CommittingRoute): one
# shared 503 response in the spec.
FAULTS: tuple[type[SenError], ...] = (
    DatabaseUnavailable,
    DatabaseBusy,
    QueryTimeout,
    QueueUnavailable,
)

EXAMPLES_REF = "#/components/examples/"


def error_classes() -> dict[str, type[SenError]]:
    """Every error class there is, by its `code`: a code names one error, whatever route
    answers it."""
    found: dict[str, type[SenError]] = {}
    pending: list[type[SenError]] = [SenError]
    while pending:
        error = pending.pop(0)
        pending.extend(error.__subclasses__())
        other = found.setdefault(error.code, error)
        if other is not error:
            raise TypeError(f"{error.__qualname__} and {other.__qualname__} share `{error.code}`")
    return found


def problem_example(error: type[SenError]) -> dict[str, Any]:
    """The spec's example of `error`: `components/examples/<code>`."""
    if issubclass(error, Unprocessable):
        errors = [{"field": "email", "message": "String should match pattern"}]
        body = problem_body(
            error.status, error.code, error.title, "email: String should match pattern",
            errors=errors,
        )  # fmt: skip
    else:
        detail = _EXAMPLE_DETAILS.get(error.code, error.title)
        body = problem_body(error.status, error.code, error.title, detail)
    return {"summary": error.title, "value": body}


def documented(status: int, errors: list[type[SenError]]) -> dict[str, Any]:
    """The OpenAPI response for `status` carrying `errors`: each code an entry of the problem's
    `examples` (a `$ref` to `components/examples/<code>`), so the list a client switches on is
    in the spec, while every error still parses as the one `Problem` schema. Not an `enum` on
    `code`: client generators (openapi-python-client) turn that into a strict type per
    operation and status, and a client generated before a code was added would fail on it."""
    codes = sorted({error.code for error in errors})
    listed = ", ".join(f"`{code}`" for code in codes)
    return {
        "description": f"{_DESCRIPTIONS.get(status, 'Error')}. Codes: {listed}",
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "examples": {code: {"$ref": EXAMPLES_REF + code} for code in codes},
            }
        },
    }


def documented_codes(response: dict[str, Any]) -> list[str]:
    """The codes a response of the spec lists (see `documented`)."""
    media = response.get("content", {}).get(PROBLEM_MEDIA_TYPE, {})
    return list(media.get("examples", {}))


def problems(*errors: int | type[SenError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route: each error by class (a bare status stands for the
    core's generic error of that status), grouped by status, every `code` listed."""
    grouped: dict[int, list[type[SenError]]] = {}
    for item in errors:
        error = GENERIC[item] if isinstance(item, int) else item
        grouped.setdefault(error.status, []).append(error)
    return {status: documented(status, found) for status, found in sorted(grouped.items())}


def add_problems(responses: dict[str, Any], *errors: type[SenError]) -> None:
    """Add `errors` to an operation's responses in the spec (keyed by status text), keeping
    the codes already there."""
    known = error_classes()
    for status in sorted({error.status for error in errors}):
        current = responses.get(str(status), {})
        present = [known[code] for code in documented_codes(current)]
        merged = documented(status, present + [e for e in errors if e.status == status])
        if "headers" in current:
            merged["headers"] = current["headers"]
        responses[str(status)] = merged


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _validation_message(err: dict[str, Any]) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown or read-only field"
    if err.get("type") == "json_invalid":
        return "body is not valid JSON"
    # A rule of ours raises ValueError("why"); pydantic prefixes it, the person needs only why.
    return str(err.get("msg", "invalid value")).removeprefix("Value error, ")


async def _sen_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SenError)
    response = problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
    response.headers.update(exc.headers)
    return response


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _loc_to_field(e.get("loc", ())), "message": _validation_message(e)}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(422, "validation_error", "Invalid request", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication required"}
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    status = exc.status_code
    if status == 400:  # FastAPI's own "error parsing the body": a malformed payload, so a 422
        errors = [{"field": "body", "message": "body is not valid JSON or form data"}]
        return problem_response(
            422, "validation_error", "Invalid request", "body: not parseable", errors=errors
        )
    response = problem_response(
        status,
        codes.get(status, f"http_{status}"),
        titles.get(status, "HTTP error"),
        str(exc.detail),
    )
    if exc.headers:
        response.headers.update(exc.headers)
    if status == 405:
        response.headers["Allow"] = ", ".join(methods_for(request.app, request.url.path))
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return problem_response(
        500, "internal_error", "Internal error", "Something went wrong on our side; it was logged."
    )


async def _stale_write(_: Request, exc: Exception) -> JSONResponse:
    # Two writers passed their If-Match checks at once; the second UPDATE matched no row.
    return problem_response(
        412,
        "version_mismatch",
        "The record changed since you read it",
        "Another change to this record landed first; re-read it and try again",
    )


async def _constraint(_: Request, exc: Exception) -> JSONResponse:
    # A uniqueness or reference a service didn't foresee, hit by a concurrent change.
    log.warning("integrity error", error=str(getattr(exc, "orig", exc))[:300])
    return problem_response(
        409,
        "conflict",
        "Conflict",
        "The change conflicts with another one made at the same time; re-read and try again",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StaleDataError, _stale_write)
    app.add_exception_handler(IntegrityError, _constraint)
    app.add_exception_handler(SenError, _sen_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
