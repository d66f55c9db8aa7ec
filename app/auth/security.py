"""Password hashes, access tokens and API key secrets."""

import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when an email is unknown, so both answers cost one argon2 verify.
_DUMMY_HASH = _hasher.hash("sen-dummy-password-for-timing")
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


def create_access_token(
    secret: str, *, user_id: uuid.UUID, workspace_id: uuid.UUID, minutes: int
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "wid": str(workspace_id),
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


# Verified tokens by their text: a signature check is a tenth of a small request's CPU, and a
# client sends the same token many times. Expiry is re-checked on every use.
_VERIFIED: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 10_000


def decode_access_token(secret: str, token: str) -> dict[str, Any] | None:
    claims = _VERIFIED.get((secret, token))
    if claims is None:
        try:
            claims = jwt.decode(
                token, secret, algorithms=[_ALGORITHM], options={"require": ["exp"]}
            )
        except jwt.PyJWTError:
            return None
        if claims.get("typ") != "access":
            return None
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        _VERIFIED[(secret, token)] = claims
    if claims["exp"] <= time.time():
        _VERIFIED.pop((secret, token), None)
        return None
    return claims


API_KEY_MARK = "sen_"
CALENDAR_TOKEN_MARK = "cal_"  # a calendar feed's token: reads one user's agenda, nothing else


def new_secret(mark: str = API_KEY_MARK) -> tuple[str, str, str]:
    """(full secret, public prefix, hash). Secrets are random, so a plain SHA-256 is the right
    hash; the prefix finds the row before the hash is compared."""
    prefix = secrets.token_hex(6)
    key = f"{mark}{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, hash_api_key(key)


def new_api_key() -> tuple[str, str, str]:
    return new_secret(API_KEY_MARK)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_api_key(key: str, mark: str = API_KEY_MARK) -> str | None:
    """The prefix of a well-formed key (or calendar token, with its mark), else None."""
    if not key.startswith(mark):
        return None
    prefix, _, secret = key[len(mark) :].partition("_")
    return prefix if len(prefix) == 12 and secret else None
