"""A labelled dataset for the duplicate rules' quality bar (tests/duplicates/test_quality.py):
the people a workspace already has, and probes — records as a user or a form would send them —
each labelled with the person it is (a duplicate) or with no one (a stranger).

`make_dataset(seed)` is deterministic (`random.Random(seed)`); nothing here imports the code it
measures, so the labels say who is who, not what the rules happen to match.

The people (default 150): 85% Vietnamese, family names drawn by their frequency in Vietnam
(Nguyễn about 38%, Trần 11%, Lê 9.5%, Phạm 7%, Hoàng/Huỳnh 5%, then Phan, Vũ/Võ, Đặng, Bùi,
Đỗ, Hồ, Ngô, Dương, Lý), a middle name that goes with the given name (Văn, Hữu, Đức… for men;
Thị, Ngọc, Thu… for women; one in six has two: "Nguyễn Thị Thu Hà"); 15% English ("John Smith").
Each has a mobile number (a Vietnamese carrier's prefix, stored in one of the ways people type
it), an email (40% Gmail, else at the company's domain) and a company, one of 50, so most
companies have two to four of them; a company is written with a legal form ("Công ty TNHH …",
"Công ty CP …", "… JSC", "… Co., Ltd"). No two people share a phone, an inbox, or a name (as
letters, whatever the diacritics) at one company.

Duplicates (default 260), each of one person, carrying what such a record realistically
carries: name + phone 25%, name + company 20%, name + email + phone 15%, name + email 12%,
everything 8%, name + company with a new phone of the person's own 8%, phone only 6%, email
only 6%. Each field it carries is typed another way, or as it was:
- a name: diacritics dropped, UPPER case, extra spaces, another word order ("Văn Ánh Nguyễn",
  "Ánh Nguyễn Văn", "Smith, John"), one typo in a word of five letters or more (a letter left
  out, doubled, swapped with the next, or a key next to it), or the (first) middle name left
  out — one or two of these at once, or none (20%);
- a phone: "0912 345 678", "0912.345.678", "+84 912345678", "84912345678", "+84 912 345 678",
  "(+84) 912-345-678", "0912345678";
- an email: upper or mixed case, or as it was; at Gmail also dots in the local part or a
  `+tag`;
- a company: another legal form, none, or without diacritics.
Every duplicate carries an email, a phone, or a name with a company: a name alone says who
nobody is.

Strangers (default 140), other people, each with a phone (80%) and an email (50%) of their own,
typed with the same noise as the duplicates but no typo and no middle name left out (those
would make "Nguyễn Khoa" beside "Nguyễn Công Khoa" at one company, that person to anyone):
- 25% share the family and middle names of someone, at that person's company ("Nguyễn Văn
  Bình" beside "Nguyễn Văn Hùng" at Minh Phát);
- 10% the same, at another company;
- 20% share someone's given name, at that person's company ("Trần Thị Lan", "Lê Thị Lan");
- 25% bear someone's very name, at another company;
- 10% bear someone's very name and give no company;
- 10% share someone's family name only, at that person's company.
A stranger never has, at one company, the letters of a name someone there already has: two
"Nguyễn Văn Ánh" (or an "Anh" and an "Ánh") at one company are one person to anybody reading the
list without a phone or an email, so no label could be honest."""

import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# --- Names ---------------------------------------------------------------------------------

