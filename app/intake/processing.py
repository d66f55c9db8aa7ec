"""What the worker does with one submission, whatever sent it (a web form, an ad platform, a
signed webhook): map its fields onto a lead, normalise them, and either find the person Sen
already knows (a duplicate: the record gets an activity saying they came back) or make the
lead, give it an owner and tell them."""

import uuid
from dataclasses import dataclass
from typing import Any

from app.activities import service as activities_service
from app.activities.schemas import ActivityCreate, ActivityType, RelatedType
from app.assignment import service as assignment_service
from app.campaigns import service as campaigns_service
from app.contacts.models import Contact
from app.core.context import Ctx
from app.core.errors import Unprocessable
from app.core.schemas import normalize_email
from app.duplicates import matching as duplicates_matching
from app.duplicates import service as duplicates_service
from app.duplicates.schemas import DuplicateResource
from app.forms.models import Form
from app.forms.schemas import CUSTOM_FIELD_PREFIX, LEAD_FIELDS
from app.intake.models import Submission
from app.intake.schemas import SubmissionStatus
from app.integrations import google, meta, signed
from app.integrations.models import Integration
from app.integrations.payloads import FIELD_ALIASES, Answer
from app.integrations.schemas import IntegrationProvider
from app.leads import service as leads_service
from app.leads.models import Lead
from app.leads.schemas import LeadCreate, LeadSource
from app.notifications import service as notifications
from app.users import service as users_service


@dataclass(frozen=True)
class Outcome:
    status: SubmissionStatus
    lead_id: uuid.UUID | None = None
    duplicate_of_type: str | None = None
    duplicate_of_id: uuid.UUID | None = None


@dataclass
class Mapped:
    """A submission's values as lead fields, plus what had no field of its own."""

    values: dict[str, Any]
    custom: dict[str, Any]
    notes: list[str]

    def put(self, target: str, label: str, value: str) -> None:
        """`value` into a custom field, the notes, or a lead field (into the notes when that
        field is already filled: a city after the province)."""
        if target.startswith(CUSTOM_FIELD_PREFIX):
            self.custom[target.removeprefix(CUSTOM_FIELD_PREFIX)] = value
        elif target == "notes" or target in self.values:
            self.notes.append(f"{label}: {value}")
        else:
            self.values[target] = value


@dataclass(frozen=True)
class Origin:
    """Where a submission came from, as its lead, its owner and its notes say it."""

    label: str  # `form “Đăng ký lái thử”`, `Facebook “Fanpage Minh Phát”`
    source: str
    campaign_id: uuid.UUID | None
    tags: tuple[str, ...] = ()
    status: str | None = None
    default_owner_id: uuid.UUID | None = None
    form_id: uuid.UUID | None = None
    integration_id: uuid.UUID | None = None


def map_form_fields(form: Form, payload: dict[str, str]) -> Mapped:
    """Each sent field to its mapped lead field, the lead field of its own name, a custom
    field, or a `label: value` line of the notes."""
    mapped = Mapped(values={}, custom={}, notes=[])
    for field in form.fields:
        name = field["name"]
        value = payload.get(name)
        if not value:
            continue
        target = form.mapping.get(name) or (name if name in LEAD_FIELDS else "notes")
        mapped.put(target, field["label"], value)
    return mapped


def map_answers(answers: list[Answer], mapping: dict[str, str]) -> Mapped:
    """Each answer to the target its integration maps it to, else the lead field its name
    means (`phone_number`, Google's `FULL_NAME`), else a `name: value` line of the notes."""
    mapped = Mapped(values={}, custom={}, notes=[])
    for answer in answers:
        target = mapping.get(answer.name) or FIELD_ALIASES.get(answer.name.lower(), "notes")
        mapped.put(target, answer.label, answer.value)
    return mapped


_PLATFORMS = {
    IntegrationProvider.meta: ("Facebook", LeadSource.facebook),
    IntegrationProvider.google: ("Google Ads", LeadSource.google_ads),
    IntegrationProvider.tiktok: ("TikTok", LeadSource.tiktok),
    IntegrationProvider.generic: ("Webhook", LeadSource.other),
}


def _integration_answers(integration: Integration, submission: Submission) -> list[Answer]:
    payload = submission.payload or {}
    if integration.provider == IntegrationProvider.meta:
        lead = payload.get("lead")
        if not isinstance(lead, dict):
            raise Unprocessable([{"field": "payload", "message": "its lead was not fetched"}])
        return meta.answers(lead)
    if integration.provider == IntegrationProvider.google:
        return google.answers(payload)
    return signed.answers(payload, integration.config)


