import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from app.core.context import Role
from app.core.schemas import Email, InputModel, Name, PatchModel, ReadModel

Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
TeamName = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class UserCreate(InputModel):
    example = {
        "email": "lan.tran@minhphat.vn",
        "full_name": "Trần Thị Lan",
        "password": "mật-khẩu-dài-123",
        "role": "sales",
        "team_id": None,
    }

    email: Email
    full_name: Name
    password: Password
    role: Role = Role.sales
    team_id: uuid.UUID | None = None
    is_active: StrictBool = True


class UserUpdate(PatchModel):
    example = {"role": "manager", "team_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f"}

    email: Email = None  # type: ignore[assignment]
    full_name: Name = None  # type: ignore[assignment]
    password: Password = None  # type: ignore[assignment]
    role: Role = None  # type: ignore[assignment]
    team_id: uuid.UUID | None = None
    is_active: StrictBool = None  # type: ignore[assignment]


class UserRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "email": "lan.tran@minhphat.vn",
        "full_name": "Trần Thị Lan",
        "role": "sales",
        "team_id": None,
        "is_active": True,
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
        "updated_at": "2026-11-23T04:00:00Z",
    }

    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    team_id: uuid.UUID | None
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class UserList(BaseModel):
    data: list[UserRead]


class TeamCreate(InputModel):
    example = {"name": "Kinh doanh Hà Nội", "manager_id": None}

    name: TeamName
    manager_id: uuid.UUID | None = Field(
        None, description="A manager who sees this team's records."
    )


class TeamUpdate(PatchModel):
    example = {"name": "Kinh doanh miền Bắc"}

    name: TeamName = None  # type: ignore[assignment]
    manager_id: uuid.UUID | None = None


class TeamRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "name": "Kinh doanh Hà Nội",
        "manager_id": None,
        "version": 1,
        "created_at": "2026-11-23T04:00:00Z",
    }

    id: uuid.UUID
    name: str
    manager_id: uuid.UUID | None
    version: int
    created_at: datetime


class TeamList(BaseModel):
    data: list[TeamRead]


class WorkspaceRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "name": "Minh Phát Auto",
        "default_currency": "VND",
        "timezone": "Asia/Ho_Chi_Minh",
    }

    id: uuid.UUID
    name: str
    default_currency: str
    timezone: str


class MeRead(ReadModel):
    user: UserRead
    workspace: WorkspaceRead
    visible_owner_ids: list[uuid.UUID] | None = Field(
        description="Whose records you see; null means everyone's in the workspace."
    )


class CalendarToken(ReadModel):
    example = {
        "token": "cal_3f2a9c01b7de_l8J2…",
        "feed_url": "https://crm.example.vn/api/v1/calendar.ics?token=cal_3f2a9c01b7de_l8J2…",
    }

    token: str = Field(description="Shown once: keep it like a password.")
    feed_url: str = Field(
        description="Subscribe to this in a calendar app (Google, Apple, Outlook).",
        examples=["https://crm.example.vn/api/v1/calendar.ics?token=cal_3f2a…"],
    )