# Family names and their share of Vietnam's population (rounded; the rest spread over these).
FAMILY_NAMES = {
    "Nguyễn": 38.0, "Trần": 11.0, "Lê": 9.5, "Phạm": 7.0, "Hoàng": 3.0, "Huỳnh": 2.0,
    "Phan": 4.5, "Vũ": 2.0, "Võ": 1.9, "Đặng": 2.1, "Bùi": 2.0, "Đỗ": 1.4, "Hồ": 1.3,
    "Ngô": 1.3, "Dương": 1.0, "Lý": 0.5,
}  # fmt: skip
MIDDLE_NAMES = {
    "male": ["Văn", "Văn", "Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Công", "Đình"],
    "female": ["Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Kim", "Thùy", "Mỹ"],
}
# A second middle name, between the first and the given name ("Nguyễn Thị Thu Hà").
SECOND_MIDDLE = {"male": ["Minh", "Quang", "Anh"], "female": ["Thu", "Ngọc", "Bảo", "Phương"]}
GIVEN_NAMES = {
    "male": [
        "Anh", "Bình", "Dũng", "Hải", "Hùng", "Long", "Minh", "Nam", "Quân", "Sơn", "Tuấn",
        "Khoa", "Phúc", "Thắng", "Trung", "Cường", "Hiếu", "Khánh", "Tùng", "Quang",
    ],
    "female": [
        "Ánh", "Châu", "Hà", "Hạnh", "Hương", "Lan", "Linh", "Mai", "Ngọc", "Phương", "Thảo",
        "Trang", "Vy", "Yến", "Hoa", "Nhung", "Quỳnh", "Thúy", "Trinh", "Giang",
    ],
}  # fmt: skip
ENGLISH_FIRST = [
    "John", "David", "Michael", "James", "Daniel", "Peter", "Thomas", "Mark",
    "Sarah", "Emily", "Jessica", "Anna", "Laura", "Emma", "Rachel", "Olivia",
]  # fmt: skip
ENGLISH_LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Taylor", "Miller", "Wilson", "Moore",
    "Anderson", "Thompson", "Walker", "Harris", "Clark", "Robinson", "Carter", "Mitchell",
]  # fmt: skip

# --- Companies -----------------------------------------------------------------------------

TRADE_NAMES = [
    "Minh Phát", "Hoàng Long", "Thành Công", "An Khang", "Việt Tiến", "Phú Thái", "Sao Mai",
    "Đại Dương", "Hòa Bình", "Kim Long", "Tân Phú", "Nam Việt", "Hưng Thịnh", "Phúc An",
    "Đông Á", "Trường Sơn", "Bảo Minh", "Thiên Long", "Hải Hà", "Gia Phú", "Quang Trung",
    "Ánh Dương", "Tiến Phát", "Hồng Hà", "Vạn Xuân", "Lạc Hồng", "Phương Nam", "Toàn Thắng",
    "Đức Thành", "Mê Kông", "Sông Đà", "Hà Thành", "Tây Nguyên", "Cát Tường", "Thịnh Vượng",
    "Bình Minh", "Kiến Á", "Ngọc Trai", "Hoa Sen", "Trí Việt", "Thái Sơn", "Phước Lộc",
    "Blue Ocean", "Green Field", "Pacific Star", "Lotus Tech", "Golden Gate", "Silver Line",
    "Red River", "Sunrise Logistics",
]  # fmt: skip
# How a company is written, around its trade name.
LEGAL_FORMS = [
    "Công ty TNHH {}", "Công ty CP {}", "Công ty Cổ phần {}", "{} JSC", "{} Co., Ltd",
    "Công ty TNHH MTV {}", "Công ty TNHH Thương mại Dịch vụ {}", "CÔNG TY TNHH {}",
    "Cty TNHH {}", "{} Company Limited",
]  # fmt: skip

# --- Phones --------------------------------------------------------------------------------

# Mobile prefixes of Viettel, Vinaphone, Mobifone, Vietnamobile (after the leading 0).
MOBILE_PREFIXES = [
    "32", "33", "34", "35", "36", "37", "38", "39", "86", "96", "97", "98",
    "81", "82", "83", "84", "85", "88", "91", "94", "70", "76", "77", "78", "79", "89", "90",
    "93", "56", "58",
]  # fmt: skip


def _phone_formats(digits: str) -> list[str]:
    """`digits`, the nine after the 0, as people type them."""
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return [
        f"0{digits}", f"0{a} {b} {c}", f"0{a}.{b}.{c}", f"+84 {digits}", f"84{digits}",
        f"+84 {a} {b} {c}", f"(+84) {a}-{b}-{c}", f"+84{digits}",
    ]  # fmt: skip


# --- Records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    """A person's name in parts: Vietnamese order is family, middle(s), given; an English
    name has no middle."""

    family: str
    middle: tuple[str, ...]
    given: str
    vietnamese: bool

    @property
    def words(self) -> list[str]:
        if self.vietnamese:
            return [self.family, *self.middle, self.given]
        return [self.given, self.family]

    @property
    def full(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class Person:
    name: Name
    email: str
    phone: str  # as stored: one of the typed forms
    digits: str  # the nine digits after the 0
    company: str  # trade name
    company_name: str  # as stored, with a legal form

    @property
    def record(self) -> dict[str, str]:
        return {
            "full_name": self.name.full,
            "email": self.email,
            "phone": self.phone,
            "company_name": self.company_name,
        }


@dataclass(frozen=True)
class Probe:
    record: dict[str, str]
    of: int | None  # the index of the person it is; None: a stranger
    kind: str  # how it was made, for a tally of misses by kind


@dataclass
class Dataset:
    people: list[Person]
    probes: list[Probe]


def fold(text: str) -> str:
    """Lower case, no diacritics (đ is d): the letters a name is spelled with."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _letters(name: Name) -> str:
    """One name however it is written: folded, words sorted."""
    return " ".join(sorted(fold(w) for w in name.words))


