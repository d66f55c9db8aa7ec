import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.auth.security import API_KEY_MARK
from app.core.pagination import Sortable, SortedQuery
from app.core.schemas import InputModel, LoginEmail, Name, ReadModel
from app.users.schemas import Password, UserRead, WorkspaceRead


class SignupRequest(InputModel):
    example = {
        "workspace_name": "Minh Phát Auto",
        "email": "anh.nguyen@minhphat.vn",
        "password": "mật-khẩu-dài-123",
        "full_name": "Nguyễn Văn Ánh",
    }

    workspace_name: Name
    email: LoginEmail
    password: Password
    full_name: Name


class LoginForm(BaseModel):
    """The OAuth2 password form, plus the workspace to sign in to."""

    model_config = ConfigDict(extra="ignore")  # OAuth2 clients also send scope, client_id…

    grant_type: Annotated[str, StringConstraints(pattern="^password$")] | None = None
    username: Annotated[str, StringConstraints(max_length=320)] = Field(description="Your email.")
    password: Annotated[str, StringConstraints(max_length=1024)] = Field(
        json_schema_extra={"format": "password"}
    )
    workspace: uuid.UUID | None = Field(
        None,
        description="The workspace to sign in to, when your email has an account in several. "
        "Without it: the one you used last.",
    )


class WorkspaceName(ReadModel):
    id: uuid.UUID
    name: str


class Token(BaseModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…"])
    token_type: Literal["bearer"]
    workspace: WorkspaceName = Field(description="The workspace this token is for.")
    other_workspaces: list[WorkspaceName] = Field(
        description="The other workspaces where this email has an account: send one's id as "
        "`workspace` (with that account's password) to sign in there instead."
    )


class InvitationAccept(InputModel):
    example = {"token": "inv_3f2a9c01b7de_l8J2…", "password": "mật-khẩu-dài-123"}

    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    password: Password


class PasswordChange(InputModel):
    example = {"current_password": "mật-khẩu-cũ-123", "new_password": "mật-khẩu-mới-456"}

    current_password: Annotated[str, StringConstraints(max_length=1024)]
    new_password: Password


class SignupRead(BaseModel):
    workspace: WorkspaceRead
    user: UserRead
    access_token: str
    token_type: Literal["bearer"]


class ApiKeyCreate(InputModel):
    example = {"name": "Website form sync"}

    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]


class ApiKeyRead(ReadModel):
    example = {
        "id": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
        "name": "Website form sync",
        "prefix": "sen_3f9a1c2b7d4e",
        "user_id": "01936f4e-0000-7c3d-9e2f-1a2b3c4d5e6f",
        "created_at": "2026-11-23T04:00:00Z",
        "last_used_at": None,
        "revoked_at": None,
    }

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @field_validator("prefix")
    @classmethod
    def _as_the_key_begins(cls, prefix: str) -> str:
        # Stored without the mark every key starts with; shown as the key begins.
        return prefix if prefix.startswith(API_KEY_MARK) else f"{API_KEY_MARK}{prefix}"


class ApiKeyCreated(ApiKeyRead):
    """The only time the full key is shown: store it now."""

    example = {**(ApiKeyRead.example or {}), "key": "sen_3f9a1c2b7d4e_Jq9…"}

    key: str


class ApiKeyQuery(SortedQuery):
    sort: Annotated[str, Sortable("created_at")] = "-created_at"
