"""What the duplicate rules compare: names, emails and company names as people type them."""

import pytest

from app.core.match_keys import company_key, email_key, name_key, person_keys, tax_code_key


@pytest.mark.parametrize(
    "typed",
    ["Nguyễn Văn Ánh", "NGUYEN VAN ANH", "Nguyen  Van Anh", "Văn Ánh Nguyễn", " nguyễn văn ánh "],
)
def test_one_name_however_it_is_typed_has_one_key(typed: str) -> None:
    assert name_key(typed) == "anh nguyen van"


def test_d_with_a_stroke_is_d() -> None:
    assert name_key("Đặng Thị Đào") == name_key("dang thi dao")


@pytest.mark.parametrize(
    "typed",
    [
        "Công ty TNHH Minh Phát",
        "CÔNG TY CỔ PHẦN MINH PHÁT",
        "Minh Phat Co., Ltd",
        "Cty TNHH MTV Minh Phát",
        "Minh Phát JSC",
        "Công ty TNHH Thương mại Dịch vụ Minh Phát",
    ],
)
def test_a_company_without_its_legal_form_is_its_name(typed: str) -> None:
    assert company_key(typed) == "minh phat"


def test_a_name_that_is_only_legal_words_keeps_them() -> None:
    assert company_key("Công ty TNHH") == "cong ty tnhh"


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("Van.Anh+crm@Gmail.com", "vananh@gmail.com"),
        ("vananh@googlemail.com", "vananh@gmail.com"),
        ("Anh.Nguyen+tag@MinhPhat.vn", "anh.nguyen+tag@minhphat.vn"),  # only Gmail ignores them
        ("not an email", None),
        ("", None),
    ],
)
def test_emails_compare_as_their_inbox_receives_them(typed: str, key: str | None) -> None:
    assert email_key(typed) == key


def test_a_tax_code_keeps_its_digits_and_branch() -> None:
    assert tax_code_key("0312 345 678-001") == "0312345678-001"


def _people_keys(name: str, company: str) -> set[str]:
    return set(person_keys(name_key(name), company_key(company)) or ())


@pytest.mark.parametrize(
    ("name", "company"),
    [
        ("NGUYEN VAN ANH", "Minh Phat Co., Ltd"),  # case, diacritics, legal form
        ("Văn Ánh Nguyễn", "Cty TNHH Minh Phát"),  # name order
        ("Nguyễn Văn Anhh", "Công ty Minh Phatt"),  # a slip in the name and in the company
        ("Nguyễn Ánh", "Công ty CP Minh Phát"),  # the middle name left out
    ],
)
def test_the_same_person_at_the_same_company_shares_a_person_key(name: str, company: str) -> None:
    assert _people_keys("Nguyễn Văn Ánh", "Công ty TNHH Minh Phát") & _people_keys(name, company)


def test_a_namesake_at_another_company_shares_no_person_key() -> None:
    assert not _people_keys("Nguyễn Văn Ánh", "Minh Phát") & _people_keys(
        "Nguyễn Văn Ánh", "Hoà Bình"
    )


def test_no_person_keys_without_a_name_or_a_company() -> None:
    assert person_keys(None, "minh phat") is None
    assert person_keys("anh nguyen van", None) is None


def test_a_pasted_paragraph_makes_a_bounded_number_of_keys() -> None:
    words = " ".join(f"word{n}" for n in range(200))
    assert len(person_keys(words, words) or ()) <= 15 * 6
