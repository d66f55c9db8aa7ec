"""The workspace's SMTP server: kept (the password write-only: no answer and no history entry
shows it), read back, and checked by the worker — a check connects and signs in from a job,
never inside a request, and the settings carry its outcome for the caller to poll."""

from typing import Any

from sqlalchemy import select

from app.auth.api_keys import refuse_api_key
from app.core.context import Ctx
from app.core.errors import Conflict, NotFound
from app.core.events import emit
from app.core.history import apply_changes, record_change
from app.core.jobs import enqueue_after_commit
from app.core.models import utcnow
from app.emails import smtp
from app.emails.models import MailSettings
from app.emails.schemas import (
    MailCheckStatus,
    MailSettingsRead,
    MailSettingsWrite,
    SmtpSecurity,
)

HISTORY_NAME = "mail_settings"
CHECK_MAIL_SETTINGS = "check_mail_settings"  # the worker's job (workers/settings.py)
_FIELDS = ("host", "port", "security", "username", "password", "from_email", "from_name")


class MailSettingsNotFound(NotFound):
    code, title = "mail_settings_not_found", "No mail server is set for this workspace"


class MailNotConfigured(Conflict):
    code, title = "mail_not_configured", "Set the workspace's mail server first"


def _redact(field: str, value: Any) -> Any:
    if field == "password":
        return None if value is None else "***"
    return value


async def find_settings(ctx: Ctx, *, for_update: bool = False) -> MailSettings | None:
    stmt = select(MailSettings).where(MailSettings.workspace_id == ctx.workspace_id)
    if for_update:
        stmt = stmt.with_for_update()
    found: MailSettings | None = await ctx.session.scalar(stmt)
    return found


async def get_settings(
    ctx: Ctx, *, missing: type[NotFound | Conflict] = MailSettingsNotFound
) -> MailSettings:
    found = await find_settings(ctx)
    if found is None:
        raise missing("No mail server is set: PUT /api/v1/mail-settings")
    return found


def read(settings: MailSettings) -> MailSettingsRead:
    return MailSettingsRead(
        host=settings.host,
        port=settings.port,
        security=SmtpSecurity(settings.security),
        username=settings.username,
        password_set=settings.password is not None,
        from_email=settings.from_email,
        from_name=settings.from_name,
        per_minute=settings.per_minute,
        check_status=None
        if settings.check_status is None
        else MailCheckStatus(settings.check_status),
        check_error=settings.check_error,
        checked_at=settings.checked_at,
        updated_at=settings.updated_at,
    )


async def put_settings(ctx: Ctx, data: MailSettingsWrite) -> MailSettings:
    """Replace the settings; a password left out keeps the stored one (null removes it). A
    change forgets the last check's outcome: it was about other settings."""
    if "password" in data.model_fields_set:
        refuse_api_key(ctx, "set the mail server's password")
    values = data.model_dump(
        exclude={"password"} if "password" not in data.model_fields_set else set()
    )
    values["security"] = data.security.value
    existing = await find_settings(ctx, for_update=True)
    if existing is None:
        settings = MailSettings(workspace_id=ctx.workspace_id, **values)
        ctx.session.add(settings)
        await ctx.session.flush()
        changes = {f: {"old": None, "new": _redact(f, getattr(settings, f))} for f in _FIELDS}
        record_change(ctx, HISTORY_NAME, settings.id, "created", changes)
        return settings
    changes = apply_changes(ctx, HISTORY_NAME, existing, values, redact=_redact)
    if changes:
        existing.version += 1
        existing.check_status = existing.check_error = existing.checked_at = None
    await ctx.session.flush()
    return existing


async def request_check(ctx: Ctx) -> MailSettings:
    """Mark the settings `checking` and ask the worker to connect and sign in."""
    settings = await get_settings(ctx, missing=MailNotConfigured)
    settings.check_status = MailCheckStatus.checking.value
    settings.check_error = None
    emit(ctx, "mail_settings.check_requested", HISTORY_NAME, settings.id, {})
    await ctx.session.flush()
    stamp = utcnow().timestamp()
    enqueue_after_commit(
        ctx,
        CHECK_MAIL_SETTINGS,
        str(ctx.workspace_id),
        settings.version,
        job_id=f"mail-check:{ctx.workspace_id}:{settings.version}:{stamp}",
    )
    return settings


def server_of(settings: MailSettings) -> smtp.Server:
    return smtp.Server(
        host=settings.host,
        port=settings.port,
        security=settings.security,
        username=settings.username,
        password=settings.password,
    )


async def server_to_check(ctx: Ctx, version: int) -> smtp.Server | None:
    """The server of the settings a check was asked for; None once they changed again."""
    settings = await find_settings(ctx)
    if settings is None or settings.version != version:
        return None
    return server_of(settings)


async def record_check(ctx: Ctx, version: int, failure: str | None) -> None:
    """The outcome of a check, kept if the settings are still the ones it checked."""
    settings = await find_settings(ctx, for_update=True)
    if settings is None or settings.version != version:
        return
    settings.check_status = (MailCheckStatus.failed if failure else MailCheckStatus.ok).value
    settings.check_error = failure
    settings.checked_at = utcnow()
    checked = {"check_status": settings.check_status, "check_error": failure}
    emit(ctx, "mail_settings.checked", HISTORY_NAME, settings.id, checked)
    await ctx.session.flush()
