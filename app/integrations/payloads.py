"""What every provider's webhook comes down to: leads as delivered (`Delivered`, stored as
submissions), each one's answers (`Answer`, mapped onto a lead by intake), and the checks a
payload passes before it is stored."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from app.core.errors import BadRequest, Unprocessable
from app.core.schemas import reject_nul

MAX_VALUE_CHARS = 10_000
MAX_DEPTH = 10
MAX_LEAVES = 500

# What platforms call the fields a lead has (Meta's `field_data` names, Google's column ids in
# lower case, the usual names of landing-page builders): the lead field each fills.
FIELD_ALIASES = {
    "full_name": "full_name",
    "name": "full_name",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "work_email": "email",
    "phone": "phone",
    "phone_number": "phone",
    "work_phone": "phone",
    "city": "province",
    "province": "province",
    "region": "province",
    "state": "province",
    "company": "company_name",
    "company_name": "company_name",
    "job_title": "title",
    "title": "title",
    "industry": "industry",
    **{name: name for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term")},
    **{name: name for name in ("utm_content", "gclid", "fbclid")},
}


@dataclass(frozen=True)
class Answer:
    """One value a person gave: `name` is what a mapping names it by, `label` what the notes
    call it."""

    name: str
    label: str
    value: str


@dataclass(frozen=True)
class Delivered:
    """One lead as a platform delivered it, to store as a submission: the platform's id for
    it (one submission per id and integration), what was sent, and whether it is a test."""

    external_id: str | None
    payload: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict)
    test: bool = False
    # Why it can't become a lead as sent: stored `failed` with its payload, to be seen.
    error: str | None = None


def parse_json(raw: bytes) -> Any:
    """The body as JSON; anything else (not UTF-8, not JSON, nested past 1,024 levels) is a
    400 that says so."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The body is not valid JSON (UTF-8, at most 1,024 levels deep)")


def invalid_body(error: ValidationError) -> Unprocessable:
    """A payload of the wrong shape, as a 422 naming each field."""
    return Unprocessable(
        [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "body",
                "message": str(e["msg"]).removeprefix("Value error, "),
            }
            for e in error.errors()[:20]
        ]
    )


def storable(payload: Any) -> Any:
    """PostgreSQL holds no NUL nor lone surrogate in text: such a payload is a 422."""
    try:
        return reject_nul(payload)
    except ValueError as error:
        raise Unprocessable([{"field": "body", "message": str(error)}])


def as_text(value: Any) -> str | None:
    """A scalar JSON value as the text a person typed (a list of them joined), else None."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return None


def leaves(value: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every scalar or list of scalars in a JSON object: `a.b`, for the
    field mapping of a signed webhook. Deeper than `MAX_DEPTH` is a 422."""
    if depth > MAX_DEPTH:
        raise Unprocessable([{"field": path, "message": f"nested deeper than {MAX_DEPTH} levels"}])
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list) and not all(isinstance(v, str | int | float) for v in value):
        for n, inner in enumerate(value):
            yield from leaves(inner, f"{path}.{n}", depth + 1)
    elif value is not None:
        yield path, value


def check_lead_object(lead: Any, where: str) -> dict[str, Any]:
    """A lead sent as a JSON object of bounded shape: at most `MAX_LEAVES` values, each at most
    `MAX_VALUE_CHARS` characters, `MAX_DEPTH` levels (422 naming where)."""
    if not isinstance(lead, dict):
        raise Unprocessable([{"field": where, "message": "a lead is a JSON object"}])
    found = list(leaves(lead))
    if len(found) > MAX_LEAVES:
        raise Unprocessable([{"field": where, "message": f"more than {MAX_LEAVES} values"}])
    for path, value in found:
        text = as_text(value) or ""
        if len(text) > MAX_VALUE_CHARS:
            message = f"at most {MAX_VALUE_CHARS} characters"
            raise Unprocessable([{"field": f"{where}.{path}", "message": message}])
    return lead
