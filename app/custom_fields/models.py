from typing import Any

from sqlalchemy import Boolean, SmallInteger, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, TenantMixin, TimestampMixin, VersionedMixin


class CustomFieldDefinition(TenantMixin, TimestampMixin, VersionedMixin, Base):
    """An admin-declared extra field of one resource; records keep values in `custom_fields`."""

    __tablename__ = "custom_field_definitions"
    __table_args__ = (UniqueConstraint("workspace_id", "resource", "key"),)

    resource: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(12))
    options: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
