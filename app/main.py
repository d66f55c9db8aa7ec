"""create_app(): routers, error handlers, middleware and the lifespan that opens the pools."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import httpx
from arq.connections import ArqRedis
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from sqlalchemy import text
from starlette.types import Receive, Scope, Send

from app.accounts.router import router as accounts_router
from app.activities.router import calendar_router, timelines_router
from app.activities.router import router as activities_router
from app.assignment.router import router as assignment_rules_router
from app.auth.router import keys_router as api_keys_router
from app.auth.router import router as auth_router
from app.automations.router import router as automations_router
from app.campaigns.router import router as campaigns_router
from app.contacts.router import account_contacts_router
from app.contacts.router import router as contacts_router
from app.core import idempotency, jobs, openapi
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import (
    ServiceUnavailable,
    install_error_handlers,
    problem_response,
    problems,
)
from app.core.observability import (
    BodyLimitMiddleware,
    RequestMiddleware,
    configure_logging,
    metrics_endpoint,
)
from app.core.queue import HEARTBEAT_KEY, queue_client
from app.core.ratelimit import RateLimiter
from app.core.routing import open_session
from app.core.runtime import database_url, redis_url
from app.core.settings import Settings, get_settings
from app.custom_fields.router import router as custom_fields_router
from app.deals.router import account_deals_router
from app.deals.router import router as deals_router
from app.duplicates.router import router as duplicates_router
from app.duplicates.router import rules_router as duplicate_rules_router
from app.emails.router import mail_settings_router, unsubscribe_router
from app.emails.router import router as emails_router
from app.emails.router import templates_router as email_templates_router
from app.events.router import router as events_router
from app.exports.router import router as exports_router
from app.forms.router import hosted_router
from app.forms.router import router as forms_router
from app.imports.router import router as imports_router
from app.intake.router import router as intake_router
from app.intake.webhooks import router as intake_webhooks_router
from app.integrations.router import router as integrations_router
from app.leads.router import router as leads_router
from app.leads.router import statuses_router as lead_statuses_router
from app.merging.router import other_methods_router as merge_other_methods_router
from app.merging.router import router as merging_router
from app.notifications import live as live_notifications
from app.notifications.router import router as notifications_router
from app.pipelines.router import router as pipelines_router
from app.search.router import router as search_router
from app.users.router import router as users_router
from app.webhooks.router import router as webhooks_router

API_PREFIX = "/api/v1"
DESCRIPTION = """Sen is a self-hostable CRM API: leads, accounts, contacts, deals, activities.

Conventions: JSON in snake_case; errors are `application/problem+json` with a stable `code`
(each error response lists the codes it can carry as its `examples`, one per code);
lists take `limit`/`cursor` and answer `{data, next_cursor}`; GET sends an `ETag` that PATCH
and DELETE accept as `If-Match`; POST accepts `Idempotency-Key`; DELETE is a soft delete."""

TAGS = [
    {"name": "auth", "description": "Sign-up and login."},
    {"name": "users", "description": "You, your workspace's users and teams."},
    {"name": "api-keys", "description": "Keys for integrators: shown once, revocable."},
    {"name": "leads", "description": "People and organisations interested in what you sell."},
    {"name": "lead-statuses", "description": "The workspace's configurable lead statuses."},
    {
        "name": "accounts",
        "description": "Organisations: customers, prospects, partners, suppliers, competitors.",
    },
    {"name": "contacts", "description": "People, linked to accounts with a role at each."},
    {"name": "pipelines", "description": "Sales pipelines and their ordered stages."},
    {"name": "deals", "description": "Sales opportunities moving through pipeline stages."},
    {
        "name": "activities",
        "description": "Calls, emails, meetings, notes and tasks about any record; reminders.",
    },
    {"name": "calendar", "description": "Agendas, and the iCalendar feed calendar apps read."},
    {"name": "notifications", "description": "Your inbox: reminders and what needs you."},
    {
        "name": "campaigns",
        "description": "Marketing campaigns leads come from; what each brought in.",
    },
    {"name": "search", "description": "One search over leads, contacts, accounts and deals."},
    {
        "name": "duplicates",
        "description": "Duplicate rules, checked on every create and update of leads, contacts "
        "and accounts; a record's duplicates.",
    },
    {"name": "custom-fields", "description": "Admin-declared extra fields per resource."},
    {"name": "forms", "description": "Web forms websites embed, and Sen's hosted page for each."},
    {
        "name": "integrations",
        "description": "Connections to ad platforms (Meta Lead Ads, Google Ads, TikTok) and "
        "any source that signs its webhooks; a backfill of missed Meta leads.",
    },
    {
        "name": "intake",
        "description": "The public endpoints forms and ad platforms post leads to (no token: "
        "a form key or a provider's signature), and the log of every submission.",
    },
    {
        "name": "assignment-rules",
        "description": "Who gets a new lead from intake: round robin, least loaded or fixed.",
    },
    {
        "name": "events",
        "description": "Every change as a domain event, in commit order, for integrators who "
        "poll (webhooks push the same events).",
    },
    {
        "name": "automations",
        "description": "Workflows: on an event, a date (birthdays) or a schedule, for the "
        "records whose conditions hold, do actions in order, each once; their runs.",
    },
    {
        "name": "email-templates",
        "description": "Email templates with Jinja2 variables, rendered in a sandbox; previews.",
    },
    {"name": "mail-settings", "description": "The workspace's SMTP server, and its check."},
    {
        "name": "emails",
        "description": "Emails about a record, sent by the worker; the public unsubscribe link.",
    },
    {"name": "health", "description": "Liveness and readiness."},
]


class MembersCors(CORSMiddleware):
    """CORS for the SPA origins of SEN_CORS_ORIGINS, on every path but the public intake ones,
    which answer each form's own `allowed_origins` (app/intake/router.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PUBLIC_INTAKE):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


