"""Custom field definitions, and the one validator every resource's `custom_fields` go through."""

import json
import uuid
from datetime import date
from typing import Any

from sqlalchemy import select

from app.core.concurrency import check_if_match
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.history import apply_changes, record_change, record_creation
from app.core.limits import (
    CUSTOM_FIELD_TEXT_CHARS,
    CUSTOM_FIELDS_MAX_BYTES,
    CUSTOM_FIELDS_PER_RESOURCE,
    LimitReached,
    ensure_room,
)
from app.core.models import table_of
from app.core.records import flush_or_conflict, read_rows
from app.core.workspace_settings import cached, settings_changed
from app.custom_fields.models import CustomFieldDefinition
from app.custom_fields.schemas import CustomFieldCreate, CustomFieldType, CustomFieldUpdate

_MAX_EXACT = 2**53 - 1


class CustomFieldNotFound(NotFound):
    code, title = "custom_field_not_found", "Custom field not found"


class CustomFieldKeyTaken(Conflict):
    code, title = "custom_field_key_taken", "This resource already has a field with that key"


class TooManyCustomFields(LimitReached):
    code, title = "custom_field_limit", "This resource has as many custom fields as allowed"


async def list_definitions(ctx: Ctx, resource: str | None = None) -> list[CustomFieldDefinition]:
    stmt = select(CustomFieldDefinition).where(
        CustomFieldDefinition.workspace_id == ctx.workspace_id
    )
    stmt = stmt.order_by(
        CustomFieldDefinition.resource, CustomFieldDefinition.position, CustomFieldDefinition.key
    )
    if resource:
        stmt = stmt.where(CustomFieldDefinition.resource == resource)
    return list(await ctx.session.scalars(stmt))


async def get_definition(ctx: Ctx, definition_id: uuid.UUID) -> CustomFieldDefinition:
    found = await ctx.session.get(CustomFieldDefinition, (ctx.workspace_id, definition_id))
    if found is None:
        raise CustomFieldNotFound()
    return found


async def create_definition(ctx: Ctx, data: CustomFieldCreate) -> CustomFieldDefinition:
    """A key is unique per resource: a second one is a 409. A resource has at most
    CUSTOM_FIELDS_PER_RESOURCE fields: 409 `custom_field_limit` beyond, delete one first."""
    await ensure_room(
        ctx,
        table_of(CustomFieldDefinition),
        CustomFieldDefinition.resource == data.resource,
        cap=CUSTOM_FIELDS_PER_RESOURCE,
        error=TooManyCustomFields(
            f"A {data.resource} has at most {CUSTOM_FIELDS_PER_RESOURCE} custom fields; "
            "delete one first"
        ),
    )
    definition = CustomFieldDefinition(workspace_id=ctx.workspace_id, **data.model_dump())
    ctx.session.add(definition)
    await flush_or_conflict(
        ctx, CustomFieldKeyTaken(f"`{data.key}` already exists on {data.resource}")
    )
    record_creation(ctx, "custom_field", definition, list(data.model_dump()))
    await settings_changed(ctx)
    return definition


async def update_definition(
    ctx: Ctx, definition_id: uuid.UUID, data: CustomFieldUpdate, *, if_match: str | None
) -> CustomFieldDefinition:
    definition = await get_definition(ctx, definition_id)
    check_if_match(definition.version, if_match)
    values = data.model_dump(exclude_unset=True)
    if "options" in values:
        choice = definition.type in (CustomFieldType.select, CustomFieldType.multiselect)
        if choice != bool(values["options"]):
            raise Unprocessable([{"field": "options", "message": "options fit select fields only"}])
    apply_changes(ctx, "custom_field", definition, values)
    await ctx.session.flush()
    await settings_changed(ctx)
    return definition


async def delete_definition(ctx: Ctx, definition_id: uuid.UUID, *, if_match: str | None) -> None:
    """Values already stored stay on records; the key is no longer accepted in writes."""
    definition = await get_definition(ctx, definition_id)
    check_if_match(definition.version, if_match)
    await ctx.session.delete(definition)
    await ctx.session.flush()
    record_change(
        ctx, "custom_field", definition.id, "deleted", {"key": {"old": definition.key, "new": None}}
    )
    await settings_changed(ctx)


async def _definitions_by_key(ctx: Ctx, resource: str) -> dict[str, Any]:
    table = CustomFieldDefinition.__table__

    async def load() -> dict[str, Any]:
        rows = await read_rows(
            ctx,
            select(table).where(
                table.c.workspace_id == ctx.workspace_id, table.c.resource == resource
            ),
        )
        return {row.key: row for row in rows}

    return await cached(ctx, f"custom_fields:{resource}", load)


def _coerce(definition: Any, value: Any) -> tuple[Any, str | None]:
    kind = CustomFieldType(definition.type)
    if kind is CustomFieldType.text:
        ok = isinstance(value, str) and len(value) <= CUSTOM_FIELD_TEXT_CHARS
        return (
            value,
            None if ok else f"must be text of at most {CUSTOM_FIELD_TEXT_CHARS} characters",
        )
    if kind is CustomFieldType.number:
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and abs(value) <= _MAX_EXACT  # what a JavaScript client can hold exactly
        )
        return value, None if ok else f"must be a number within ±{_MAX_EXACT}"
    if kind is CustomFieldType.boolean:
        return value, None if isinstance(value, bool) else "must be true or false"
    if kind is CustomFieldType.date:
        try:
            return date.fromisoformat(value).isoformat(), None
        except (TypeError, ValueError):
            return value, "must be a date (YYYY-MM-DD)"
    if kind is CustomFieldType.select:
        ok = isinstance(value, str) and value in definition.options
        return value, None if ok else f"must be one of {definition.options}"
    ok = isinstance(value, list) and all(
        isinstance(v, str) and v in definition.options for v in value
    )
    return value, None if ok else f"must be a list of {definition.options}"


def stored_size(values: dict[str, Any]) -> int:
    """Bytes of `values` as compact UTF-8 JSON: what every response carrying them spends."""
    return len(json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode())


async def validate_values(
    ctx: Ctx, resource: str, values: dict[str, Any], *, existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Merge `values` into `existing` (null removes a key); unknown keys, wrong types and
    missing required fields are a 422 naming each field, and so is a merge over
    CUSTOM_FIELDS_MAX_BYTES (naming `custom_fields`) unless it shrinks what was stored."""
    definitions = await _definitions_by_key(ctx, resource)
    merged = dict(existing or {})
    errors: list[dict[str, str]] = []
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors.append({"field": f"custom_fields.{key}", "message": "unknown custom field"})
            continue
        if value is None:
            merged.pop(key, None)
            continue
        coerced, problem = _coerce(definition, value)
        if problem:
            errors.append({"field": f"custom_fields.{key}", "message": problem})
        else:
            merged[key] = coerced
    for key, definition in definitions.items():
        if definition.required and merged.get(key) in (None, "", []):
            errors.append({"field": f"custom_fields.{key}", "message": "required"})
    size = stored_size(merged)
    # A record stored before the limit existed may be over it: it can still be edited down.
    if size > CUSTOM_FIELDS_MAX_BYTES and size > stored_size(existing or {}):
        message = (
            f"at most {CUSTOM_FIELDS_MAX_BYTES} bytes as JSON once merged; this would be {size}"
        )
        errors.append({"field": "custom_fields", "message": message})
    if errors:
        raise Unprocessable(errors)
    return merged
