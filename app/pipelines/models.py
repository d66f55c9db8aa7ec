import uuid

from sqlalchemy import Boolean, Index, SmallInteger, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import (
    Base,
    SoftDeleteMixin,
    TenantMixin,
    TimestampMixin,
    VersionedMixin,
    tenant_fk,
)


class Pipeline(TenantMixin, TimestampMixin, SoftDeleteMixin, VersionedMixin, Base):
    """One line of business's sales stages, in order (e.g. car sales, accessories, service)."""

    __tablename__ = "pipelines"
    __table_args__ = (
        # One default pipeline per workspace: where a deal goes when none is named.
        Index(
            "uq_pipelines_default",
            "workspace_id",
            unique=True,
            postgresql_where=text("is_default AND deleted_at IS NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(120))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # Every stage, retired ones included, in order; load with joinedload(Pipeline.stages).
    stages: Mapped[list["Stage"]] = relationship(
        lazy="raise",
        order_by="Stage.position, Stage.id",
        primaryjoin="and_(Pipeline.workspace_id == Stage.workspace_id,"
        " Pipeline.id == Stage.pipeline_id)",
        foreign_keys="[Stage.workspace_id, Stage.pipeline_id]",
    )


class Stage(TenantMixin, TimestampMixin, Base):
    """A step of a pipeline; its `kind` (open, won, lost) decides a deal's status there."""

    __tablename__ = "pipeline_stages"
    __table_args__ = (
        tenant_fk(["pipeline_id"], "pipelines"),
        # What a deal's (pipeline_id, stage_id) references: a stage of that very pipeline.
        UniqueConstraint("workspace_id", "pipeline_id", "id"),
    )

    pipeline_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str | None] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(SmallInteger)
    probability: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(8))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
