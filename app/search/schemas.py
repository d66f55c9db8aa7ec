import uuid
from typing import Annotated, Literal

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field

from app.core.schemas import reject_nul


class SearchQuery(BaseModel):
    q: Annotated[str, AfterValidator(reject_nul)] = Field(
        min_length=1,
        max_length=200,
        description="Words to find, in any case, with or without accents.",
    )
    limit: int = Field(20, ge=1, le=50, description="How many, 1–50.")


SearchQueryParams = Annotated[SearchQuery, Query()]


class SearchHit(BaseModel):
    type: Literal["lead", "contact", "account", "deal"]
    id: uuid.UUID
    title: str = Field(description="The name to show.")
    subtitle: str | None = Field(description="A second line: company, email, tax code, status.")


class SearchResults(BaseModel):
    data: list[SearchHit] = Field(description="Best match first.")
