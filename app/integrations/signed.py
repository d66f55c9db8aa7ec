"""Webhooks signed with a shared secret: HMAC-SHA256 over the raw body, compared in constant
time. TikTok Lead Generation signs `TikTok-Signature: t=<unix time>,s=<hex>`; the generic
provider (landing-page builders, Zalo forms, scripts) `X-Sen-Timestamp: <unix time>` and
`X-Sen-Signature: sha256=<hex>`; both over `<timestamp>.<body>`, within 5 minutes of now."""

import hashlib
import hmac
import time
from typing import Any

from app.core.errors import Forbidden, Unauthorized, Unprocessable
from app.integrations.payloads import (
    Answer,
    Delivered,
    as_text,
    check_lead_object,
    leaves,
    parse_json,
    storable,
)

TOLERANCE_SECONDS = 300
MAX_LEADS = 100
MAX_ID_CHARS = 200  # as `submissions.external_id` keeps it
TIKTOK_HEADER = "tiktok-signature"
TIMESTAMP_HEADER = "x-sen-timestamp"
SIGNATURE_HEADER = "x-sen-signature"


class SignatureMissing(Unauthorized):
    code, title = "signature_missing", "The request carries no signature or key"


class SignatureInvalid(Forbidden):
    code, title = "signature_invalid", "The signature or key does not match"


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def same_secret(expected: str, sent: str) -> bool:
    """Constant-time, whatever the sent text holds (headers arrive as latin-1 text)."""
    return hmac.compare_digest(expected.encode(), sent.encode("utf-8", "surrogatepass"))


def check_hmac(secret: str, message: bytes, sent: str | None) -> None:
    """`sent` must be the hex HMAC-SHA256 of `message` with `secret`: 401 when absent, 403
    when it differs."""
    if not sent:
        raise SignatureMissing("Sign the raw body with the integration's secret")
    if not same_secret(hmac_hex(secret, message), sent.strip().lower()):
        raise SignatureInvalid("The signature is not the body's HMAC-SHA256 with this secret")


def _check_time(timestamp: str) -> None:
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureInvalid("The timestamp is not a Unix time in seconds")
    if abs(time.time() - sent_at) > TOLERANCE_SECONDS:
        raise SignatureInvalid("The timestamp is more than 5 minutes from now: sign it anew")


def check_tiktok(secret: str, raw: bytes, header: str | None) -> None:
    """`TikTok-Signature: t=…,s=…` over `t.body`, `t` within 5 minutes."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    timestamp, signature = parts.get("t", "").strip(), parts.get("s", "")
    if not timestamp or not signature:
        raise SignatureMissing("Send TikTok-Signature: t=<unix time>,s=<hex HMAC-SHA256>")
    check_hmac(secret, f"{timestamp}.".encode() + raw, signature)
    _check_time(timestamp)


def check_generic(secret: str, raw: bytes, timestamp: str | None, signature: str | None) -> None:
    """`X-Sen-Signature: sha256=<hex>` over `<X-Sen-Timestamp>.body`, within 5 minutes."""
    if not timestamp or not signature:
        raise SignatureMissing("Send X-Sen-Timestamp and X-Sen-Signature: sha256=<hex>")
    check_hmac(secret, f"{timestamp.strip()}.".encode() + raw, signature.removeprefix("sha256="))
    _check_time(timestamp.strip())


def verified_tiktok_leads(
    raw: bytes, config: dict[str, Any], *, header: str | None
) -> list[Delivered]:
    check_tiktok(config["secret"], raw, header)
    return delivered_leads(raw, config)


def verified_generic_leads(
    raw: bytes, config: dict[str, Any], *, timestamp: str | None, signature: str | None
) -> list[Delivered]:
    check_generic(config["secret"], raw, timestamp, signature)
    return delivered_leads(raw, config)


def _value_at(lead: dict[str, Any], path: str) -> Any:
    found: Any = lead
    for part in path.split("."):
        if not isinstance(found, dict):
            return None
        found = found.get(part)
    return found


def delivered_leads(raw: bytes, config: dict[str, Any]) -> list[Delivered]:
    """The leads of a verified body: one JSON object, or an array of up to 100. Each one's id
    is at `config.id_field` (a dotted path); one without an id is stored every time it comes."""
    body = storable(parse_json(raw))
    many = isinstance(body, list)
    sent = body if many else [body]
    if many and not 1 <= len(sent) <= MAX_LEADS:
        message = f"send 1 to {MAX_LEADS} leads at a time"
        raise Unprocessable([{"field": "body", "message": message}])
    delivered = []
    for n, lead in enumerate(sent):
        where = f"body.{n}" if many else "body"
        check_lead_object(lead, where)
        external_id = None
        if config.get("id_field"):
            external_id = as_text(_value_at(lead, config["id_field"]))
        if external_id is not None and len(external_id) > MAX_ID_CHARS:
            message = f"an id of at most {MAX_ID_CHARS} characters"
            raise Unprocessable([{"field": f"{where}.{config['id_field']}", "message": message}])
        delivered.append(Delivered(external_id=external_id, payload=lead))
    return delivered


def answers(payload: dict[str, Any], config: dict[str, Any]) -> list[Answer]:
    """Every value of a signed lead by its dotted path, its id left out."""
    found = []
    for path, value in leaves(payload):
        text = as_text(value)
        if text is not None and path != config.get("id_field"):
            found.append(Answer(name=path, label=path, value=text))
    return found
