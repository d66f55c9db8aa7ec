"""Web forms: their definitions, the public key a website posts with, and what a page needs to
embed one. The only place that writes them."""

import re
import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.service import CAMPAIGNS
from app.core import records
from app.core.context import Ctx
from app.core.db import acting_for_the_public, look_up_before_workspace
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import Page, equals
from app.core.records import Patched, Resource
from app.core.settings import get_settings
from app.custom_fields import service as custom_fields
from app.forms import page
from app.forms.models import Form
from app.forms.schemas import (
    CUSTOM_FIELD_PREFIX,
    LEAD_FIELDS,
    FormCreate,
    FormQuery,
    FormRead,
    FormUpdate,
)
from app.leads import statuses
from app.users import service as users_service

INTAKE_PATH = "/api/v1/intake/forms/"
HOSTED_PATH = "/f/"


class FormNotFound(NotFound):
    code, title = "form_not_found", "Form not found"


def post_url(key: str) -> str:
    return f"{get_settings().public_base_url()}{INTAKE_PATH}{key}"


def hosted_url(key: str) -> str:
    return f"{get_settings().public_base_url()}{HOSTED_PATH}{key}"


def embed_html(form: Mapping[str, Any]) -> str:
    """A plain HTML form that posts to the intake endpoint: works without JavaScript, and a
    `redirect_url` brings the visitor back to the website afterwards."""
    return page.snippet(
        form["fields"],
        action=post_url(form["key"]),
        honeypot=form["honeypot_field"],
        consent_text=form["consent_text"],
    )


_STORED = [name for name in FormRead.model_fields if name in Form.__table__.c]


def _read(stored: Mapping[str, Any]) -> FormRead:
    """A form as it reads: its columns, where to post it, its hosted page and its snippet."""
    key = stored["key"]
    return FormRead.model_validate(
        {
            **{name: stored[name] for name in _STORED},
            "post_url": post_url(key),
            "hosted_url": hosted_url(key),
            "embed_html": embed_html(stored),
        }
    )


async def _present(ctx: Ctx, form: Form) -> FormRead:
    return _read({name: getattr(form, name) for name in _STORED})


_HISTORY = (
    "name", "fields", "mapping", "campaign_id", "default_source", "default_status",
    "default_owner_id", "tags", "allowed_origins", "honeypot_field", "redirect_url",
    "consent_text", "active",
)  # fmt: skip
FORMS = Resource(
    model=Form,
    name="form",
    read=FormRead,
    query=FormQuery,
    not_found=FormNotFound,
    filters={"active": equals("active"), "campaign_id": equals("campaign_id")},
    history=_HISTORY,
    present=_present,
)


async def list_forms(ctx: Ctx, query: FormQuery) -> Page[FormRead]:
    """A page of the workspace's forms, each with its URLs and embed snippet."""
    rows = await records.list_page(ctx, FORMS, query)
    return Page[FormRead](data=[_read(row) for row in rows.data], next_cursor=rows.next_cursor)


async def _check_references(ctx: Ctx, values: dict[str, Any], fields: list[dict[str, Any]]) -> None:
    """Campaign, status, owner and mapping of a form being saved (422 naming the field)."""
    if values.get("campaign_id") is not None:
        await records.referenced(ctx, CAMPAIGNS, values["campaign_id"], field="campaign_id")
    if values.get("default_status") is not None:
        try:
            await statuses.status_for_assignment(ctx, values["default_status"])
        except Unprocessable:
            raise Unprocessable(
                [{"field": "default_status", "message": "not an active lead status"}]
            )
    if values.get("default_owner_id") is not None:
        user_ids = [values["default_owner_id"]]
        if not await users_service.all_active(ctx, user_ids):
            raise Unprocessable(
                [{"field": "default_owner_id", "message": "not an active user of the workspace"}]
            )
    if "mapping" in values:
        await check_mapping(ctx, values["mapping"], names={field["name"] for field in fields})


