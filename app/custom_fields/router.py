import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.auth.dependencies import Admin, Member
from app.core.concurrency import IfMatch, set_etag
from app.core.errors import (
    DELETE_ERRORS,
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    Forbidden,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.limits import CUSTOM_FIELDS_PER_RESOURCE
from app.core.routing import CommittingRoute
from app.custom_fields import service
from app.custom_fields.schemas import (
    CustomFieldCreate,
    CustomFieldList,
    CustomFieldRead,
    CustomFieldResource,
    CustomFieldUpdate,
)

router = APIRouter(prefix="/custom-fields", tags=["custom-fields"], route_class=CommittingRoute)
FieldID = Annotated[uuid.UUID, Path(description="The definition's id.")]


@router.get(
    "",
    summary="List custom field definitions",
    description="What frontends render in forms; records carry the values in `custom_fields`. "
    f"Not paged: a resource has at most {CUSTOM_FIELDS_PER_RESOURCE} fields, so this is at most "
    f"{CUSTOM_FIELDS_PER_RESOURCE * len(CustomFieldResource)} definitions "
    f"({CUSTOM_FIELDS_PER_RESOURCE} with `resource`).",
    responses=problems(*READ_ERRORS),
)
async def list_custom_fields(
    ctx: Member, resource: Annotated[CustomFieldResource | None, Query()] = None
) -> CustomFieldList:
    found = await service.list_definitions(ctx, resource)
    return CustomFieldList(data=[CustomFieldRead.model_validate(d) for d in found])


@router.post(
    "",
    summary="Declare a custom field",
    description="Admins only. `key` is unique per resource and permanent. A resource has at "
    f"most {CUSTOM_FIELDS_PER_RESOURCE} custom fields: one more is a 409 `custom_field_limit` "
    "(delete one first).",
    status_code=status.HTTP_201_CREATED,
    responses=problems(
        *WRITE_ERRORS, Forbidden, service.CustomFieldKeyTaken, service.TooManyCustomFields
    ),
)
async def create_custom_field(
    body: CustomFieldCreate, ctx: Admin, _: Idempotent
) -> CustomFieldRead:
    return CustomFieldRead.model_validate(await service.create_definition(ctx, body))


@router.get(
    "/{field_id}",
    summary="Get a custom field definition",
    responses=problems(*READ_ERRORS, service.CustomFieldNotFound),
)
async def get_custom_field(field_id: FieldID, ctx: Member, response: Response) -> CustomFieldRead:
    definition = await service.get_definition(ctx, field_id)
    set_etag(response, definition.version)
    return CustomFieldRead.model_validate(definition)


@router.patch(
    "/{field_id}",
    summary="Update a custom field definition",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.CustomFieldNotFound),
)
async def update_custom_field(
    field_id: FieldID,
    body: CustomFieldUpdate,
    ctx: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> CustomFieldRead:
    """Admins only. Label, options, required and position can change; key and type cannot."""
    definition = await service.update_definition(ctx, field_id, body, if_match=if_match)
    set_etag(response, definition.version)
    return CustomFieldRead.model_validate(definition)


@router.delete(
    "/{field_id}",
    summary="Remove a custom field definition",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(*DELETE_ERRORS, Forbidden, service.CustomFieldNotFound),
)
async def delete_custom_field(field_id: FieldID, ctx: Admin, if_match: IfMatch = None) -> None:
    """Admins only. Values already on records stay; the key is no longer accepted in writes."""
    await service.delete_definition(ctx, field_id, if_match=if_match)
