"""Google Ads lead form webhooks: one lead per post, authenticated by the `google_key` the
advertiser set on the form (in the body), its answers in `user_column_data` by `column_id`."""

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from app.integrations.payloads import (
    MAX_VALUE_CHARS,
    Answer,
    Delivered,
    check_lead_object,
    invalid_body,
    parse_json,
    storable,
)
from app.integrations.signed import SignatureInvalid, SignatureMissing, same_secret


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_text), StringConstraints(max_length=200)]


class ColumnData(BaseModel):
    column_id: Id | None = Field(None, description="`FULL_NAME`, `EMAIL`, `PHONE_NUMBER`, …")
    column_name: Annotated[str, StringConstraints(max_length=500)] | None = None
    string_value: Annotated[str, StringConstraints(max_length=MAX_VALUE_CHARS)] | None = None


class GoogleLead(BaseModel):
    """What Google Ads posts for a lead form submission. Fields it adds later are kept; the
    whole body is at most 1048576 bytes, 500 values of 10,000 characters."""

    model_config = ConfigDict(extra="allow")

    lead_id: Id | None = None
    user_column_data: list[ColumnData] = Field(default_factory=list, max_length=200)
    api_version: Id | None = None
    form_id: Id | None = None
    campaign_id: Id | None = None
    adgroup_id: Id | None = None
    creative_id: Id | None = None
    google_key: Annotated[str, StringConstraints(max_length=1000)] | None = None
    is_test: bool = False
    gcl_id: Annotated[str, StringConstraints(max_length=500)] | None = None


def verified_leads(raw: bytes, config: dict[str, Any]) -> list[Delivered]:
    """The one lead of a body whose `google_key` is the integration's (401 without one, 403
    when it differs: nothing is stored). The key is not kept with what was sent."""
    return [_delivered_lead(raw, config["google_key"])]


def _delivered_lead(raw: bytes, google_key: str) -> Delivered:
    body = parse_json(raw)
    sent_key = body.get("google_key") if isinstance(body, dict) else None
    if not isinstance(sent_key, str) or not sent_key:
        raise SignatureMissing("Google Ads sends the form's google_key in the body")
    if not same_secret(google_key, sent_key):
        raise SignatureInvalid("google_key is not this integration's key")
    try:
        lead = GoogleLead.model_validate(check_lead_object(storable(body), "body"))
    except PydanticValidationError as error:
        raise invalid_body(error)
    payload = {k: v for k, v in body.items() if k != "google_key"}
    return Delivered(lead.lead_id, payload, test=lead.is_test)


def answers(payload: dict[str, Any]) -> list[Answer]:
    """Each column by its id (`FULL_NAME` fills `full_name`), and the click id as `gclid`."""
    lead = GoogleLead.model_validate(payload)
    found = []
    for column in lead.user_column_data:
        name = column.column_id or column.column_name
        if name and column.string_value:
            label = column.column_name or name
            found.append(Answer(name=name, label=label, value=column.string_value))
    if lead.gcl_id:
        found.append(Answer(name="gclid", label="gcl_id", value=lead.gcl_id))
    return found