def _inbox(email: str) -> str:
    """The inbox an email reaches (Gmail ignores dots and a `+tag`)."""
    local, _, domain = email.lower().partition("@")
    if domain == "gmail.com":
        local = local.split("+")[0].replace(".", "")
    return f"{local}@{domain}"


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class _Registry:
    """What is taken: phones, inboxes, and names per company (strangers included)."""

    phones: set[str] = field(default_factory=set)
    inboxes: set[str] = field(default_factory=set)
    names_at: set[tuple[str, str | None]] = field(default_factory=set)


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.taken = _Registry()
        self.domains = {c: self._domain(c) for c in TRADE_NAMES}

    # --- people ---

    def name(self) -> Name:
        rng = self.rng
        if rng.random() < 0.15:
            return Name(rng.choice(ENGLISH_LAST), (), rng.choice(ENGLISH_FIRST), False)
        sex = rng.choice(["male", "female"])
        middle = [rng.choice(MIDDLE_NAMES[sex])]
        if rng.random() < 1 / 6:
            middle.append(rng.choice([m for m in SECOND_MIDDLE[sex] if m != middle[0]]))
        given = rng.choice([g for g in GIVEN_NAMES[sex] if g not in middle])  # no "Minh Minh"
        return Name(_pick(rng, FAMILY_NAMES), tuple(middle), given, True)

    def phone_digits(self) -> str:
        while True:
            digits = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**7):07d}"
            if digits not in self.taken.phones:
                self.taken.phones.add(digits)
                return digits

    def email(self, name: Name, company: str | None) -> str:
        """Gmail (always for someone without a company) or the company's domain."""
        words = [fold(w) for w in name.words]
        family, given = fold(name.family), fold(name.given)
        initials = "".join(w[0] for w in words if w not in (given,))
        gmail = company is None or self.rng.random() < 0.4
        locals_ = (
            [f"{given}{family}", f"{given}.{family}", "".join(words), f"{family}{given}"]
            if gmail
            else [f"{given}.{initials}", f"{given}{initials}", f"{given}.{family}"]
        )
        domain = "gmail.com" if gmail else self.domains[company or ""]
        local = self.rng.choice(locals_)
        while True:
            email = f"{local}@{domain}"
            if _inbox(email) not in self.taken.inboxes:
                self.taken.inboxes.add(_inbox(email))
                return email
            local = f"{local}{self.rng.randrange(70, 100)}"  # a birth year, as people add

    def _domain(self, company: str) -> str:
        return fold(company).replace(" ", "") + self.rng.choice([".vn", ".com.vn", ".com"])

    def claim(self, name: Name, company: str | None) -> bool:
        """Take `name` at `company` unless someone there already has its letters."""
        key = (_letters(name), company)
        if key in self.taken.names_at:
            return False
        self.taken.names_at.add(key)
        return True

    def person(self, companies: Sequence[str]) -> Person:
        while True:
            name, company = self.name(), self.rng.choice(companies)
            if self.claim(name, company):
                break
        digits = self.phone_digits()
        return Person(
            name=name,
            email=self.email(name, company),
            phone=self.rng.choice(_phone_formats(digits)),
            digits=digits,
            company=company,
            company_name=self.rng.choice(LEGAL_FORMS).format(company),
        )

    # --- typing noise ---

    def typed_name(self, name: Name, *, same_person: bool) -> str:
        """`name` as someone else types it: none, one or two of the ways below, applied in
        this order (a typo is made in the name's own order, then the words move). A typo or
        a middle name left out only for the same person: "Nguyễn Khoa" beside "Nguyễn Công
        Khoa" at one company is that person to anyone reading it."""
        ways: list[Way] = [_reordered, _without_diacritics, _upper]
        if same_person:
            ways = [_without_middle, _with_typo, *ways]
        count = self.rng.choices([0, 1, 2], weights=[20, 55, 25])[0]
        chosen = set(self.rng.sample(range(len(ways)), count))
        words = list(name.words)
        for i, way in enumerate(ways):
            if i in chosen:
                words = way(words, name, self.rng)
        return self._spaced(words)

    def _spaced(self, words: list[str]) -> str:
        """Extra spaces, sometimes (a form pasted into, a name typed in a hurry)."""
        if self.rng.random() < 0.15:
            return "  ".join(words) + " "
        return " ".join(words)

    def typed_phone(self, digits: str) -> str:
        return self.rng.choice(_phone_formats(digits))

    def typed_email(self, email: str) -> str:
        local, _, domain = email.partition("@")
        ways = ["upper", "title", "same"]
        if domain == "gmail.com":
            ways += ["dots", "tag", "dots"]
        way = self.rng.choice(ways)
        if way == "upper":
            return email.upper()
        if way == "title":
            return local.capitalize() + "@" + domain.capitalize()
        if way == "dots" and len(local.replace(".", "")) > 3:
            plain = local.replace(".", "")
            cut = self.rng.randrange(2, len(plain) - 1)
            return f"{plain[:cut]}.{plain[cut:]}@{domain}"
        if way == "tag":
            return f"{local}+{self.rng.choice(['crm', 'fb', 'zalo', 'work'])}@{domain}"
        return email

    def typed_company(self, person: Person) -> str:
        company = person.company
        way = self.rng.choice(["form", "form", "bare", "folded"])
        if way == "bare":
            return company
        written = self.rng.choice(
            [f for f in LEGAL_FORMS if f.format(company) != person.company_name]
        )
        text = written.format(company)
        return fold(text).title() if way == "folded" else text


