"""What the duplicate rules compare: names, emails and company names as people type them."""

import pytest

from app.core.match_keys import company_key, email_key, name_key, tax_code_key


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