async def check_mapping(
    ctx: Ctx, mapping: dict[str, str], *, names: set[str] | None = None, field: str = "mapping"
) -> None:
    """Each mapping's target is a lead field, a custom field declared for leads or `notes`
    (and, given `names`, its source one of them): a 422 naming each that is not."""
    declared: set[str] | None = None
    errors = []
    for source, target in mapping.items():
        where = f"{field}.{source}"
        if names is not None and source not in names:
            errors.append({"field": where, "message": "not a field of this form"})
        elif target.startswith(CUSTOM_FIELD_PREFIX):
            if declared is None:
                declared = {d.key for d in await custom_fields.list_definitions(ctx, "lead")}
            if target.removeprefix(CUSTOM_FIELD_PREFIX) not in declared:
                errors.append({"field": where, "message": "not a custom field of leads"})
        elif target not in LEAD_FIELDS:
            errors.append({"field": where, "message": "not a lead field, custom field or notes"})
    if errors:
        raise Unprocessable(errors)


async def create_form(ctx: Ctx, data: FormCreate) -> Form:
    """A new form with its public key (192 random bits: unguessable, never reused)."""
    values: dict[str, Any] = data.model_dump(mode="json")
    values["campaign_id"] = data.campaign_id
    values["default_owner_id"] = data.default_owner_id
    await _check_references(ctx, values, values["fields"])
    values["key"] = secrets.token_urlsafe(24)
    return await records.create(ctx, FORMS, values)


async def update_form(
    ctx: Ctx, form_id: uuid.UUID, data: FormUpdate, *, if_match: str | None
) -> Patched[Form]:
    """Only the fields sent change; the mapping is checked against the fields it will have."""

    async def rules(form: Form, values: dict[str, Any]) -> dict[str, Any]:
        fields = values.get("fields", form.fields)
        if "fields" in values and "mapping" not in values:
            values["mapping"] = form.mapping  # still names only fields the form has
        await _check_references(ctx, values, fields)
        return values

    values = data.model_dump(mode="json", exclude_unset=True)
    for name in ("campaign_id", "default_owner_id"):
        if name in values:
            values[name] = getattr(data, name)
    return await records.patch(ctx, FORMS, form_id, values, if_match=if_match, rules=rules)


# Public key -> (workspace, form), as found. A key never changes hands, so a process may keep
# what it found: each post then skips the look-up transaction (two round trips) and the form is
# checked live and active in its workspace's own transaction all the same.
_LOCATED: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}
_LOCATED_MAX = 10_000
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")  # what secrets.token_urlsafe makes


async def locate_form(session: AsyncSession, key: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The (workspace, form) a public key belongs to, if the form is live and active. Read as
    the credential role before any workspace is known, in a transaction of its own that ends
    here, so the workspace's transaction begins with its own role (DESIGN §4)."""
    known = _LOCATED.get(key)
    if known is not None:
        return known
    if not _KEY_SHAPE.fullmatch(key):
        return None  # not one we make: unknown, without a look-up (or a NUL sent to it)
    found = await look_up_before_workspace(
        session,
        select(Form.workspace_id, Form.id).where(
            Form.key == key, Form.active.is_(True), Form.deleted_at.is_(None)
        ),
    )
    if not found:
        return None
    row = found[0]
    if len(_LOCATED) >= _LOCATED_MAX:
        _LOCATED.clear()  # bounded: a flood of distinct keys can't grow it without end
    _LOCATED[key] = (row.workspace_id, row.id)
    return _LOCATED[key]


async def public_form(session: AsyncSession, key: str) -> tuple[Ctx, Form]:
    """The live, active form a public key names, with a context in its workspace for what the
    public may do there (store a submission); 404 when there is none."""
    located = await locate_form(session, key)
    if located is not None:
        workspace_id, form_id = located
        ctx = await acting_for_the_public(session, workspace_id)
        form = await records.find_visible(ctx, Form, form_id)
        if form is not None and form.active:  # still, in the workspace's own transaction
            return ctx, form
    raise FormNotFound("No active form has this key")
