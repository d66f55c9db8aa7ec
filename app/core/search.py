"""`q=` that ignores case and Vietnamese diacritics. Records keep a folded `search_text` column
(filled by the app, indexed with pg_trgm), so "nguyen van anh" finds "Nguyễn Văn Ánh" through
an index instead of unaccent() per row."""

import re
import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, and_

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case, strip diacritics (đ -> d), collapse spaces."""
    text = text.replace("đ", "d").replace("Đ", "d")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.lower()).strip()


def search_text(*parts: str | None) -> str:
    return " | ".join(fold(p) for p in parts if p)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches(column: Any, q: str) -> ColumnElement[bool] | None:
    """Every word of q appears in the folded column (each an index-served LIKE)."""
    words = [w for w in fold(q).split(" ") if w]
    if not words:
        return None
    return and_(*(column.like(f"%{_escape_like(w)}%", escape="\\") for w in words))