PUBLIC_INTAKE = f"{API_PREFIX}/intake/forms/"


def _operation_id(route: APIRoute) -> str:
    return route.name


class NotReady(ServiceUnavailable):
    """/readyz: `detail` names what does not answer."""

    code, title = "not_ready", "Not ready"


class Health(BaseModel):
    status: Literal["ok", "ready"]


def _health_router(*, check_worker: bool) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Process is up")
    async def healthz() -> Health:
        """Answers while the process runs; no dependency is checked."""
        return Health(status="ok")

    @router.get(
        "/readyz",
        summary="Database, Redis and the worker answer",
        response_model=Health,
        responses={
            503: {
                **problems(NotReady)[503],
                "description": "Not ready: `detail` names what does not answer "
                "(`database`, `redis`, `worker`)",
            }
        },
    )
    async def readyz(request: Request) -> Health | Response:
        """200 when PostgreSQL and Redis answer and a worker has polled the queue in the last
        few seconds (its heartbeat in Redis), else 503 naming what doesn't: `database`,
        `redis`, `worker`. The worker check is off where SEN_READYZ_CHECKS_WORKER=false."""
        return await _readiness(request.app, check_worker=check_worker)

    return router


async def _readiness(app: FastAPI, *, check_worker: bool) -> Health | Response:
    failing = []
    try:
        async with app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        failing.append("database")
    try:
        await app.state.redis.ping()
    except Exception:
        failing.append("redis")
    # Without Redis no heartbeat can be read, and no worker can work either.
    if check_worker and ("redis" in failing or not await _worker_beats(app.state.redis)):
        failing.append("worker")
    if failing:
        return problem_response(
            503, "not_ready", "Not ready", f"Not answering: {', '.join(failing)}"
        )
    return Health(status="ready")


async def _worker_beats(redis: ArqRedis) -> bool:
    try:
        return bool(await redis.exists(HEARTBEAT_KEY))
    except Exception:
        return False


def create_app(
    settings: Settings | None = None,
    *,
    db_url: str | None = None,
    queue_url: str | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved_db = db_url or await database_url(settings)
        resolved_redis = queue_url or await redis_url(settings)
        app.state.engine = make_engine(
            resolved_db,
            statement_timeout_ms=settings.statement_timeout_ms,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_size,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        app.state.sessionmaker = make_sessionmaker(app.state.engine)
        app.state.open_session = open_session
        app.state.redis = queue_client(resolved_redis)
        app.state.rate_limiter = RateLimiter(resolved_redis)
        app.state.http = httpx.AsyncClient(follow_redirects=False)  # Meta's Graph API
        app.state.live_notifications = live_notifications.listen(resolved_db, settings)
        try:
            yield
        finally:
            await app.state.live_notifications.close()
            await app.state.http.aclose()
            await jobs.wait_for_sends()
            await app.state.rate_limiter.aclose()
            await app.state.redis.aclose()
            await app.state.engine.dispose()

    app = FastAPIOffline(
        title="Sen CRM API",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    install_error_handlers(app)
    idempotency.install(app)
    openapi.install(app)

    for router in (
        auth_router,
        users_router,
        api_keys_router,
        merge_other_methods_router,  # before the records' `/{id}` routes: see its 405s
        leads_router,
        lead_statuses_router,
        accounts_router,
        account_contacts_router,
        contacts_router,
        pipelines_router,
        deals_router,
        account_deals_router,
        activities_router,
        timelines_router,
        calendar_router,
        notifications_router,
        campaigns_router,
        search_router,
        custom_fields_router,
        forms_router,
        intake_router,
        assignment_rules_router,
        intake_webhooks_router,
        integrations_router,
        duplicate_rules_router,
        duplicates_router,
        merging_router,
        exports_router,
        imports_router,
        events_router,
        automations_router,
        email_templates_router,
        mail_settings_router,
        emails_router,
        webhooks_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(hosted_router)
    app.include_router(unsubscribe_router)
    app.include_router(_health_router(check_worker=settings.readyz_checks_worker))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    # An import's upload is bigger than any JSON body: its route reads it as a stream and
    # enforces SEN_IMPORT_MAX_BYTES itself, to a temporary file.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        own_limits=(f"{API_PREFIX}/imports",),
    )
    if settings.cors_origins:
        app.add_middleware(
            MembersCors,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "X-Request-ID", "Idempotent-Replayed"],
        )
    app.add_middleware(RequestMiddleware)
    return app
