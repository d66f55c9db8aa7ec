"""Record ids: time-ordered UUIDv7, made in Python (PostgreSQL 15 has no uuidv7())."""

import uuid

import uuid_utils.compat as uuid_compat


def new_id() -> uuid.UUID:
    return uuid_compat.uuid7()
