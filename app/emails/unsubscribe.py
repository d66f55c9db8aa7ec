"""Unsubscribe links: a token naming the workspace, the contact and the email, signed with an
HMAC-SHA256 of the app's secret key (a key of its own derived from it, so an unsubscribe token
can never pass for anything else the secret signs). No expiry: a link in an old email must
still work, and all it can do is stop mail."""

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from app.core.settings import get_settings

UNSUBSCRIBE_PATH = "/u/"


@dataclass(frozen=True)
class Unsubscribe:
    workspace_id: uuid.UUID
    contact_id: uuid.UUID
    email_id: uuid.UUID


def _key() -> bytes:
    secret = get_settings().jwt_secret().encode()
    return hmac.new(secret, b"sen:unsubscribe:v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(workspace_id: uuid.UUID, contact_id: uuid.UUID, email_id: uuid.UUID) -> str:
    payload = workspace_id.bytes + contact_id.bytes + email_id.bytes
    signature = hmac.new(_key(), payload, hashlib.sha256).digest()[:16]
    return _b64(payload + signature)


def read_token(token: str) -> Unsubscribe | None:
    """What a token names, or None when it is malformed or its signature is not ours."""
    try:
        raw = _unb64(token)
    except (ValueError, TypeError):
        return None
    if len(raw) != 64:
        return None
    payload, signature = raw[:48], raw[48:]
    expected = hmac.new(_key(), payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(signature, expected):
        return None
    return Unsubscribe(
        workspace_id=uuid.UUID(bytes=payload[:16]),
        contact_id=uuid.UUID(bytes=payload[16:32]),
        email_id=uuid.UUID(bytes=payload[32:48]),
    )


def unsubscribe_url(token: str) -> str:
    return f"{get_settings().public_base_url()}{UNSUBSCRIBE_PATH}{token}"
