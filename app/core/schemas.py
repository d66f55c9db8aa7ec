"""Base classes for request and response bodies, so every resource reads the same way in OpenAPI.

- `InputModel`: unknown or read-only fields (`id`, `version`, …) are a 422 naming them.
- `PatchModel`: every field optional; only the fields sent apply (`model_fields_set`); a field
  that can't be empty is typed non-nullable, so an explicit null is a 422.
- `ReadModel`: built from ORM objects; no defaults, so generated clients mark every field required.
"""

import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)

from app.core.limits import CUSTOM_FIELDS_MAX_BYTES


def _schema_extra(schema: dict[str, Any], cls: type) -> None:
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None and "anyOf" not in prop:
            del prop["default"]  # non-nullable patch field: absent means "leave as is"
    example = getattr(cls, "example", None)
    if example is not None:
        schema["examples"] = [example]


def _input_schema_extra(schema: dict[str, Any], cls: type) -> None:
    """Request bodies: a default goes into the description, not `default`, because client
    generators (openapi-typescript) type every property with a default as always present,
    which would make optional fields required in the request type."""
    _schema_extra(schema, cls)
    for prop in schema.get("properties", {}).values():
        if "default" not in prop:
            continue
        default = prop.pop("default")
        if default not in (None, [], {}):
            note = f"Default: `{json.dumps(default, ensure_ascii=False)}`."
            prop["description"] = f"{prop['description']} {note}" if "description" in prop else note


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(v) for v in value)
    return False


def reject_nul(value: Any) -> Any:
    """PostgreSQL text holds neither NUL nor lone UTF-16 surrogates (not UTF-8): refuse them as
    bad input (422), never a 500."""
    if _contains_nul(value):
        raise ValueError("text must not contain NUL (\\u0000) or lone surrogate characters")
    return value


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_input_schema_extra)
    example: ClassVar[dict[str, Any] | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A boolean field takes `true` or `false` only: pydantic would read 0, 1 and "yes"
        as booleans, which the contract says are errors (schemathesis sent `"active": 0`)."""
        super().__pydantic_init_subclass__(**kwargs)
        loose = [
            field
            for field in cls.model_fields.values()
            if _takes_bool(field.annotation)
            and not any(isinstance(m, Strict) for m in field.metadata)
        ]
        for field in loose:
            field.metadata.append(Strict())
        if loose:
            cls.model_rebuild(force=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)


def _takes_bool(annotation: Any) -> bool:
    return annotation is bool or bool in get_args(annotation)


class PatchModel(InputModel):
    pass


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=_schema_extra)
    example: ClassVar[dict[str, Any] | None] = None


EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_EMAIL = re.compile(EMAIL_PATTERN)

# Lenient on purpose: CRM data is typed by people and imported from spreadsheets; the pattern in
# the schema is exactly the rule we apply, so clients can check before they send.
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]


def normalize_email(value: str) -> str:
    """The one form an email that identifies someone is stored, compared and indexed in: NFKC
    (a full-width "ｏwner@" is "owner@"), then Python's lower-casing. Done here, never by
    PostgreSQL's lower(), whose rules differ for some letters ("İ")."""
    once = unicodedata.normalize("NFKC", value).strip().lower()
    return unicodedata.normalize("NFKC", once)


def _normalized_email(value: object) -> object:
    return normalize_email(value) if isinstance(value, str) else value


# A user's login: stored and looked up in its normal form only.
LoginEmail = Annotated[
    str,
    BeforeValidator(_normalized_email),
    StringConstraints(max_length=254, pattern=EMAIL_PATTERN),
]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=50)]
Tags = Annotated[list[Tag], Field(max_length=50)]
Phone = Annotated[str, StringConstraints(max_length=40)]  # as typed; phone_e164 is derived
Title = Annotated[str, StringConstraints(max_length=120)]  # a person's job title
Area = Annotated[str, StringConstraints(max_length=100)]  # industry, province


def _rfc3339_only(value: object) -> object:
    """Reject what pydantic would otherwise take as a Unix time ("0.5"): RFC 3339 only."""
    if isinstance(value, str) and "T" not in value.upper():
        raise ValueError("expected an RFC 3339 date-time such as 2026-11-23T09:00:00+07:00")
    return value


def _storable(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("date-time out of range")


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only), AfterValidator(_storable)]


# Checked against `/custom-fields` by the custom_fields service, where the size limit is kept.
CustomFieldValues = Annotated[
    dict[str, Any],
    Field(
        description="Values of the workspace's custom fields for this resource, by key (see "
        "`/custom-fields`); an update merges them key by key into the stored ones (null "
        f"removes a key). The result may take at most {CUSTOM_FIELDS_MAX_BYTES} bytes "
        f"({CUSTOM_FIELDS_MAX_BYTES // 1024} KiB) as compact UTF-8 JSON; beyond, the write "
        "is a 422 naming `custom_fields`."
    ),
]
