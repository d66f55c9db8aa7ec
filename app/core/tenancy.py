"""The tenant root. Tenancy is core infrastructure, not a domain: row-level security keys on the
workspace, the caller's check reads its settings version, caps lock its row and jobs fan out
over it. Creating one (with its seeded settings and owner) is the workspaces domain's use case."""

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.models import Base, utcnow


class Workspace(Base):
    """The tenant root: every tenant table's rows belong to exactly one workspace."""

    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    default_currency: Mapped[str] = mapped_column(String(3), default="VND")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped by every change to the workspace's settings (lead statuses, custom fields), so a
    # process can keep them cached and know, from the caller's row, when they are stale.
    settings_version: Mapped[int] = mapped_column(default=0)
