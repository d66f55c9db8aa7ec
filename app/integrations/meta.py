"""Meta (Facebook and Instagram) Lead Ads: the webhook's handshake and signature, the leadgen
changes it announces, and the Graph API calls that fetch each lead (by the worker) or a form's
leads over a date range (a backfill)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import httpx
import orjson
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, ValidationError

from app.core.errors import Unprocessable
from app.core.settings import get_settings
from app.integrations.payloads import (
    Answer,
    Delivered,
    as_text,
    invalid_body,
    parse_json,
    storable,
)
from app.integrations.signed import SignatureInvalid, SignatureMissing, check_hmac, same_secret

SIGNATURE_HEADER = "x-hub-signature-256"
GRAPH_FIELDS = "id,created_time,field_data,ad_id,adset_id,campaign_id,form_id,platform,is_organic"
PAGE_SIZE = 100
# Graph's error codes for "try again later": rate limits and temporary outages.
TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 613}
INVALID_TOKEN = 190


def _id_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# Graph ids are digits; checked, they can go into a URL's path.
GraphId = Annotated[str, BeforeValidator(_id_text), StringConstraints(pattern=r"^[0-9]{1,30}$")]
Text = Annotated[str, BeforeValidator(_id_text), StringConstraints(max_length=200)]


class LeadgenValue(BaseModel):
    """A `leadgen` change: which lead, of which form, page and ad."""

    leadgen_id: GraphId
    form_id: GraphId | None = None
    page_id: GraphId | None = None
    ad_id: GraphId | None = None
    adgroup_id: GraphId | None = None
    created_time: int | None = None


class Change(BaseModel):
    field: Text
    value: dict[str, Any] = Field(
        description="A `leadgen` change's ids (`leadgen_id`, `form_id`, `page_id`, `ad_id`); "
        "other fields are ignored (the whole body is at most 1048576 bytes)."
    )


class Entry(BaseModel):
    id: Text | None = Field(None, description="The page.")
    time: int | None = None
    changes: list[Change] = Field(default_factory=list, max_length=1000)


class MetaWebhook(BaseModel):
    """What Meta posts for a page's `leadgen` subscription: the leads are fetched later."""

    object: Text
    entry: list[Entry] = Field(max_length=1000)


