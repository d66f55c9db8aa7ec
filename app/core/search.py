"""`q=` that ignores case and Vietnamese diacritics. Records keep a folded `search_text` column
(filled by the app, indexed with pg_trgm), so "nguyen van anh" finds "Nguyễn Văn Ánh" through
an index instead of unaccent() per row."""

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_

from app.core.phones import to_e164

_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=16_384)  # a record's name is folded for its match key and its search text
def fold(text: str) -> str:
    """Lower-case, strip diacritics (đ -> d), collapse spaces."""
    text = text.replace("đ", "d").replace("Đ", "d")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.lower()).strip()


def search_text(*parts: str | None) -> str:
    return " | ".join(fold(p) for p in parts if p)


def derived_columns(record: Any, searched: Sequence[str]) -> dict[str, Any]:
    """The columns a record with a phone derives from its own fields: `phone_e164` (from
    `phone`, as typed) and `search_text`, the folded `searched` fields (`phone_e164` may be one
    of them). `record` is a dict of values or an ORM object."""
    read = record.get if isinstance(record, dict) else lambda name: getattr(record, name)
    derived = {"phone_e164": to_e164(read("phone"))}
    derived["search_text"] = search_text(
        *(derived[name] if name in derived else read(name) for name in searched)
    )
    return derived


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# pg_trgm indexes words of three letters or more; a shorter pattern would be a scan.
TRIGRAM = 3


def matches(column: Any, q: str) -> ColumnElement[bool] | None:
    """Every word of q appears in the folded column, each through an index: words of three
    letters or more anywhere (trigram index); when every word is shorter, the first matches
    the start of the text — the name — (prefix index) and the rest anywhere among those."""
    words = [w for w in fold(q).split(" ") if w]
    if not words:
        return None
    anywhere = [w for w in words if len(w) >= TRIGRAM]
    conditions = [column.like(f"%{_escape_like(w)}%", escape="\\") for w in words]
    if not anywhere:
        conditions[0] = column.like(f"{_escape_like(words[0])}%", escape="\\")
    return and_(*conditions)