# One way of typing a name: its words so far, the name, the generator's random source.
Way = Callable[[list[str], Name, random.Random], list[str]]


def _without_diacritics(words: list[str], name: Name, rng: random.Random) -> list[str]:
    return [fold(w).title() for w in words]


def _upper(words: list[str], name: Name, rng: random.Random) -> list[str]:
    return [w.upper() for w in words]


def _without_middle(words: list[str], name: Name, rng: random.Random) -> list[str]:
    """ "Nguyễn Ánh" for "Nguyễn Văn Ánh", "Nguyễn Thu Hà" for "Nguyễn Thị Thu Hà": the
    (first) middle name is often left out."""
    return [words[0], *words[2:]] if name.middle else words


def _reordered(words: list[str], name: Name, rng: random.Random) -> list[str]:
    """Given name first ("Văn Ánh Nguyễn", "Ánh Nguyễn Văn"), or "Smith, John"."""
    if len(words) == 2:
        return [f"{words[1]},", words[0]] if rng.random() < 0.5 else words[::-1]
    if rng.random() < 0.5:
        return [*words[1:], words[0]]
    return [words[-1], *words[:-1]]


_KEYS = "qwertyuiop asdfghjkl zxcvbnm"
_ALL_NAME_WORDS = {
    fold(w)
    for words in (
        *GIVEN_NAMES.values(), *MIDDLE_NAMES.values(), *SECOND_MIDDLE.values(), FAMILY_NAMES,
        ENGLISH_FIRST, ENGLISH_LAST,
    )
    for w in words
}  # fmt: skip


def _neighbour(letter: str) -> str:
    """A key next to `letter` on a QWERTY keyboard."""
    i = _KEYS.find(letter)
    near = [_KEYS[j] for j in (i - 1, i + 1) if 0 <= j < len(_KEYS) and _KEYS[j] != " "]
    return near[i % len(near)] if i >= 0 and near else letter


def _typo(word: str, rng: random.Random) -> str:
    """One slip in `word` (folded), never in its first letter: one left out, doubled, swapped
    with the next, or the key beside it."""
    i = rng.randrange(1, len(word) - 1)
    slip = rng.choice(["drop", "double", "swap", "key"])
    if slip == "drop":
        return word[:i] + word[i + 1 :]
    if slip == "double":
        return word[: i + 1] + word[i:]
    if slip == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + _neighbour(word[i]) + word[i + 1 :]


def _with_typo(words: list[str], name: Name, rng: random.Random) -> list[str]:
    """One typo in one word of five letters or more; a slip that spells another name (Hương
    to Hưng) is another name to anyone reading it, so it is not made."""
    long = [i for i, w in enumerate(words) if len(fold(w)) >= 5]
    if not long:
        return words
    i = rng.choice(long)
    word = fold(words[i])
    for _ in range(10):
        slipped = _typo(word, rng)
        if slipped != word and slipped not in _ALL_NAME_WORDS:
            return [*words[:i], slipped.title(), *words[i + 1 :]]
    return words


