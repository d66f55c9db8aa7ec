"""Record ids: time-ordered UUIDv7, made in Python (PostgreSQL 15 has no uuidv7())."""

import uuid
from datetime import datetime

import uuid_utils.compat as uuid_compat


def new_id() -> uuid.UUID:
    return uuid_compat.uuid7()


def id_floor(at: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of `at`'s millisecond: every id made from then on sorts after it."""
    millis = int(at.timestamp() * 1000)
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (0b10 << 62))
