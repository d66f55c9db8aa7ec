"""Password hashes, access tokens and API key secrets."""

import asyncio
import hashlib
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.errors import ServiceBusy

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when no account can be tried, so every login costs one argon2 verify.
_DUMMY_HASH = _hasher.hash("sen-dummy-password-for-timing")
_ALGORITHM = "HS256"

# argon2 takes a fifth of a second of CPU (and 64 MiB) per hash: it runs on these threads, never
# on the event loop (argon2-cffi releases the GIL), two at a time, with a bounded queue behind
# them, so a login storm slows logins, not every other request.
_HASHING_THREADS = 2
_HASHING_QUEUE_MAX = 64
_hashing = ThreadPoolExecutor(max_workers=_HASHING_THREADS, thread_name_prefix="sen-hash")
_waiting = 0


async def _on_hashing_thread(function: Any, *args: Any) -> Any:
    global _waiting
    if _waiting >= _HASHING_QUEUE_MAX:
        raise ServiceBusy("Too many password checks at once; try again in a moment")
    _waiting += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_hashing, function, *args)
    finally:
        _waiting -= 1


async def hash_password(password: str) -> str:
    hashed: str = await _on_hashing_thread(_hasher.hash, password)
    return hashed


async def verify_password(password: str, password_hash: str | None) -> bool:
    """One argon2 verify whatever happens: against the dummy hash when there is no hash (no
    such account, or an invited user who has not set a password), so timing tells nothing."""
    if password_hash is None:
        await _on_hashing_thread(_hasher.verify, password, _DUMMY_HASH)
        return False
    verified: bool = await _on_hashing_thread(_hasher.verify, password, password_hash)
    return verified


def create_access_token(
    secret: str, *, user_id: uuid.UUID, workspace_id: uuid.UUID, minutes: int
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "wid": str(workspace_id),
        # To the microsecond: a token issued after a password change must be told apart from
        # one issued the same second before it.
        "iat": now.timestamp(),
        "exp": now + timedelta(minutes=minutes),
        "typ": "access",
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


# Verified tokens by their text: a signature check is a tenth of a small request's CPU, and a
# client sends the same token many times. Expiry is re-checked on every use.
_VERIFIED: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 10_000
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "wid", "typ", "jti"]


def _well_formed(claims: dict[str, Any]) -> bool:
    """Every claim present and of its type: a validly signed token with `wid: null` or a
    number for `sub` is refused like a forged one, never a 500."""
    try:
        uuid.UUID(claims["sub"])
        uuid.UUID(claims["wid"])
    except (TypeError, ValueError, AttributeError):
        return False
    return (
        claims["typ"] == "access"
        and isinstance(claims["jti"], str)
        and 0 < len(claims["jti"]) <= 64
        and isinstance(claims["iat"], int | float)
        and not isinstance(claims["iat"], bool)
    )


def decode_access_token(secret: str, token: str) -> dict[str, Any] | None:
    claims = _VERIFIED.get((secret, token))
    if claims is None:
        try:
            claims = jwt.decode(
                token, secret, algorithms=[_ALGORITHM], options={"require": _REQUIRED_CLAIMS}
            )
        except jwt.PyJWTError:
            return None
        if not _well_formed(claims):
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
INVITATION_MARK = "inv_"  # a one-time link's token: sets an invited user's password


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
