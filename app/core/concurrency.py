"""Optimistic concurrency: `version` -> `ETag`; `If-Match` on PATCH/DELETE -> 412 when stale.
SQLAlchemy's version_id_col also makes two racing writes with one version fail."""

from typing import Annotated

from fastapi import Header, Response

from app.core.errors import PreconditionFailed

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=64,
        description='The ETag you read (`"3"`): the change applies only to that version.',
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def check_if_match(current_version: int, if_match: str | None) -> None:
    """412 unless If-Match is absent, `*`, or names the current version. Weak tags (`W/"3"`)
    never match: If-Match compares strongly (RFC 9110 §13.1.1)."""
    if if_match is None:
        return
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags or f'"{current_version}"' in tags:
        return
    raise PreconditionFailed(
        f"If-Match {if_match} is stale: the record is at version {current_version}; re-read it",
        current_version=current_version,
    )
