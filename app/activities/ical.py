"""An iCalendar (RFC 5545) feed of activities, for calendar apps that subscribe by URL."""

import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from app.activities.models import Activity

_DEFAULT_LENGTH = timedelta(minutes=30)  # a call or task with no duration still shows up


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # CR among them: a bare one would end the line


def _text(value: str) -> str:
    """TEXT values escape backslashes, commas, semicolons and newlines; other control
    characters (a bare CR would start a line of its own in some readers) become spaces."""
    value = value.replace("\r\n", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _CONTROL.sub(" ", value.replace("\n", "\\n"))


def _time(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (UTF-8 safe)."""
    encoded, parts = line.encode(), list[str]()
    while len(encoded) > 75:
        cut = 75 if not parts else 74
        while cut and (encoded[cut] & 0xC0) == 0x80:  # don't split a multi-byte character
            cut -= 1
        parts.append(encoded[:cut].decode())
        encoded = encoded[cut:]
    parts.append(encoded.decode())
    return "\r\n ".join(parts)


def feed(name: str, activities: Iterable[Activity], *, now: datetime, host: str) -> str:
    """VCALENDAR with one VEVENT per activity that has a due time."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Sen CRM//Calendar//VI",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_text(name)}",
    ]
    for activity in activities:
        if activity.due_at is None:
            continue
        length = timedelta(minutes=activity.duration_minutes or 0) or _DEFAULT_LENGTH
        lines += [
            "BEGIN:VEVENT",
            f"UID:{activity.id}@{host}",
            f"DTSTAMP:{_time(now)}",
            f"LAST-MODIFIED:{_time(activity.updated_at)}",
            f"DTSTART:{_time(activity.due_at)}",
            f"DTEND:{_time(activity.due_at + length)}",
            f"SUMMARY:{_text(activity.subject)}",
            f"CATEGORIES:{activity.type.upper()}",
            f"STATUS:{'CANCELLED' if activity.deleted_at else 'CONFIRMED'}",
        ]
        if activity.body:
            lines.append(f"DESCRIPTION:{_text(activity.body)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
