"""Reading import files as users make them: real .xlsx and .csv files written into tmp_path."""

import codecs
import re
import tracemalloc
import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from app.accounts.schemas import AccountCreate
from app.contacts.schemas import ContactCreate
from app.imports import columns
from app.imports.columns import IMPORTABLE, LOOKUP, ColumnMapping, MappingInvalid, match_columns
from app.imports.reading import (
    ExpandsTooFar,
    FileTooLarge,
    NoDataRows,
    NoHeaderRow,
    NotASpreadsheet,
    Sheet,
    TooManyRows,
    UnreadableFile,
    open_sheet,
)
from app.imports.values import record_from_row
from app.leads.schemas import LeadCreate

LIMITS = {"max_rows": 1000, "max_unzipped_bytes": 50 * 1024 * 1024}


def read(path: Path, name: str | None = None, **limits: Any) -> Sheet:
    return open_sheet(path, name or path.name, **{**LIMITS, **limits})


def rows_of(path: Path, name: str | None = None, **limits: Any) -> list[tuple[int, dict]]:
    with read(path, name, **limits) as sheet:
        return list(sheet.rows())


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(number, column, value)
    workbook.save(path)
    return path


def patch_sheet_xml(path: Path, patch: Any) -> None:
    """Rewrite the first sheet's XML inside the workbook zip, as another program would write it."""
    with zipfile.ZipFile(path) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    entries[sheet] = patch(entries[sheet].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            target.writestr(name, data)


def write_csv(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def cp1258(text: str) -> bytes:
    """Text as Vietnamese Windows writes it: a base letter cp1258 has, then the tone mark as a
    combining character ("ễ" -> "ê" + combining tilde)."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", char)
        for mark in marks:  # "ê", "ơ", "ư" are letters in cp1258: only the tone combines
            composed = unicodedata.normalize("NFC", base + mark)
            if len(composed) == 1 and composed.encode("cp1258", "ignore"):
                base, marks = composed, [m for m in marks if m != mark]
                break
        out += base.encode("cp1258") + "".join(marks).encode("cp1258")
    return bytes(out)


LEAD_HEADERS = ["Họ và tên", "Số điện thoại", "Email", "Công ty", "Ngày sinh", "Ghi chú"]


class TestWorkbook:
    def test_headers_and_rows_are_read_with_excel_row_numbers(self, tmp_path: Path) -> None:
        path = write_xlsx(
            tmp_path / "khach-hang.xlsx",
            [
                [" Họ và tên ", "Số điện thoại", "Email"],
                ["  Nguyễn Văn Ánh ", "0912 345 678", "anh@minhphat.vn"],
                ["Trần Thị Bích", 987654321, None],
            ],
        )
        with read(path) as sheet:
            assert sheet.headers == ["Họ và tên", "Số điện thoại", "Email"]
            rows = list(sheet)
        assert rows == [
            (2, {"Họ và tên": "Nguyễn Văn Ánh", "Số điện thoại": "0912 345 678",
                 "Email": "anh@minhphat.vn"}),
            (3, {"Họ và tên": "Trần Thị Bích", "Số điện thoại": 987654321, "Email": None}),
        ]  # fmt: skip

    def test_blank_rows_are_skipped_and_leading_ones_move_the_header(self, tmp_path: Path) -> None:
        path = write_xlsx(
            tmp_path / "a.xlsx",
            [[], [], ["Họ tên", "SĐT"], ["An", "0911111111"], [], ["  ", None], ["Bình", None]],
        )
        with read(path) as sheet:
            assert sheet.header_row == 3
            assert [number for number, _ in sheet.rows()] == [4, 7]

    def test_formula_cells_read_as_their_cached_values(self, tmp_path: Path) -> None:
        path = write_xlsx(
            tmp_path / "f.xlsx",
            [["Họ và tên", "Điện thoại", "Điểm"], ["An", '="0"&"912345678"', "=20*2"]],
        )

        def cache(xml: str) -> str:  # what Excel stores after computing the formulas
            xml = re.sub(
                r'<c r="B2"><f>(.*?)</f><v ?/>',
                r'<c r="B2" t="str"><f>\1</f><v>0912345678</v>',
                xml,
            )
            return re.sub(r'<c r="C2"><f>(.*?)</f><v ?/>', r'<c r="C2"><f>\1</f><v>40</v>', xml)

        patch_sheet_xml(path, cache)
        assert rows_of(path) == [(2, {"Họ và tên": "An", "Điện thoại": "0912345678", "Điểm": 40})]

    def test_dates_stay_dates_and_times_stay(self, tmp_path: Path) -> None:
        path = write_xlsx(
            tmp_path / "d.xlsx",
            [["Họ và tên", "Ngày sinh", "Gọi lúc"],
             ["An", date(1985, 4, 30), datetime(2026, 11, 23, 9, 30)]],
        )  # fmt: skip
        [(_, row)] = rows_of(path)
        assert row["Ngày sinh"] == date(1985, 4, 30)
        assert row["Gọi lúc"] == datetime(2026, 11, 23, 9, 30)

    def test_a_wrong_dimension_does_not_cut_rows_off(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "w.xlsx", [["Tên"], ["An"], ["Bình"], ["Chi"]])
        patch_sheet_xml(
            path, lambda xml: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1"', xml)
        )
        assert [row["Tên"] for _, row in rows_of(path)] == ["An", "Bình", "Chi"]

    def test_a_workbook_is_known_by_its_content_not_its_name(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "upload.bin", [["Tên"], ["An"]])
        with read(path, "khach-hang.csv") as sheet:
            assert sheet.kind == "xlsx"
            assert list(sheet) == [(2, {"Tên": "An"})]

    def test_rows_can_be_read_twice_and_repeated_headers_stay_apart(self, tmp_path: Path) -> None:
        path = write_xlsx(
            tmp_path / "r.xlsx", [["Tên", "Điện thoại", None, "Điện thoại"], ["An", "1", "x", "2"]]
        )
        with read(path) as sheet:
            assert sheet.headers == ["Tên", "Điện thoại", "Điện thoại (2)"]
            first = list(sheet.rows())
            assert (
                list(sheet.rows())
                == first
                == [(2, {"Tên": "An", "Điện thoại": "1", "Điện thoại (2)": "2"})]
            )

    def test_many_rows_are_read_lazily(self, tmp_path: Path) -> None:
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(LEAD_HEADERS)
        for n in range(5000):
            sheet.append([f"Khách {n}", 912000000 + n, f"k{n}@x.vn", "Minh Phát", None, "ghi chú"])
        workbook.save(tmp_path / "big.xlsx")
        tracemalloc.start()
        try:
            with read(tmp_path / "big.xlsx", max_rows=5000) as opened:
                count = sum(1 for _ in opened)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert count == 5000
        assert peak < 8 * 1024 * 1024  # the whole sheet's values would be several times this


class TestCsv:
    def test_utf8_with_bom_and_semicolons(self, tmp_path: Path) -> None:
        text = (
            'Họ và tên;Số điện thoại;Ghi chú\r\nNguyễn Văn Ánh;0912345678;"Khách VIP; gọi lại"\r\n'
        )
        path = write_csv(tmp_path / "a.csv", text, "utf-8-sig")
        with read(path) as sheet:
            assert sheet.headers == ["Họ và tên", "Số điện thoại", "Ghi chú"]  # no BOM in it
            assert list(sheet) == [
                (2, {"Họ và tên": "Nguyễn Văn Ánh", "Số điện thoại": "0912345678",
                     "Ghi chú": "Khách VIP; gọi lại"}),
            ]  # fmt: skip

    def test_utf16_tab_separated_as_excel_unicode_text(self, tmp_path: Path) -> None:
        path = write_csv(
            tmp_path / "u.txt", "Họ tên\tĐiện thoại\r\nLê Văn Đức\t0987654321\r\n", "utf-16"
        )
        assert rows_of(path) == [(2, {"Họ tên": "Lê Văn Đức", "Điện thoại": "0987654321"})]

    def test_cp1258_from_vietnamese_windows_is_read_as_composed_text(self, tmp_path: Path) -> None:
        path = tmp_path / "vn.csv"
        path.write_bytes(cp1258("Họ và tên,Tỉnh/Thành phố\r\nNguyễn Thị Phượng,Hà Nội\r\n"))
        assert b"\xf2" in path.read_bytes()  # the dot below of "ọ" is its own byte
        with read(path) as sheet:
            assert sheet.headers == ["Họ và tên", "Tỉnh/Thành phố"]
            assert list(sheet) == [
                (2, {"Họ và tên": "Nguyễn Thị Phượng", "Tỉnh/Thành phố": "Hà Nội"})
            ]

    @pytest.mark.parametrize("company", ["Škoda Café", "Giovanni Nicolò"])
    def test_cp1252_western_text(self, tmp_path: Path, company: str) -> None:
        path = write_csv(tmp_path / "w.csv", f"Company;Name\n{company};Anna\n", "cp1252")
        assert rows_of(path) == [(2, {"Company": company, "Name": "Anna"})]

    def test_quoted_newlines_keep_one_row_and_excel_numbering(self, tmp_path: Path) -> None:
        text = 'Tên,Địa chỉ\nAn,"12 Nguyễn Huệ\nQuận 1"\n,\nBình,"Hà Nội"\n'
        assert rows_of(write_csv(tmp_path / "q.csv", text, "utf-8")) == [
            (2, {"Tên": "An", "Địa chỉ": "12 Nguyễn Huệ\nQuận 1"}),
            (4, {"Tên": "Bình", "Địa chỉ": "Hà Nội"}),
        ]

    def test_excel_sep_line_and_decomposed_text(self, tmp_path: Path) -> None:
        text = unicodedata.normalize("NFD", "sep=;\nHọ tên;Công ty\nÁnh;Minh Phát, Hà Nội\n")
        with read(write_csv(tmp_path / "s.csv", text, "utf-8")) as sheet:
            assert sheet.headers == ["Họ tên", "Công ty"]
            assert list(sheet) == [(2, {"Họ tên": "Ánh", "Công ty": "Minh Phát, Hà Nội"})]

    def test_a_hundred_thousand_rows_in_bounded_memory(self, tmp_path: Path) -> None:
        path = tmp_path / "big.csv"
        with path.open("w", encoding="utf-8") as out:
            out.write("Họ và tên,Số điện thoại,Email\n")
            for n in range(100_000):
                out.write(f"Khách hàng {n},09{n:08d},k{n}@minhphat.vn\n")
        tracemalloc.start()
        try:
            with read(path, max_rows=100_000) as sheet:
                last = max(number for number, _ in sheet)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert last == 100_001
        assert peak < 4 * 1024 * 1024  # the file is 5 MB; its rows as dicts would be ~50 MB


class TestRefused:
    def refused(self, path: Path, name: str | None = None, **limits: Any) -> UnreadableFile:
        with pytest.raises(UnreadableFile) as caught, read(path, name, **limits) as sheet:
            list(sheet)
        return caught.value

    def test_a_text_file_named_xlsx(self, tmp_path: Path) -> None:
        (tmp_path / "x.xlsx").write_text("Họ tên,SĐT\nAn,0912345678\n")
        error = self.refused(tmp_path / "x.xlsx")
        assert (error.code, error.status) == ("not_a_spreadsheet", 422)
        assert "x.xlsx" in error.detail

    def test_an_old_xls_workbook(self, tmp_path: Path) -> None:
        (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
        error = self.refused(tmp_path / "old.xls")
        assert error.code == "not_a_spreadsheet"
        assert ".xlsx" in error.detail

    def test_a_zip_that_is_not_a_workbook_and_a_damaged_one(self, tmp_path: Path) -> None:
        with zipfile.ZipFile(tmp_path / "z.xlsx", "w") as archive:
            archive.writestr("readme.txt", "hello")
        assert self.refused(tmp_path / "z.xlsx").code == "not_a_spreadsheet"
        whole = write_xlsx(tmp_path / "d.xlsx", [["Tên"], ["An"]]).read_bytes()
        (tmp_path / "d.xlsx").write_bytes(whole[: len(whole) // 2])
        assert self.refused(tmp_path / "d.xlsx").code == "not_a_spreadsheet"

    def test_a_binary_file_named_csv(self, tmp_path: Path) -> None:
        (tmp_path / "b.csv").write_bytes(b"%PDF-1.7\n\x00\x01\x02\xff" * 20)
        assert self.refused(tmp_path / "b.csv").code == "not_a_spreadsheet"

    @pytest.mark.parametrize("content", ["", "\n\n ,, \n"])
    def test_an_empty_csv_has_no_header_row(self, tmp_path: Path, content: str) -> None:
        (tmp_path / "e.csv").write_text(content)
        error = self.refused(tmp_path / "e.csv")
        assert (error.code, error.status) == ("no_header_row", 422)

    def test_an_empty_file_named_xlsx(self, tmp_path: Path) -> None:
        (tmp_path / "e.xlsx").write_bytes(b"")
        assert self.refused(tmp_path / "e.xlsx").code == "not_a_spreadsheet"

    def test_an_empty_workbook_has_no_header_row(self, tmp_path: Path) -> None:
        assert self.refused(write_xlsx(tmp_path / "e.xlsx", [])).code == "no_header_row"

    def test_header_only_files_have_no_rows(self, tmp_path: Path) -> None:
        xlsx = write_xlsx(tmp_path / "h.xlsx", [LEAD_HEADERS, [], []])
        csv = write_csv(tmp_path / "h.csv", ";".join(LEAD_HEADERS) + "\n;;;;;\n", "utf-8")
        for path in (xlsx, csv):
            error = self.refused(path)
            assert error.code == "no_data_rows"
            assert "row 1" in error.detail

    def test_a_file_over_the_size_limit(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "a.csv", "Tên\n" + "An\n" * 100, "utf-8")
        error = self.refused(path, max_bytes=100)
        assert (error.code, error.status) == ("file_too_large", 413)
        assert isinstance(error, FileTooLarge)

    def test_too_many_rows_in_a_csv_stops_at_the_limit(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "a.csv", "Tên\n" + "An\n\n" * 6, "utf-8")
        seen: list[int] = []

        def read_all() -> None:
            with read(path, max_rows=5) as sheet:
                for number, _ in sheet:
                    seen.append(number)

        with pytest.raises(TooManyRows) as caught:
            read_all()
        assert seen == [2, 4, 6, 8, 10]  # five rows, then the refusal; blank rows don't count
        assert caught.value.status == 413
        assert "5" in caught.value.detail

    def test_a_workbook_saying_it_has_too_many_rows_is_refused_up_front(
        self, tmp_path: Path
    ) -> None:
        path = write_xlsx(tmp_path / "a.xlsx", [["Tên"]] + [[f"K{n}"] for n in range(1200)])
        with pytest.raises(TooManyRows):
            read(path, max_rows=100)

    def test_a_zip_bomb_is_refused_before_it_is_unzipped(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "bomb.xlsx", [["Tên"], ["An"]])
        # A sheet padded with 30 MB of zeros inside a comment: it unzips ~1000 times its size.
        patch_sheet_xml(
            path,
            lambda xml: xml.replace("<sheetData>", "<!--" + "0" * 30_000_000 + "--><sheetData>"),
        )
        assert path.stat().st_size < 100_000
        error = self.refused(path, max_unzipped_bytes=10 * 1024 * 1024)
        assert (error.code, error.status) == ("expands_too_far", 413)
        assert isinstance(self.refused(path, max_unzipped_bytes=1 << 40), ExpandsTooFar)  # ratio

    def test_typed_errors_keep_their_codes(self) -> None:
        assert {c.code for c in (NotASpreadsheet, NoHeaderRow, NoDataRows, ExpandsTooFar)} == {
            "not_a_spreadsheet", "no_header_row", "no_data_rows", "expands_too_far",
        }  # fmt: skip


class TestEndToEnd:
    def test_a_vietnamese_lead_sheet_becomes_valid_leads(self, tmp_path: Path) -> None:
        path = write_xlsx(
            tmp_path / "leads.xlsx",
            [
                ["HO VA TEN", "sdt", "E-Mail", "Tên công ty", "Nguồn", "tinh/thanh pho",
                 "Ghi Chú", "Cột lạ"],
                ["Nguyễn Văn Ánh", 912345678, "anh@minhphat.vn", "Minh Phát", "Facebook",
                 "Hà Nội", 12.0, "?"],
                [None] * 8,
                ["Trần Bích", 84987654321, None, None, "Giới thiệu", None, date(2026, 4, 30), None],
            ],
        )  # fmt: skip
        with read(path) as sheet:
            mapping = match_columns("lead", sheet.headers, None)
            records = [(n, record_from_row(mapping, row)) for n, row in sheet]
        assert mapping.unmapped == ["Cột lạ"]
        assert records == [
            (2, {"full_name": "Nguyễn Văn Ánh", "phone": "0912345678", "email": "anh@minhphat.vn",
                 "company_name": "Minh Phát", "source": "facebook", "province": "Hà Nội",
                 "notes": "12"}),
            (4, {"full_name": "Trần Bích", "phone": "+84987654321", "source": "referral",
                 "notes": "2026-04-30"}),
        ]  # fmt: skip
        for _, record in records:
            LeadCreate.model_validate(record)

    def test_contacts_and_accounts_from_csv(self, tmp_path: Path) -> None:
        contacts = write_csv(
            tmp_path / "c.csv", "Họ;Tên;Ngày sinh;Giới tính\nNguyễn;Ánh;30/04/1985;Nam\n", "utf-8"
        )
        with read(contacts) as sheet:
            mapping = match_columns("contact", sheet.headers, None)
            [(_, row)] = list(sheet)
        record = record_from_row(mapping, row)
        assert record["full_name"] == "Nguyễn Ánh"
        assert record["birthday"] == date(1985, 4, 30)
        assert ContactCreate.model_validate(record).gender == "male"

        accounts = write_csv(
            tmp_path / "a.csv",
            codecs.BOM_UTF8.decode() + "Tên công ty,Mã số thuế,Địa chỉ,Website\n"
            "Công ty TNHH Minh Phát,0312345678,12 Nguyễn Huệ,minhphat.vn\n",
            "utf-8",
        )
        with read(accounts) as sheet:
            mapping = match_columns("account", sheet.headers, None)
            [(_, row)] = list(sheet)
        account = AccountCreate.model_validate(record_from_row(mapping, row))
        assert (account.name, account.tax_code) == ("Công ty TNHH Minh Phát", "0312345678")


class TestMatchColumns:
    @pytest.mark.parametrize(
        ("header", "field"),
        [
            ("Họ và tên", "full_name"), ("HỌ TÊN", "full_name"), ("ho va ten", "full_name"),
            ("Tên khách hàng", "full_name"), ("SĐT", "phone"), ("sdt", "phone"),
            ("Số điện thoại", "phone"), ("Di Động", "phone"), ("E-mail:", "email"),
            ("Thư điện tử", "email"), ("CÔNG TY", "company_name"), ("Chức vụ", "title"),
            ("Nguồn", "source"), ("Tỉnh/Thành phố", "province"), ("tinh / thanh pho", "province"),
            ("Ghi chú", "notes"), ("Ngành nghề", "industry"), ("utm_campaign", "utm_campaign"),
        ],
    )  # fmt: skip
    def test_lead_headers_are_matched_in_any_spelling(self, header: str, field: str) -> None:
        mapping = match_columns("lead", [header], None)
        assert mapping.fields == {header: field}
        assert mapping.automatic == [header]

    def test_fields_a_resource_lacks_stay_unmapped_and_are_listed(self) -> None:
        headers = ["Họ và tên", "Ngày sinh", "Mã số thuế", "Địa chỉ", "Cột lạ"]
        lead = match_columns("lead", headers, None)
        assert lead.unmapped == ["Ngày sinh", "Mã số thuế", "Địa chỉ", "Cột lạ"]
        contact = match_columns("contact", headers, None)
        assert contact.fields == {"Họ và tên": "full_name", "Ngày sinh": "birthday"}
        account = match_columns("account", ["Tên công ty", "MST", "Địa chỉ", "Website"], None)
        assert account.fields == {
            "Tên công ty": "name", "MST": "tax_code", "Địa chỉ": "address", "Website": "website",
        }  # fmt: skip

    def test_the_first_column_claiming_a_field_wins(self) -> None:
        mapping = match_columns("lead", ["Tên", "Điện thoại", "Di động"], None)
        assert mapping.fields == {"Tên": "full_name", "Điện thoại": "phone"}
        assert mapping.unmapped == ["Di động"]

    def test_an_explicit_mapping_wins_and_null_skips_a_column(self) -> None:
        headers = ["Tên", "Điện thoại", "Di động", "Ghi chú"]
        mapping = match_columns("lead", headers, {"Di động": "phone", "Ghi chú": None})
        assert mapping.fields == {"Tên": "full_name", "Di động": "phone"}
        assert mapping.automatic == ["Tên"]
        assert mapping.unmapped == ["Điện thoại", "Ghi chú"]

    def test_a_mapping_naming_what_is_not_there_is_refused_naming_it(self) -> None:
        with pytest.raises(MappingInvalid) as caught:
            match_columns(
                "lead", ["Tên", "SĐT"], {"Tên": "birthday", "Fax": "phone", "SĐT": "full_name"}
            )
        assert caught.value.status == 422
        assert caught.value.extra["errors"] == [
            {"field": "mapping.Tên", "message": "a lead has no field 'birthday'"},
            {"field": "mapping.Fax", "message": "no such column in the file"},
        ]
        with pytest.raises(MappingInvalid, match="already filled by column 'Tên'"):
            match_columns("lead", ["Tên", "SĐT"], {"Tên": "phone", "SĐT": "phone"})

    def test_the_mapping_is_json_and_names_a_missing_required_field(self) -> None:
        mapping = match_columns("account", ["Email", "Điện thoại"], None)
        assert mapping.missing == ["name"]
        assert ColumnMapping.model_validate_json(mapping.model_dump_json()) == mapping

    def test_every_synonym_names_a_field_of_some_resource(self) -> None:
        every = set().union(*IMPORTABLE.values())
        for resource, table in LOOKUP.items():
            assert set(table.values()) <= IMPORTABLE[resource]
        assert set(columns._SHARED) <= every


class TestRecordFromRow:
    @pytest.mark.parametrize(
        ("cell", "phone"),
        [
            (912345678, "0912345678"), (912345678.0, "0912345678"), ("912345678", "0912345678"),
            (84912345678, "+84912345678"), (2838234567, "02838234567"),
            ("0912 345 678", "0912 345 678"), ("+84 912 345 678", "+84 912 345 678"),
        ],
    )  # fmt: skip
    def test_phones_excel_made_numbers_get_their_zero_back(self, cell: Any, phone: str) -> None:
        mapping = match_columns("contact", ["Tên", "SĐT"], None)
        assert record_from_row(mapping, {"Tên": "An", "SĐT": cell})["phone"] == phone

    def test_numbers_dates_and_blanks_in_other_fields(self) -> None:
        mapping = match_columns(
            "account", ["Tên", "MST", "Quy mô", "Ghi chú", "Loại", "Nhãn"], None
        )
        row = {"Tên": 2026.0, "MST": 312345678, "Quy mô": 50.5, "Ghi chú": None,
               "Loại": "Đối tác", "Nhãn": "đại lý; miền nam, đại lý"}  # fmt: skip
        assert record_from_row(mapping, row) == {
            "name": "2026", "tax_code": "0312345678", "size": "50.5", "type": "partner",
            "tags": ["đại lý", "miền nam"],
        }  # fmt: skip

    def test_dates_for_date_fields_and_iso_text_elsewhere(self) -> None:
        mapping = match_columns("contact", ["Tên", "Ngày sinh", "Chức vụ"], None)
        for cell in (datetime(1985, 4, 30), date(1985, 4, 30), "30/04/1985", "1985-04-30"):
            row = {"Tên": "An", "Ngày sinh": cell, "Chức vụ": date(2026, 1, 2)}
            record = record_from_row(mapping, row)
            assert record["birthday"] == date(1985, 4, 30)
            assert record["title"] == "2026-01-02"
        assert record_from_row(mapping, {"Tên": "An", "Ngày sinh": "tháng 4"})["birthday"] == (
            "tháng 4"  # left for the schema to refuse, naming the row
        )
