import uuid
from datetime import datetime
from typing import Annotated

from pydantic import MISSING, AfterValidator, Field, StringConstraints

from app.auth.password_policy import MAX_LENGTH, MIN_LENGTH, password_problem
from app.core.context import Role
from app.core.pagination import Sortable, SortedQuery
from app.core.schemas import InputModel, LoginEmail, Name, PatchModel, ReadModel


def _acceptable(password: str) -> str:
    if problem := password_problem(password):
        raise ValueError(problem)
    return password


Password = Annotated[
    str,
    StringConstraints(min_length=MIN_LENGTH, max_length=MAX_LENGTH),
    AfterValidator(_acceptable),
    Field(
        description=f"{MIN_LENGTH}–{MAX_LENGTH} characters; not only spaces, not one of the "
        "most common passwords, not the email."
    ),
]


TeamName = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class UserCreate(InputModel):
    example = {
        "email": "lan.tran@minhphat.vn",
        "full_name": "Trần Thị Lan",
        "password": "mật-khẩu-dài-123",
        "role": "sales",
        "team_id": None,
    }

    email: LoginEmail
    full_name: Name
    password: Password | None = Field(
        None,
        description="Omit it to invite the user: an owner or admin then issues a one-time link "
        "(`POST /users/{id}/invitation`) with which they choose their own. API keys can't set it.",
    )
    role: Role = Field(Role.sales, description="API keys can only add `sales` users.")
    team_id: uuid.UUID | None = None
    is_active: bool = True


class UserUpdate(PatchModel):
    example = {"role": "manager", "team_id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f"}

    email: LoginEmail | MISSING = Field(MISSING, description="API keys can't change it.")
    full_name: Name | MISSING = MISSING
    password: Password | MISSING = Field(MISSING, description="API keys can't set it.")
    role: Role | MISSING = Field(MISSING, description="API keys can't change it.")
    team_id: uuid.UUID | MISSING | None = MISSING
    is_active: bool | MISSING = Field(
        MISSING,
        description="`false` signs the user out everywhere for good: their tokens, API keys, "
        "calendar feed and invitation stop working and stay so if they are activated again.",
    )


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
        "has_password": True,
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
    has_password: bool = Field(
        description="False for an invited user who hasn't chosen a password yet."
    )


class UserQuery(SortedQuery):
    sort: Annotated[str, Sortable("full_name", "created_at")] = "full_name"


class Invitation(ReadModel):
    example = {"token": "inv_3f2a9c01b7de_l8J2…", "expires_at": "2026-12-09T04:00:00Z"}

    token: str = Field(
        description="Shown once. Put it in a link to your app's page that sends it, with the "
        "password the user chooses, to `POST /auth/accept-invitation`."
    )
    expires_at: datetime


class TeamCreate(InputModel):
    example = {"name": "Kinh doanh Hà Nội", "manager_id": None}

    name: TeamName
    manager_id: uuid.UUID | None = Field(
        None, description="A manager who sees this team's records."
    )


class TeamUpdate(PatchModel):
    example = {"name": "Kinh doanh miền Bắc"}

    name: TeamName | MISSING = MISSING
    manager_id: uuid.UUID | MISSING | None = MISSING


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


class TeamQuery(SortedQuery):
    sort: Annotated[str, Sortable("name", "created_at")] = "name"


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
