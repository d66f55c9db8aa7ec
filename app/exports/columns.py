"""What can be exported: the records, their columns, and each column's header in English or
Vietnamese."""

from typing import Any

from app.accounts.service import ACCOUNTS
from app.contacts.service import CONTACTS
from app.core.records import Resource
from app.deals.service import DEALS
from app.leads.service import LEADS

RESOURCES: dict[str, Resource[Any, Any]] = {
    "lead": LEADS,
    "contact": CONTACTS,
    "account": ACCOUNTS,
    "deal": DEALS,
}
CUSTOM_PREFIX = "custom_fields."

_VI = {
    "id": "Mã",
    "full_name": "Họ và tên",
    "first_name": "Tên",
    "last_name": "Họ",
    "name": "Tên",
    "company_name": "Công ty",
    "title": "Chức vụ",
    "email": "Email",
    "phone": "Số điện thoại",
    "phone_e164": "Số điện thoại (E.164)",
    "status": "Trạng thái",
    "source": "Nguồn",
    "qualification": "Mức độ đánh giá",
    "score": "Điểm",
    "industry": "Ngành nghề",
    "province": "Tỉnh/Thành phố",
    "owner_id": "Người phụ trách",
    "tags": "Thẻ",
    "campaign_id": "Chiến dịch",
    "form_id": "Biểu mẫu",
    "submission_id": "Lượt gửi",
    "custom_fields": "Trường tùy chỉnh",
    "notes": "Ghi chú",
    "version": "Phiên bản",
    "created_at": "Ngày tạo",
    "updated_at": "Ngày cập nhật",
    "deleted_at": "Ngày xóa",
    "converted_account_id": "Chuyển thành công ty",
    "converted_contact_id": "Chuyển thành người liên hệ",
    "converted_deal_id": "Chuyển thành cơ hội",
    "converted_at": "Ngày chuyển đổi",
    "type": "Loại",
    "tax_code": "Mã số thuế",
    "size": "Quy mô",
    "website": "Website",
    "address": "Địa chỉ",
    "parent_id": "Công ty mẹ",
    "birthday": "Ngày sinh",
    "gender": "Giới tính",
    "do_not_contact": "Không liên hệ",
    "account_id": "Công ty",
    "contact_id": "Người liên hệ",
    "pipeline_id": "Quy trình bán hàng",
    "stage_id": "Giai đoạn",
    "amount": "Giá trị",
    "currency": "Tiền tệ",
    "probability": "Xác suất (%)",
    "expected_close_date": "Ngày dự kiến chốt",
    "closed_at": "Ngày đóng",
    "lost_reason": "Lý do thất bại",
    "source_lead_id": "Lead gốc",
}
_EN = {"id": "ID", "phone_e164": "Phone (E.164)"}


def record_columns(resource: Resource[Any, Any]) -> list[str]:
    """The resource's own columns, in its read model's order: the default selection."""
    return [column.name for column in resource.listed]


def header(column: str, lang: str, custom_labels: dict[str, str]) -> str:
    """A column's header: a custom field's label, else the column's name in `lang` (English
    for a name with no Vietnamese one, such as the UTM fields)."""
    if column.startswith(CUSTOM_PREFIX):
        return custom_labels.get(column.removeprefix(CUSTOM_PREFIX), column)
    if lang == "vi" and column in _VI:
        return _VI[column]
    if column in _EN:
        return _EN[column]
    if column.startswith("utm_"):
        return "UTM " + column.removeprefix("utm_")
    return column.replace("_", " ").capitalize().replace(" id", " ID")
