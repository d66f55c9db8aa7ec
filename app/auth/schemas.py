import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from app.auth.security import API_KEY_MARK
from app.core.schemas import Email, InputModel, Name, ReadModel
from app.users.schemas import Password, UserRead, WorkspaceRead


class SignupRequest(InputModel):
    example = {
        "workspace_name": "Minh Phát Auto",
        "email": "anh.nguyen@minhphat.vn",
        "password": "mật-khẩu-dài-123",
        "full_name": "Nguyễn Văn Ánh",
    }

    workspace_name: Name
    email: Email
    password: Password
    full_name: Name


class Token(BaseModel):
    access_token: str = Field(examples=["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…"])
    token_type: Literal["bearer"]


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


class ApiKeyList(BaseModel):
    data: list[ApiKeyRead]