def check_signature(app_secret: str, raw: bytes, header: str | None) -> None:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>`."""
    if not header:
        raise SignatureMissing("Meta signs every post with X-Hub-Signature-256")
    check_hmac(app_secret, raw, header.removeprefix("sha256="))


def check_handshake(verify_token: str, mode: str, sent_token: str) -> None:
    """Meta's subscription check: `hub.mode=subscribe` with the integration's verify token."""
    if mode != "subscribe" or not same_secret(verify_token, sent_token):
        raise SignatureInvalid("Not a subscription with this integration's verify token")


def verified_leads(raw: bytes, config: dict[str, Any], *, signature: str | None) -> list[Delivered]:
    """The leads of a post signed with the integration's app secret (401/403 otherwise)."""
    check_signature(config["app_secret"], raw, signature)
    return delivered_leads(raw)


def delivered_leads(raw: bytes) -> list[Delivered]:
    """One lead per `leadgen` change of a verified body (other changes are ignored), its
    leadgen id as its external id: the lead itself is fetched by the worker. A change that is
    not a lead Sen can fetch is kept `failed`, with why, and never holds back the others:
    refusing the post would make Meta resend them all until it gives up."""
    try:
        webhook = MetaWebhook.model_validate(parse_json(raw))
        delivered = []
        for n, entry in enumerate(webhook.entry):
            for m, change in enumerate(entry.changes):
                if change.field != "leadgen":
                    continue
                context = storable({"page_id": entry.id, "entry_time": entry.time})
                try:
                    value = LeadgenValue.model_validate(change.value)
                except ValidationError as error:
                    refused = _located(error, f"entry.{n}.changes.{m}.value").extra["errors"]
                    reason = "; ".join(f"{e['field']}: {e['message']}" for e in refused)
                    kept = storable(change.value)
                    delivered.append(Delivered(None, kept, context, error=reason[:2000]))
                    continue
                payload = storable(value.model_dump(exclude_none=True))
                delivered.append(Delivered(value.leadgen_id, payload, context))
    except ValidationError as error:
        raise invalid_body(error)
    return delivered


def _located(error: ValidationError, where: str) -> Unprocessable:
    unprocessable = invalid_body(error)
    for item in unprocessable.extra["errors"]:
        item["field"] = f"{where}.{item['field']}"
    return unprocessable


@dataclass(frozen=True)
class Fetched:
    """What Graph answered: its JSON object (`lead`: a lead, or a page of a form's leads), or
    why not (`transient`: worth trying again)."""

    lead: dict[str, Any] | None = None
    error: str | None = None
    transient: bool = False


def _graph_url(path: str) -> str:
    return f"{get_settings().meta_graph_url.rstrip('/')}/{path}"


def _refusal(response: httpx.Response) -> Fetched:
    """Graph's error as a reason to show (never the URL: it carries the token)."""
    try:
        error = orjson.loads(response.content).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    message = str(error.get("message") or "")[:300] if isinstance(error, dict) else ""
    if code == INVALID_TOKEN:
        reason = f"Meta refused the page access token (Graph error 190): {message}"
        return Fetched(error=reason.strip())
    transient = response.status_code >= 500 or response.status_code == 429
    transient = transient or code in TRANSIENT_CODES
    reason = f"Meta's Graph API answered {response.status_code}"
    if code is not None:
        reason += f" (error {code}: {message})"
    return Fetched(error=reason, transient=transient)


async def _get(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> Fetched:
    """One Graph GET: its JSON object, or the reason it failed."""
    timeout = get_settings().meta_timeout_seconds
    try:
        response = await http.get(_graph_url(path), params=params, timeout=timeout)
    except httpx.TimeoutException:
        return Fetched(
            error=f"Meta's Graph API did not answer within {timeout:g} s", transient=True
        )
    except httpx.HTTPError as error:
        reason = f"Meta's Graph API could not be reached ({type(error).__name__})"
        return Fetched(error=reason, transient=True)
    if response.status_code != 200:
        return _refusal(response)
    try:
        found = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        return Fetched(error="Meta's Graph API answered something that is not JSON")
    return Fetched(lead=found)


async def fetch_lead(http: httpx.AsyncClient, leadgen_id: str, token: str) -> Fetched:
    """The lead a webhook announced, from `{SEN_META_GRAPH_URL}/{leadgen_id}`. An id that is
    no Graph id (a change kept `failed`, then replayed) is never put in a URL."""
    if not isinstance(leadgen_id, str) or not leadgen_id.isdigit():
        return Fetched(error=f"not a Graph lead id: {str(leadgen_id)[:100]!r}")
    fetched = await _get(http, leadgen_id, {"access_token": token, "fields": GRAPH_FIELDS})
    if fetched.lead is not None and not isinstance(fetched.lead.get("field_data"), list):
        return Fetched(error="Meta's Graph API answered a lead without field_data")
    return fetched


@dataclass
class FormLeads:
    leads: list[dict[str, Any]]
    truncated: bool = False
    error: Fetched | None = None


async def fetch_form_leads(
    http: httpx.AsyncClient,
    form_id: str,
    token: str,
    *,
    since: datetime,
    until: datetime,
    at_most: int,
) -> FormLeads:
    """A lead form's leads created in [since, until), page by page, at most `at_most`."""
    filtering = [
        {"field": "time_created", "operator": "GREATER_THAN", "value": int(since.timestamp()) - 1},
        {"field": "time_created", "operator": "LESS_THAN", "value": int(until.timestamp())},
    ]
    params = {
        "access_token": token,
        "fields": GRAPH_FIELDS,
        "limit": str(PAGE_SIZE),
        "filtering": orjson.dumps(filtering).decode(),
    }
    found = FormLeads(leads=[])
    while True:
        page = await _get(http, f"{form_id}/leads", params)
        if page.lead is None:
            found.error = page
            return found
        data = page.lead.get("data")
        found.leads += [lead for lead in data if _is_lead(lead)] if isinstance(data, list) else []
        paging = page.lead.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after") if isinstance(paging, dict) else None
        if len(found.leads) >= at_most:
            found.truncated = bool(paging.get("next")) or len(found.leads) > at_most
            found.leads = found.leads[:at_most]
            return found
        if not paging.get("next") or not isinstance(after, str):
            return found
        params = {**params, "after": after}


def _is_lead(lead: Any) -> bool:
    return (
        isinstance(lead, dict)
        and isinstance(lead.get("id"), str)
        and lead["id"].isdigit()
        and isinstance(lead.get("field_data"), list)
    )


def delivered_from_graph(lead: dict[str, Any], context: dict[str, Any]) -> Delivered:
    """A lead read from Graph (a backfill), stored with its answers: nothing left to fetch."""
    payload = {"leadgen_id": lead["id"], "lead": lead}
    for key in ("form_id", "ad_id"):
        if isinstance(lead.get(key), str):
            payload[key] = lead[key]
    return Delivered(lead["id"], payload, context)


def answers(lead: dict[str, Any]) -> list[Answer]:
    """The lead form's questions and what the person answered (`field_data`)."""
    found = []
    for item in lead.get("field_data") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        value = as_text(item.get("values"))
        if value:
            found.append(Answer(name=item["name"], label=item["name"], value=value))
    return found
