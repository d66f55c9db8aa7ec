"""Phone numbers as people type them ("0912 345 678") and in E.164 ("+84912345678")."""

import phonenumbers

DEFAULT_REGION = "VN"


def to_e164(phone: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 when the number parses and is possible, else None (the typed value is kept)."""
    if not phone or not phone.strip():
        return None
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
