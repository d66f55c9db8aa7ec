"""The forms of a name, an email and a company name that duplicate rules compare, stored beside
each record (`email_key`, `name_key`, `company_key`) so candidates come from an index.

"Nguyễn Văn Ánh", "NGUYEN  VAN ANH" and "Văn Ánh Nguyễn" share one `name_key`; "Công ty TNHH
Minh Phát" and "Minh Phat Co., Ltd" share one `company_key`; "Van.Anh+crm@Gmail.com" and
"vananh@gmail.com" share one `email_key`."""

import re

from app.core.search import fold

_NOT_A_LETTER = re.compile(r"[^0-9a-z]+")

# Legal forms and the trade words Vietnamese company names wrap around the name proper
# (folded, as word sequences): "Công ty Cổ phần Thương mại Dịch vụ Minh Phát" is "minh phat".
_LEGAL_FORMS = sorted(
    (
        tuple(words.split())
        for words in (
            "cong ty", "cty", "tnhh", "trach nhiem huu han", "mot thanh vien", "hai thanh vien",
            "mtv", "cp", "co phan", "jsc", "jsco", "co ltd", "ltd", "limited", "llc",
            "inc", "corp", "corporation", "company", "plc", "pte", "tap doan", "doanh nghiep",
            "tu nhan", "dntn", "hop danh", "thuong mai", "tm", "dich vu", "dv", "san xuat", "sx",
            "xuat nhap khau", "xnk", "dau tu", "phat trien", "va", "and",
        )
    ),
    key=len,
    reverse=True,
)  # fmt: skip
_GMAIL = {"gmail.com", "googlemail.com"}


def words_of(text: str | None) -> list[str]:
    """The folded words of `text` (diacritics, case and punctuation gone)."""
    if not text:
        return []
    return [w for w in _NOT_A_LETTER.split(fold(text)) if w]


def name_key(name: str | None) -> str | None:
    """A person's name, folded, its words in alphabetical order: the order people write
    Vietnamese names in varies ("Nguyễn Văn Ánh", "Văn Ánh Nguyễn")."""
    words = words_of(name)
    return " ".join(sorted(words)) or None


def company_key(name: str | None) -> str | None:
    """A company's name without legal-form and trade words, folded, in its own order."""
    words = words_of(name)
    kept: list[str] = []
    i = 0
    while i < len(words):
        form = next((f for f in _LEGAL_FORMS if tuple(words[i : i + len(f)]) == f), None)
        if form is None:
            kept.append(words[i])
            i += 1
        else:
            i += len(form)
    # A name that is nothing but legal words ("Công ty TNHH") keeps them: it is all there is.
    return " ".join(kept or words) or None


def email_key(email: str | None) -> str | None:
    """Lower-cased; at Gmail, dots and a `+tag` in the local part are ignored (Gmail delivers
    all of them to one inbox)."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().lower().rpartition("@")
    if domain in _GMAIL:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}" if local and domain else None


def tax_code_key(tax_code: str | None) -> str | None:
    """Digits and the branch dash only: "0312 345 678" is "0312345678"."""
    if not tax_code:
        return None
    kept = re.sub(r"[^0-9-]", "", tax_code).strip("-")
    return kept or None


# How many words of a name and of a company make person keys: a pasted paragraph in a name
# field must not make thousands of keys.
_KEY_WORDS = 6
_COMPANY_PREFIX = 4


def person_keys(name_key: str | None, company_key: str | None) -> list[str] | None:
    """Blocking keys for "a similar name at a similar company": each pair of name words with
    the start of each company word ("an nguyen|minh"). Two records typed with one slip in the
    name and one in the company still share a key, while a key is rare: a pair of Vietnamese
    name words alone is shared by thousands (a trigram index on names reads them all), at one
    company by a few. A name of one or two words keys its single words too."""
    if not name_key or not company_key:
        return None
    names = sorted(set(name_key.split()))[:_KEY_WORDS]
    parts = [f"{a} {b}" for i, a in enumerate(names) for b in names[i + 1 :]]
    if len(names) <= 2:
        parts += names
    companies = sorted({w[:_COMPANY_PREFIX] for w in company_key.split()[:_KEY_WORDS]})
    return sorted({f"{part}|{company}" for part in parts for company in companies})
