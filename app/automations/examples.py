"""The workflows every workspace starts with, switched off: a birthday email to contacts, a
task when a new lead is left untouched, a thank-you when a deal is won (with their templates).
Migration 0025 gave them to the workspaces that existed before."""

from typing import Any

from app.automations.models import Automation
from app.core.context import Ctx
from app.core.search import search_text
from app.emails import service as emails

BIRTHDAY_TEMPLATE = {
    "name": "Chúc mừng sinh nhật",
    "subject": "Chúc mừng sinh nhật {{ contact.full_name }}!",
    "body_html": (
        "<p>Kính gửi {{ contact.full_name }},</p>"
        "<p>Nhân ngày sinh nhật, chúc anh/chị một năm mới nhiều sức khỏe, niềm vui và thành "
        "công.</p><p>Trân trọng,<br>{{ owner.full_name }}</p>"
    ),
    "body_text": (
        "Kính gửi {{ contact.full_name }},\n\nNhân ngày sinh nhật, chúc anh/chị một năm mới "
        "nhiều sức khỏe, niềm vui và thành công.\n\nTrân trọng,\n{{ owner.full_name }}"
    ),
}
THANKS_TEMPLATE = {
    "name": "Cảm ơn khách hàng",
    "subject": "Cảm ơn {{ contact.full_name }} đã tin chọn chúng tôi",
    "body_html": (
        "<p>Kính gửi {{ contact.full_name }},</p>"
        "<p>Cảm ơn anh/chị đã tin chọn chúng tôi cho “{{ deal.name }}”. Chúng tôi luôn sẵn "
        "sàng hỗ trợ.</p><p>Trân trọng,<br>{{ owner.full_name }}</p>"
    ),
    "body_text": (
        "Kính gửi {{ contact.full_name }},\n\nCảm ơn anh/chị đã tin chọn chúng tôi cho "
        "“{{ deal.name }}”. Chúng tôi luôn sẵn sàng hỗ trợ.\n\nTrân trọng,\n{{ owner.full_name }}"
    ),
}


def examples(birthday_template: str, thanks_template: str) -> list[dict[str, Any]]:
    """The three examples, their templates' ids given (as text: JSON holds them)."""
    return [
        {
            "name": "Chúc mừng sinh nhật",
            "resource": "contact",
            "trigger": {"type": "date", "field": "birthday", "offset_days": 0,
                        "time": "08:00:00", "yearly": True},
            "conditions": {"all": None, "any": None},
            "actions": [{"type": "send_email", "template_id": birthday_template, "to": "record",
                         "address": None}],
        },
        {
            "name": "Nhắc lead mới chưa liên hệ",
            "resource": "lead",
            "trigger": {"type": "event", "event": "lead.created", "field": None, "to": None},
            "conditions": {"all": [{"field": "status", "op": "eq", "value": "new"}], "any": None},
            "actions": [
                {"type": "wait", "duration": "2h"},
                {"type": "create_activity", "activity_type": "task",
                 "subject": "Gọi lead mới chưa liên hệ", "due_in": "1h"},
            ],
        },
        {
            "name": "Deal thắng → cảm ơn khách hàng",
            "resource": "deal",
            "trigger": {"type": "event", "event": "deal.won", "field": None, "to": None},
            "conditions": {"all": None, "any": None},
            "actions": [{"type": "send_email", "template_id": thanks_template, "to": "record",
                         "address": None}],
        },
    ]  # fmt: skip


def seed_examples(ctx: Ctx) -> None:
    """The examples and their templates, switched off, for a new workspace; the caller commits."""
    birthday = emails.seed_template(ctx, **BIRTHDAY_TEMPLATE)
    thanks = emails.seed_template(ctx, **THANKS_TEMPLATE)
    for example in examples(str(birthday), str(thanks)):
        event = example["trigger"].get("event")
        ctx.session.add(
            Automation(
                workspace_id=ctx.workspace_id, active=False, trigger_event=event,
                next_fire_at=None, search_text=search_text(example["name"]), **example,
            )
        )  # fmt: skip
