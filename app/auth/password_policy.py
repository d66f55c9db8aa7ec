"""What a password must not be: too short or long, only spaces or invisible characters, one of
the passwords every attacker tries first, or the account's own email."""

import unicodedata
from functools import cache
from pathlib import Path

MIN_LENGTH = 8
MAX_LENGTH = 128
# Letters Unicode counts as letters that still show nothing (Hangul fillers, Braille blank).
_BLANK_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}
_INVISIBLE_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"}


@cache
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(_folded(line) for line in lines if line and not line.startswith("#"))


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _visible(character: str) -> bool:
    return (
        unicodedata.category(character) not in _INVISIBLE_CATEGORIES
        and character not in _BLANK_LETTERS
    )


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why `password` is refused, in words for the person choosing it; None if it is fine."""
    if len(password) < MIN_LENGTH:
        return f"at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"at most {MAX_LENGTH} characters"
    if not any(_visible(character) for character in password):
        return "spaces and invisible characters alone are not a password"
    folded = _folded(password)
    if folded in _common_passwords():
        return "this password is among the most common ones; choose another"
    if email and folded in {_folded(email), _folded(email.partition("@")[0])}:
        return "the password must not be your email"
    return None
