"""What time it is for the workspace's calendar: date and schedule workflows fire by this clock.
`SEN_CLOCK_AT` stops it at a moment (tests move it to a birthday); unset, it is the real time."""

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.models import utcnow
from app.core.settings import get_settings

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"


def now() -> datetime:
    return get_settings().clock_at or utcnow()


def zone(name: str | None) -> tzinfo:
    """A workspace's time zone; an unknown name falls back to Vietnam's."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)