# --- The dataset ---------------------------------------------------------------------------

# Which fields a duplicate carries, and how often.
_DUPLICATE_FIELDS = {
    "name+phone": 25, "name+company": 20, "name+email+phone": 15, "name+email": 12,
    "all": 8, "name+company+new phone": 8, "phone": 6, "email": 6,
}  # fmt: skip
_STRANGERS = {
    "family+middle, same company": 25, "family+middle, other company": 10,
    "given name, same company": 20, "same name, other company": 25,
    "same name, no company": 10, "family only, same company": 10,
}  # fmt: skip


def _duplicate(gen: _Generator, people: list[Person], index: int) -> Probe:
    person, rng = people[index], gen.rng
    carries = _pick(rng, {k: float(v) for k, v in _DUPLICATE_FIELDS.items()})
    record: dict[str, str] = {}
    if "name" in carries or carries == "all":
        record["full_name"] = gen.typed_name(person.name, same_person=True)
    if "email" in carries or carries == "all":
        record["email"] = gen.typed_email(person.email)
    if carries.endswith("new phone"):
        record["phone"] = gen.typed_phone(gen.phone_digits())
    elif "phone" in carries or carries == "all":
        record["phone"] = gen.typed_phone(person.digits)
    if "company" in carries or carries == "all":
        record["company_name"] = gen.typed_company(person)
    return Probe(record, index, carries)


def _stranger_name(gen: _Generator, like: Name, kind: str) -> Name:
    """A name that shares with `like` what `kind` says, and differs in the rest."""
    rng, other = gen.rng, gen.name()
    if kind.startswith("same name"):
        return like
    if not like.vietnamese:
        other = Name(rng.choice(ENGLISH_LAST), (), rng.choice(ENGLISH_FIRST), False)
        if kind.startswith("given"):
            return Name(other.family, (), like.given, False)
        return Name(like.family, (), other.given, False)
    if kind.startswith("family+middle"):
        return Name(like.family, like.middle, other.given, True)
    if kind.startswith("given"):
        return Name(
            other.family, like.middle if rng.random() < 0.5 else other.middle, like.given, True
        )
    return Name(like.family, other.middle, other.given, True)


def _differs(a: Name, b: Name, kind: str) -> bool:
    """The words `kind` says differ do differ, as letters."""
    given, family = fold(a.given) != fold(b.given), fold(a.family) != fold(b.family)
    middle = [fold(m) for m in a.middle] != [fold(m) for m in b.middle] or not a.middle
    if kind.startswith("same name"):
        return True
    if kind.startswith("family+middle"):
        return given
    if kind.startswith("given"):
        return family
    return given and middle


def _stranger(gen: _Generator, people: list[Person]) -> Probe:
    rng = gen.rng
    kind = _pick(rng, {k: float(v) for k, v in _STRANGERS.items()})
    while True:
        like = rng.choice(people)
        name = _stranger_name(gen, like.name, kind)
        company: str | None = like.company
        if "other company" in kind:
            company = rng.choice([c for c in TRADE_NAMES if c != like.company])
        elif "no company" in kind:
            company = None
        if _differs(name, like.name, kind) and gen.claim(name, company):
            break
    record = {"full_name": gen.typed_name(name, same_person=False)}
    if company is not None:
        record["company_name"] = rng.choice(LEGAL_FORMS).format(company)
    if rng.random() < 0.8:
        record["phone"] = gen.typed_phone(gen.phone_digits())
    if rng.random() < 0.5:
        record["email"] = gen.typed_email(gen.email(name, company))
    return Probe(record, None, kind)


def make_dataset(
    seed: int = 11, *, people: int = 150, duplicates: int = 260, strangers: int = 140
) -> Dataset:
    """The people a workspace has and the probes to check against them, shuffled."""
    gen = _Generator(seed)
    companies = TRADE_NAMES
    base = [gen.person(companies) for _ in range(people)]
    probes = [_duplicate(gen, base, gen.rng.randrange(people)) for _ in range(duplicates)]
    probes += [_stranger(gen, base) for _ in range(strangers)]
    gen.rng.shuffle(probes)
    return Dataset(base, probes)
