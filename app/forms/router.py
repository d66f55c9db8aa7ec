import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from app.auth.dependencies import Admin, Member
from app.core import records
from app.core.concurrency import IfMatch
from app.core.context import Ctx
from app.core.errors import (
    READ_ERRORS,
    UPDATE_ERRORS,
    WRITE_ERRORS,
    Forbidden,
    RateLimited,
    problems,
)
from app.core.idempotency import Idempotent
from app.core.pagination import Page
from app.core.ratelimit import client_ip
from app.core.record_routes import add_record_routes
from app.core.routing import CommittingRoute
from app.core.settings import get_settings
from app.forms import page, service
from app.forms.models import Form
from app.forms.schemas import FormCreate, FormQueryParams, FormRead, FormUpdate
from app.forms.service import FORMS

router = APIRouter(prefix="/forms", tags=["forms"], route_class=CommittingRoute)
hosted_router = APIRouter(tags=["forms"], route_class=CommittingRoute)

FormID = Annotated[uuid.UUID, Path(description="The form's id.")]


@router.get("", summary="List web forms", responses=problems(*READ_ERRORS))
async def list_forms(ctx: Member, query: FormQueryParams) -> Page[FormRead]:
    """The workspace's forms, newest first, each with its post URL, hosted page and embed
    snippet. Filter by `active` or `campaign_id`."""
    return await service.list_forms(ctx, query)


@router.post(
    "",
    summary="Create a web form",
    status_code=status.HTTP_201_CREATED,
    responses=problems(*WRITE_ERRORS, Forbidden),
)
async def create_form(body: FormCreate, ctx: Admin, _: Idempotent, response: Response) -> FormRead:
    """Owners and admins. The answer carries the form's public `key`, the URL a website posts
    to (no token needed), Sen's hosted page for it, and a ready-to-paste HTML snippet."""
    form = await service.create_form(ctx, body)
    return await records.read_with_etag(ctx, FORMS, form, response)


add_record_routes(
    router,
    FORMS,
    caller=Member,
    writer=Admin,
    id_name="form_id",
    notes={
        "delete": "Its key stops taking submissions (404); what it already took is kept.",
        "restore": "Its key takes submissions again.",
    },
)


@router.patch(
    "/{form_id}",
    summary="Update a web form",
    responses=problems(*UPDATE_ERRORS, Forbidden, service.FormNotFound),
)
async def update_form(
    form_id: FormID, body: FormUpdate, ctx: Admin, response: Response, if_match: IfMatch = None
) -> FormRead:
    """Owners and admins; only the fields you send change. `active: false` stops the form
    taking submissions (404 to posters) without deleting it. The key never changes."""
    patched = await service.update_form(ctx, form_id, body, if_match=if_match)
    return await records.read_with_etag(ctx, FORMS, patched.record, response)


async def public_form(request: Request, key: str) -> tuple[Ctx, Form]:
    """The form a public key names (404 otherwise). An address that keeps trying keys no form
    has is refused (429) before its guesses reach the database."""
    limiter, address = request.app.state.rate_limiter, client_ip(request)
    amount = get_settings().intake_unknown_keys_per_minute
    await limiter.check("intake-unknown-key", amount, 60, address)
    try:
        return await service.public_form(request.state.session, key)
    except service.FormNotFound:
        await limiter.count("intake-unknown-key", amount, 60, address)
        raise


@hosted_router.get(
    "/f/{form_key}",
    summary="A form's hosted page (public)",
    response_class=HTMLResponse,
    responses={
        200: {"description": "The form as a web page", "content": {"text/html": {}}},
        **problems(service.FormNotFound, RateLimited),
    },
)
async def hosted_form_page(
    form_key: Annotated[str, Path(max_length=100, description="The form's public key.")],
    request: Request,
    lang: Annotated[
        Literal["vi", "en"] | None, Query(description="Default: the browser's.")
    ] = None,
) -> HTMLResponse:
    """Sen's own page for a form, to link to from an ad or a message: Vietnamese or English,
    usable on a phone, posting to the form's intake endpoint. No token needed."""
    _, form = await public_form(request, form_key)
    chosen = page.language(lang, request.headers.get("accept-language"))
    body, nonce = page.render(form, post_path=f"{service.INTAKE_PATH}{form.key}", lang=chosen)
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors *"
    )
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": policy,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        },
    )
