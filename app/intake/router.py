"""Intake over HTTP: the public endpoint websites post forms to (no token: the form's key
authenticates it), and the submissions log members read and replay."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.datastructures import UploadFile

from app.auth.dependencies import Admin, Member
from app.core.errors import (
    READ_ERRORS,
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    SenError,
    Unprocessable,
    problems,
)
from app.core.pagination import Page
from app.core.ratelimit import client_ip
from app.core.routing import CommittingRoute
from app.core.settings import get_settings
from app.forms import service as forms_service
from app.forms.models import Form
from app.forms.router import public_form
from app.intake import receiving, service
from app.intake.schemas import Accepted, SubmissionQueryParams, SubmissionRead
from app.integrations.payloads import as_text, parse_json, storable

router = APIRouter(prefix="/intake", tags=["intake"], route_class=CommittingRoute)

FormKey = Annotated[str, Path(max_length=100, description="The form's public key.")]
SubmissionID = Annotated[uuid.UUID, Path(description="The submission's id.")]
MAX_SENT_FIELDS = 200
_BROWSER_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

_SENT_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "The form's fields by name, as text (JSON numbers and booleans are taken as "
    "text too); UTM parameters (`utm_source` … `utm_content`) and click ids (`gclid`, "
    "`fbclid`) may come here or in the query string.",
    "example": {"full_name": "Nguyễn Văn Ánh", "phone": "0912 345 678", "utm_source": "zalo"},
}
_POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _SENT_SCHEMA},
            "application/x-www-form-urlencoded": {"schema": _SENT_SCHEMA},
            "multipart/form-data": {"schema": _SENT_SCHEMA},
        },
    }
}


def _text(value: Any, field: str) -> str:
    if value is False or value == []:
        return ""  # an unticked checkbox, nothing chosen: not filled in
    text = as_text(value)
    if text is None:
        raise Unprocessable([{"field": field, "message": "a value is text, a number or a list"}])
    return text


async def _sent_fields(request: Request) -> dict[str, str]:
    """The posted fields as text, whatever the encoding a website or browser used."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    sent: dict[str, Any] = {}
    if kind == "application/json":
        parsed = parse_json(await request.body())
        if not isinstance(parsed, dict):
            raise BadRequest("The body is a JSON object of fields")
        sent = {str(k): _text(v, str(k)) for k, v in parsed.items()}
    elif kind in _BROWSER_FORMS:
        form = await request.form(max_files=0, max_fields=MAX_SENT_FIELDS + 1)
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                raise Unprocessable([{"field": key, "message": "files are not taken"}])
            sent[key] = f"{sent[key]}, {value}" if key in sent else value
    else:
        raise BadRequest("Send JSON, a urlencoded form or a multipart form")
    if len(sent) > MAX_SENT_FIELDS:
        raise Unprocessable([{"field": "body", "message": f"at most {MAX_SENT_FIELDS} fields"}])
    storable(sent)
    return sent


def _cors_headers(form: Form, request: Request) -> dict[str, str]:
    """CORS for one form: only its own allowed origins, named one at a time (never `*`)."""
    origin = request.headers.get("origin")
    if origin is None or origin.lower() not in form.allowed_origins:
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _context(request: Request, sent: dict[str, str]) -> dict[str, Any]:
    headers = request.headers
    return {
        "ip": client_ip(request),
        "origin": (headers.get("origin") or "")[:300] or None,
        "referer": (headers.get("referer") or "")[:1000] or None,
        "user_agent": (headers.get("user-agent") or "")[:300] or None,
        "tracking": receiving.tracking_of(dict(request.query_params), sent),
    }


@router.post(
    "/forms/{form_key}",
    summary="Submit a web form (public)",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    openapi_extra=_POST_BODY,
    responses={
        303: {"description": "A browser's form post, sent on to the form's `redirect_url`."},
        **problems(
            BadRequest, forms_service.FormNotFound, PayloadTooLarge, Unprocessable, RateLimited
        ),
    },
)
async def submit_form(form_key: FormKey, request: Request) -> Response:
    """What a website's form posts, as JSON, urlencoded or multipart; no token. 202 once it is
    stored: the lead is made by the worker a moment later. A required field missing or a
    malformed email is a 422 naming the field; an unknown or inactive key a 404; more than
    `SEN_INTAKE_POSTS_PER_MINUTE` posts a minute from one address to one form a 429."""
    settings = get_settings()
    limiter = request.app.state.rate_limiter
    await limiter.limit(
        "intake", settings.intake_posts_per_minute, 60, client_ip(request), form_key
    )
    sent = await _sent_fields(request)
    ctx, form = await public_form(request, form_key)
    cors = _cors_headers(form, request)
    try:
        submission = await receiving.receive_form_submission(
            ctx, form, sent, _context(request, sent)
        )
    except SenError as error:
        error.headers.update(cors)  # so the page's script can read which field was wrong
        raise
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if form.redirect_url and kind in _BROWSER_FORMS:
        return RedirectResponse(form.redirect_url, status_code=303, headers=cors)
    body = Accepted(submission_id=submission.id).model_dump(mode="json")
    return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED, headers=cors)


@router.options("/forms/{form_key}", include_in_schema=False)
async def submit_form_preflight(form_key: FormKey, request: Request) -> Response:
    """A browser asks whether a website's page may post here: yes only for the form's own
    allowed origins (an unknown key or origin gets no permission, and no hint which)."""
    try:
        _, form = await public_form(request, form_key)
    except forms_service.FormNotFound:
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Vary": "Origin"})
    headers = _cors_headers(form, request)
    if "Access-Control-Allow-Origin" in headers:
        headers |= {
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)


@router.get("/submissions", summary="List intake submissions", responses=problems(*READ_ERRORS))
async def list_submissions(ctx: Member, query: SubmissionQueryParams) -> Page[SubmissionRead]:
    """Everything forms and ad platforms sent, newest first, with what became of each
    (`status`, `lead_id`, `error`, `attempts`) and its raw payload."""
    return await service.list_submissions(ctx, query)


@router.get(
    "/submissions/{submission_id}",
    summary="Get an intake submission",
    responses=problems(*READ_ERRORS, service.SubmissionNotFound),
)
async def get_submission(submission_id: SubmissionID, ctx: Member) -> SubmissionRead:
    """One submission, its raw payload and what became of it."""
    return SubmissionRead.model_validate(await service.get_submission(ctx, submission_id))


@router.post(
    "/submissions/{submission_id}/replay",
    summary="Process a submission again",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(
        *READ_ERRORS,
        Forbidden,
        service.SubmissionNotFound,
        service.SubmissionAlreadyProcessed,
        service.SubmissionIsTest,
    ),
)
async def replay_submission(submission_id: SubmissionID, ctx: Admin) -> SubmissionRead:
    """Owners and admins: a failed, spam or duplicate submission goes through processing again
    (after fixing a custom field that refused it, say; spam is checked as a post is, 422). One
    that made its lead, or a platform's test lead, is a 409."""
    return SubmissionRead.model_validate(await service.replay_submission(ctx, submission_id))
