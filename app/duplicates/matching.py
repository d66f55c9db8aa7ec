"""How alike two records are, by a rule: pure functions over their normalised forms
(app/core/match_keys.py), with no database. The service finds the candidates; this scores them."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jellyfish

from app.core import match_keys
from app.core.phones import to_e164
from app.duplicates.schemas import DEFAULT_THRESHOLD, Criterion, MatchKind, RuleField

# Which comparable form each rule field reads (a person's full name and an organisation's name
# are both "the name").
_SLOT = {
    RuleField.full_name: "name",
    RuleField.name: "name",
    RuleField.email: "email",
    RuleField.phone: "phone",
    RuleField.company_name: "company",
    RuleField.tax_code: "tax_code",
}


@dataclass(frozen=True)
class Comparable:
    """A record's fields as the rules compare them; None where blank."""

    name: str | None = None  # a person's name_key, an organisation's company_key
    email: str | None = None  # email_key
    phone: str | None = None  # E.164
    company: str | None = None  # company_key
    tax_code: str | None = None

    def slot(self, field: RuleField) -> str | None:
        value: str | None = getattr(self, _SLOT[field])
        return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def comparable(read: Callable[[str], Any], *, organisation: bool) -> Comparable:
    """The comparable form of a record read field by field (a dict's `get`, or a model's
    attributes): a person has `full_name` and maybe `company_name`, an organisation `name`."""
    name = _text(read("name") if organisation else read("full_name"))
    return Comparable(
        name=match_keys.company_key(name) if organisation else match_keys.name_key(name),
        email=match_keys.email_key(_text(read("email"))),
        phone=to_e164(_text(read("phone"))),
        company=None if organisation else match_keys.company_key(_text(read("company_name"))),
        tax_code=match_keys.tax_code_key(_text(read("tax_code"))) if organisation else None,
    )


# Each word a name has that the other lacks ("Nguyễn Ánh" / "Nguyễn Văn Ánh": a middle name
# dropped) costs this much of the score: one missing word still clears the default 0.9, two do
# not.
_MISSING_WORD = 0.94
_NAMES = {RuleField.full_name, RuleField.name, RuleField.company_name}


def similarity(field: RuleField, a: str, b: str) -> float:
    """How alike two normalised values are, 0–1. Names (of people and companies) are compared
    word by word: every word of the shorter name must have a close counterpart (Jaro-Winkler)
    in the other, so a typo or a reordering costs little while two strangers who share only
    the family and middle names ("Nguyễn Văn Ánh", "Nguyễn Văn Bình") differ by a whole word —
    on whole strings Jaro-Winkler would score them 0.93. Other fields: Jaro-Winkler."""
    if a == b:
        return 1.0
    if field not in _NAMES:
        return float(jellyfish.jaro_winkler_similarity(a, b))
    shorter, longer = sorted((a.split(), b.split()), key=len)
    if not shorter:
        return 0.0
    return _paired(shorter, longer) * _MISSING_WORD ** (len(longer) - len(shorter))


def _paired(shorter: list[str], longer: list[str]) -> float:
    """The weakest pair when each word of `shorter` takes its own word of `longer`, best pairs
    first: two words may not lean on one ("Toàn Thắng" would otherwise meet "Tân Phú" at 0.88,
    "toan" and "thang" both finding "tan")."""
    pairs = sorted(
        (
            (_word_similarity(a, b), i, j)
            for i, a in enumerate(shorter)
            for j, b in enumerate(longer)
        ),
        reverse=True,
    )
    taken_a: set[int] = set()
    taken_b: set[int] = set()
    weakest = 1.0
    for score, i, j in pairs:
        if i in taken_a or j in taken_b:
            continue
        taken_a.add(i)
        taken_b.add(j)
        weakest = min(weakest, score)
    return weakest


# Two letters swapped ("Ahn" for "Anh") is the commonest typo in short Vietnamese names, and the
# one Jaro-Winkler scores worst on three letters (0.56): the same letters in another order count
# as this close.
_SWAPPED = 0.95


def _word_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) == len(b) and sorted(a) == sorted(b):
        return _SWAPPED
    return float(jellyfish.jaro_winkler_similarity(a, b))


def criterion_score(criterion: Criterion, a: Comparable, b: Comparable) -> float | None:
    """The criterion's score (its weakest field's), or None when it does not hold: a field
    blank in either record never holds."""
    threshold = 1.0 if criterion.match is MatchKind.exact else criterion.threshold
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    weakest = 1.0
    for field in criterion.fields:
        left, right = a.slot(field), b.slot(field)
        if left is None or right is None:
            return None
        if criterion.match is MatchKind.exact:
            score = 1.0 if left == right else 0.0
        else:
            score = similarity(field, left, right)
        if score < threshold:
            return None
        weakest = min(weakest, score)
    return weakest


def rule_score(criteria: list[Criterion], a: Comparable, b: Comparable) -> float | None:
    """The rule's score (its weakest criterion's), or None unless every criterion holds."""
    weakest = 1.0
    for criterion in criteria:
        score = criterion_score(criterion, a, b)
        if score is None:
            return None
        weakest = min(weakest, score)
    return weakest