async def _source_of(ctx: Ctx, submission: Submission) -> tuple[Origin, Mapped]:
    """The form or integration a submission came through, and its values mapped onto a lead."""
    if submission.form_id is not None:
        form = await ctx.session.get(Form, (ctx.workspace_id, submission.form_id))
        if form is None:
            raise Unprocessable([{"field": "form_id", "message": "its form no longer exists"}])
        origin = Origin(
            label=f"form “{form.name}”",
            source=form.default_source,
            campaign_id=form.campaign_id,
            tags=tuple(form.tags),
            status=form.default_status,
            default_owner_id=form.default_owner_id,
            form_id=form.id,
        )
        return origin, map_form_fields(form, submission.payload or {})
    integration = await ctx.session.get(Integration, (ctx.workspace_id, submission.integration_id))
    if integration is None:
        message = "its integration no longer exists"
        raise Unprocessable([{"field": "integration_id", "message": message}])
    platform, source = _PLATFORMS[IntegrationProvider(integration.provider)]
    origin = Origin(
        label=f"{platform} “{integration.name}”",
        source=integration.config.get("source") or source,
        campaign_id=integration.campaign_id,
        integration_id=integration.id,
    )
    answers = _integration_answers(integration, submission)
    return origin, map_answers(answers, integration.config.get("mapping") or {})


def _full_name(values: dict[str, Any]) -> str:
    """Given outright, or family name then given name (Vietnamese order), or whatever
    identifies the person."""
    given = " ".join(values.pop(k, "") for k in ("last_name", "first_name")).strip()
    name = values.pop("full_name", "") or given or values.get("email") or values.get("phone")
    return " ".join(str(name or "Khách chưa để tên").split())[:200]


async def _known_person(ctx: Ctx, values: dict[str, Any]) -> tuple[str, Any]:
    """The live lead or contact the workspace's lead rules take this person for (the
    strongest match), or ("", None). Two posts of one person processed at once (a double
    click on "send") wait for each other, so the second finds the first's lead."""
    probe = duplicates_matching.comparable(values.get, organisation=False)
    await duplicates_service.one_identity_at_a_time(ctx, probe)
    found = await duplicates_service.find_duplicates(ctx, DuplicateResource.lead, probe)
    if not found:
        return "", None
    model = Lead if found[0].resource is DuplicateResource.lead else Contact
    return found[0].resource.value, await ctx.session.get(model, (ctx.workspace_id, found[0].id))


async def _came_back(
    ctx: Ctx, kind: str, record: Any, origin: Origin, values: dict[str, Any], notes: list[str]
) -> None:
    """The record the person already was gets an activity with what they sent this time, and
    its owner hears of it (the workspace owner, when that owner has left)."""
    sent = [f"{k}: {v}" for k, v in values.items() if v] + notes
    owner_id = record.owner_id
    if owner_id is not None and not await users_service.all_active(ctx, [owner_id]):
        owner_id = None
    await activities_service.create_activity(
        ctx,
        ActivityCreate(
            type=ActivityType.note,
            subject=f"Quay lại qua {origin.label}"[:200],
            body="\n".join(sent)[:20_000] or None,
            owner_id=owner_id,
            related_type=RelatedType(kind),
            related_id=record.id,
            completed=True,
        ),
    )
    await notifications.notify_about_lead(
        ctx,
        user_id=owner_id or await users_service.workspace_owner(ctx),
        kind="lead_returned",
        title=f"{record.full_name} quay lại qua {origin.label}",
        lead_id=record.id if kind == "lead" else None,
    )


async def _owner_for(ctx: Ctx, origin: Origin, values: dict[str, Any]) -> uuid.UUID:
    """By the first assignment rule that holds, else the form's default owner, else the
    workspace owner."""
    facts = assignment_service.LeadFacts(
        form_id=origin.form_id,
        integration_id=origin.integration_id,
        campaign_id=values.get("campaign_id"),
        source=values["source"],
        province=values.get("province"),
        tags=tuple(values.get("tags", ())),
    )
    chosen = await assignment_service.choose_owner(ctx, facts)
    default = origin.default_owner_id
    if chosen is None and default is not None and await users_service.all_active(ctx, [default]):
        chosen = default
    return chosen or await users_service.workspace_owner(ctx)


async def lead_from(ctx: Ctx, submission: Submission) -> Outcome:
    """The submission's lead, or the record the person already was (a duplicate)."""
    origin, mapped = await _source_of(ctx, submission)
    values = mapped.values
    values["full_name"] = _full_name(values)
    if values.get("email"):
        values["email"] = normalize_email(values["email"])
    tracking = submission.context.get("tracking", {})
    values.update({k: v for k, v in tracking.items() if k not in values})

    kind, known = await _known_person(ctx, values)
    if known is not None:
        await _came_back(ctx, kind, known, origin, values, mapped.notes)
        return Outcome(SubmissionStatus.duplicate, duplicate_of_type=kind, duplicate_of_id=known.id)

    values["source"] = origin.source
    values["tags"] = list(origin.tags)
    values["campaign_id"] = origin.campaign_id or await campaigns_service.campaign_for_utm(
        ctx, values.get("utm_campaign")
    )
    values["owner_id"] = await _owner_for(ctx, origin, values)
    data = LeadCreate.model_validate(
        {
            **values,
            "status": origin.status,
            "custom_fields": mapped.custom,
            "notes": "\n".join(mapped.notes)[:10_000] or None,
        }
    )
    lead = await leads_service.create_lead_from_submission(
        ctx, data, submission_id=submission.id, form_id=origin.form_id
    )
    await notifications.notify_about_lead(
        ctx,
        user_id=values["owner_id"],
        kind="lead_assigned",
        title=f"Lead mới: {lead.full_name} ({origin.label})",
        lead_id=lead.id,
    )
    return Outcome(SubmissionStatus.processed, lead_id=lead.id)
