import uuid
from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import (
    Base,
    RecordMixin,
    TenantMixin,
    TimestampMixin,
    referring_index,
    tenant_fk,
)


class EmailTemplate(RecordMixin, Base):
    """A subject and an HTML and a text body with Jinja2 variables (`{{ contact.full_name }}`),
    checked when saved and rendered in a sandbox for one record."""

    __tablename__ = "email_templates"
    __table_args__ = (
        Index("ix_email_templates_recent", "workspace_id", "created_at", "id"),
        Index("ix_email_templates_name", "workspace_id", "name", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")


class MailSettings(TenantMixin, TimestampMixin, Base):
    """The workspace's SMTP server (one row a workspace): where its emails leave from, the
    account's password (never read back), the send rate the account allows, and the outcome
    of the last check."""

    __tablename__ = "mail_settings"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(8))  # none, starttls, tls
    username: Mapped[str | None] = mapped_column(String(255))
    password: Mapped[str | None] = mapped_column(String(500))
    from_email: Mapped[str] = mapped_column(String(254))
    from_name: Mapped[str | None] = mapped_column(String(200))
    per_minute: Mapped[int] = mapped_column(Integer, default=60)
    version: Mapped[int] = mapped_column(Integer, default=1)
    check_status: Mapped[str | None] = mapped_column(String(8))  # checking, ok, failed
    check_error: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None]


class Email(TenantMixin, TimestampMixin, Base):
    """One email to one recipient about one record, as rendered when it was asked for, and
    what became of it. Its `email` activity is what the record's timeline shows."""

    __tablename__ = "emails"
    __table_args__ = (
        tenant_fk(["template_id"], "email_templates"),
        referring_index("emails", "template_id"),
        tenant_fk(["activity_id"], "activities"),
        referring_index("emails", "activity_id", nullable=False),
        Index("ix_emails_record", "workspace_id", "record_type", "record_id", "created_at"),
        # The sweep's question: which emails still wait for a worker.
        Index(
            "ix_emails_waiting",
            "workspace_id",
            "next_attempt_at",
            postgresql_where=text("status = 'queued'"),
        ),
    )

    record_type: Mapped[str] = mapped_column(String(8))  # contact, deal
    record_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID | None]  # the recipient, whose do_not_contact is obeyed
    template_id: Mapped[uuid.UUID | None]
    activity_id: Mapped[uuid.UUID]
    requested_by: Mapped[uuid.UUID | None]  # null: the system (an automation)
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    to_email: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    # `<id@sender's domain>`, fixed when queued: a resend after a lost commit is recognisable.
    message_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(8), default="queued")  # queued, sent, failed
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
